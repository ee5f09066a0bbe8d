/**
 * Roles before data: the backup's pg_dumpall `--roles-only` script run statement by statement
 * into the target, and whether the restoring user can act as the archive's owners (so owners and
 * grants can be kept).
 */
import type { ClientBase } from 'pg';
import { quoteIdent } from './inventory';
import type { TargetInfo } from './restore-target';

export interface RoleStatementFailure {
  readonly statement: string;
  readonly error: string;
  readonly code?: string;
}

export interface RolesResult {
  readonly attempted: boolean;
  /** Why roles were not restored (no globals file, option off). */
  readonly reason?: string;
  readonly statements: number;
  readonly applied: number;
  /** Roles that already existed in the target (CREATE ROLE failed with duplicate_object). */
  readonly alreadyExisted: readonly string[];
  /** Statements about the restoring user itself, never run (they could lock it out). */
  readonly skipped: readonly string[];
  readonly failed: readonly RoleStatementFailure[];
}

/**
 * Splits a pg_dumpall script into statements: semicolons outside quotes end a statement; `--`
 * comments and psql meta-commands (`\restrict`, `\connect`) are dropped.
 */
export function splitSqlStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  let lineStart = true;
  while (i < sql.length) {
    const ch = sql[i];
    if (lineStart && current.trim() === '' && ch === '\\') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    lineStart = false;
    if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch) {
          if (sql[j + 1] === ch) j += 2;
          else break;
        } else j++;
      }
      current += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    if (ch === '\n') lineStart = true;
    current += ch;
    i++;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** The role a `CREATE ROLE` / `ALTER ROLE` / `COMMENT ON ROLE` statement is about, unquoted. */
export function roleOfStatement(statement: string): string | undefined {
  const m = /^(?:CREATE|ALTER)\s+(?:ROLE|USER)\s+("(?:[^"]|"")+"|[^\s;]+)/i.exec(statement);
  if (!m) return undefined;
  const ident = m[1];
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase();
}

const redactPasswords = (statement: string) =>
  statement.replace(/PASSWORD\s+'(?:[^']|'')*'/gi, "PASSWORD '***'").slice(0, 300);

/**
 * Runs a pg_dumpall `--roles-only` script statement by statement. A role that already exists is
 * fine (recorded); any other failure is recorded and the rest still runs. Statements about the
 * connected user are skipped: `ALTER ROLE <me> NOLOGIN` from a source where the name meant
 * someone else would lock the restore out.
 */
export async function restoreRoles(
  client: ClientBase,
  sql: string,
  currentUser: string,
): Promise<RolesResult> {
  const statements = splitSqlStatements(sql);
  let applied = 0;
  const alreadyExisted: string[] = [];
  const skipped: string[] = [];
  const failed: RoleStatementFailure[] = [];
  for (const statement of statements) {
    const role = roleOfStatement(statement);
    if (role !== undefined && role === currentUser) {
      skipped.push(redactPasswords(statement));
      continue;
    }
    try {
      await client.query(statement);
      applied++;
    } catch (e) {
      const err = e as { code?: string; message: string };
      if (err.code === '42710' && /^CREATE\s+ROLE/i.test(statement) && role !== undefined) {
        alreadyExisted.push(role);
      } else {
        failed.push({
          statement: redactPasswords(statement),
          error: err.message,
          ...(err.code ? { code: err.code } : {}),
        });
      }
    }
  }
  return { attempted: true, statements: statements.length, applied, alreadyExisted, skipped, failed };
}

/**
 * Owners can be kept only when every owner role exists and the restoring user can act as it
 * (superuser, or member). A non-superuser (RDS master user) that created the roles may grant
 * itself membership, which we try once per role.
 */
export async function ownersUsable(
  client: ClientBase,
  owners: readonly string[],
  info: TargetInfo,
): Promise<{ ok: boolean; reason?: string }> {
  if (info.superuser || owners.length === 0) return { ok: true };
  const check = async () =>
    (
      await client.query<{ owner: string; rolname: string | null; member: boolean | null }>(
        `SELECT o AS owner, r.rolname, pg_has_role(current_user, r.oid, 'MEMBER') AS member
         FROM unnest($1::text[]) o LEFT JOIN pg_roles r ON r.rolname = o`,
        [owners],
      )
    ).rows;
  for (const r of await check()) {
    if (r.rolname !== null && !r.member) {
      // The name comes from pg_roles (the catalog), quoted; never from the archive or input.
      await client.query(`GRANT ${quoteIdent(r.rolname)} TO CURRENT_USER`).catch(() => undefined);
    }
  }
  const missing = (await check()).filter((r) => r.rolname === null || !r.member).map((r) => r.owner);
  if (missing.length === 0) return { ok: true };
  return {
    ok: false,
    reason: `cannot act as owner role(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
  };
}

/** Roles were not restored, and why. */
export const rolesNotAttempted = (reason: string): RolesResult => ({
  attempted: false,
  reason,
  statements: 0,
  applied: 0,
  alreadyExisted: [],
  skipped: [],
  failed: [],
});
