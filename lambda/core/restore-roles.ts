/**
 * Roles before data: the roles of the backup's roles file (parsed by restore-roles-script.ts)
 * created in the target when missing, with the attributes the restoring user may set; memberships
 * between them; and whether the restoring user can act as the archive's owners (so owners and
 * grants can be kept).
 *
 * Built for the admin managed services hand out (RDS master user, Supabase `postgres`):
 * CREATEROLE + CREATEDB, not superuser. Rules:
 * - a role that exists is never altered (reported `existing`): on a shared cluster its attributes
 *   are someone else's decision;
 * - a missing role is created with LOGIN, INHERIT, CONNECTION LIMIT and VALID UNTIL as archived,
 *   CREATEDB / CREATEROLE only when the restorer has them, SUPERUSER / REPLICATION / BYPASSRLS
 *   only when the restorer is superuser; what was left out is named per role;
 * - memberships are granted when missing (WITH ADMIN OPTION as archived, when allowed). On
 *   PostgreSQL 16+ a non-superuser needs ADMIN OPTION on the granted role: it has it on the roles
 *   it created itself, not on pre-existing ones (reported per membership);
 * - passwords are never in the archive (docs/RUNBOOK.md: "Role passwords").
 */
import type { ClientBase } from 'pg';
import { quoteIdent } from './inventory';
import {
  parseRolesScript,
  splitSqlStatements,
  type ArchivedMembership,
  type ArchivedRole,
} from './restore-roles-script';
import type { TargetInfo } from './restore-target';

export { parseRolesScript, roleOfStatement, splitSqlStatements } from './restore-roles-script';
export type { ArchivedMembership, ArchivedRole, RolesScript } from './restore-roles-script';

export interface RoleStatementFailure {
  readonly statement: string;
  readonly error: string;
  readonly code?: string;
}

export interface RoleOutcome {
  readonly name: string;
  /** created: by this restore; existing: left exactly as it was; skipped/failed: see reason. */
  readonly status: 'created' | 'existing' | 'skipped' | 'failed';
  /** Whether the archived role could log in. */
  readonly login: boolean;
  readonly reason?: string;
  /** Archived attributes this restorer may not set (e.g. SUPERUSER), left off the created role. */
  readonly dropped?: readonly string[];
}

export interface MembershipOutcome {
  readonly role: string;
  readonly member: string;
  readonly admin: boolean;
  readonly status: 'granted' | 'existing' | 'skipped' | 'failed';
  readonly reason?: string;
}

export interface RolesResult {
  readonly attempted: boolean;
  /** Why roles were not restored (no globals file, option off). */
  readonly reason?: string;
  /** Statements in the roles file. */
  readonly statements: number;
  /** Statements run successfully (CREATE ROLE, GRANT, COMMENT, ALTER ROLE SET). */
  readonly applied: number;
  /** Roles that already existed in the target (left as they were). */
  readonly alreadyExisted: readonly string[];
  /** `ROLE name: why`, for roles not created (the restoring user itself, reserved names). */
  readonly skipped: readonly string[];
  readonly failed: readonly RoleStatementFailure[];
  /** Per role: what was applied or skipped and why. */
  readonly roles: readonly RoleOutcome[];
  readonly memberships: readonly MembershipOutcome[];
  /** Who restored, with what power (decides what could be applied). */
  readonly restorer?: {
    readonly name: string;
    readonly superuser: boolean;
    readonly createRole: boolean;
    readonly createDb: boolean;
  };
}

interface Restorer {
  readonly name: string;
  readonly superuser: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly serverMajor: number;
}

async function loadRestorer(client: ClientBase): Promise<Restorer> {
  const { rows } = await client.query<{ n: string; s: boolean; cr: boolean; cd: boolean; v: string }>(
    `SELECT rolname AS n, rolsuper AS s, rolcreaterole AS cr, rolcreatedb AS cd,
            current_setting('server_version_num') AS v
     FROM pg_roles WHERE rolname = current_user`,
  );
  const r = rows[0];
  return {
    name: r.n,
    superuser: r.s,
    createRole: r.cr,
    createDb: r.cd,
    serverMajor: Math.floor(Number(r.v) / 10000),
  };
}

/** The CREATE ROLE for an archived role, and the attributes this restorer may not set. */
export function createRoleSql(
  role: ArchivedRole,
  restorer: Pick<Restorer, 'superuser' | 'createRole' | 'createDb'>,
): { sql: string; dropped: string[] } {
  const options: string[] = [role.login ? 'LOGIN' : 'NOLOGIN', role.inherit ? 'INHERIT' : 'NOINHERIT'];
  const dropped: string[] = [];
  const maybe = (wanted: boolean, allowed: boolean, keyword: string) => {
    if (!wanted) return;
    if (allowed) options.push(keyword);
    else dropped.push(keyword);
  };
  maybe(role.createDb, restorer.superuser || restorer.createDb, 'CREATEDB');
  maybe(role.createRole, restorer.superuser || restorer.createRole, 'CREATEROLE');
  maybe(role.superuser, restorer.superuser, 'SUPERUSER');
  maybe(role.replication, restorer.superuser, 'REPLICATION');
  maybe(role.bypassRls, restorer.superuser, 'BYPASSRLS');
  if (role.connectionLimit >= 0) options.push(`CONNECTION LIMIT ${Math.floor(role.connectionLimit)}`);
  if (role.validUntil !== undefined) options.push(`VALID UNTIL '${role.validUntil.replace(/'/g, "''")}'`);
  return { sql: `CREATE ROLE ${quoteIdent(role.name)} WITH ${options.join(' ')}`, dropped };
}

/**
 * Creates the roles of a pg_dumpall `--roles-only` script that the target lacks, then the
 * memberships; never alters a role that exists. Statements about the connected user are never
 * run: `ALTER ROLE <me> NOLOGIN` from a source where the name meant someone else would lock the
 * restore out.
 */
export async function restoreRoles(client: ClientBase, sql: string): Promise<RolesResult> {
  const script = parseRolesScript(sql);
  const restorer = await loadRestorer(client);
  const existing = new Set(
    (await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname),
  );
  const roles: RoleOutcome[] = [];
  const failed: RoleStatementFailure[] = [];
  let applied = 0;
  const run = async (statement: string): Promise<string | undefined> => {
    try {
      await client.query(statement);
      applied++;
      return undefined;
    } catch (e) {
      const err = e as { code?: string; message: string };
      failed.push({
        statement: statement.slice(0, 300),
        error: err.message,
        ...(err.code ? { code: err.code } : {}),
      });
      return err.message;
    }
  };

  for (const role of script.roles) {
    const base = { name: role.name, login: role.login };
    if (role.name === restorer.name) {
      roles.push({ ...base, status: 'skipped', reason: 'the restoring user itself: never altered' });
    } else if (existing.has(role.name)) {
      roles.push({ ...base, status: 'existing', reason: 'already exists: left as it was, not altered' });
    } else if (/^pg_/.test(role.name)) {
      roles.push({
        ...base,
        status: 'skipped',
        reason: 'reserved name (pg_*): not available on this server',
      });
    } else if (!restorer.superuser && !restorer.createRole) {
      roles.push({
        ...base,
        status: 'failed',
        reason: `${restorer.name} has neither SUPERUSER nor CREATEROLE`,
      });
    } else {
      const { sql: create, dropped } = createRoleSql(role, restorer);
      const error = await run(create);
      if (error) {
        roles.push({ ...base, status: 'failed', reason: error });
        continue;
      }
      existing.add(role.name);
      // Comment and settings of a role we created; the text after IS / SET is the archive's SQL.
      const notes: string[] = [];
      if (role.commentSql !== undefined) {
        const e = await run(`COMMENT ON ROLE ${quoteIdent(role.name)} IS ${role.commentSql}`);
        if (e) notes.push(`comment not set: ${e}`);
      }
      for (const setting of role.settingsSql) {
        const e = await run(`ALTER ROLE ${quoteIdent(role.name)} ${setting}`);
        if (e) notes.push(`${setting.slice(0, 80)} not applied: ${e}`);
      }
      roles.push({
        ...base,
        status: 'created',
        ...(dropped.length > 0 ? { dropped } : {}),
        ...(dropped.length > 0 || notes.length > 0
          ? {
              reason: [
                ...(dropped.length > 0
                  ? [`${dropped.join(', ')} left off: ${restorer.name} may not grant it`]
                  : []),
                ...notes,
              ].join('; '),
            }
          : {}),
      });
    }
  }

  const memberships = await restoreMemberships(client, script.memberships, existing, restorer, run);
  return {
    attempted: true,
    statements: splitSqlStatements(sql).length,
    applied,
    alreadyExisted: roles.filter((r) => r.status === 'existing').map((r) => r.name),
    skipped: roles.filter((r) => r.status === 'skipped').map((r) => `ROLE ${r.name}: ${r.reason}`),
    failed,
    roles,
    memberships,
    restorer: {
      name: restorer.name,
      superuser: restorer.superuser,
      createRole: restorer.createRole,
      createDb: restorer.createDb,
    },
  };
}

async function restoreMemberships(
  client: ClientBase,
  archived: readonly ArchivedMembership[],
  existing: ReadonlySet<string>,
  restorer: Restorer,
  run: (statement: string) => Promise<string | undefined>,
): Promise<MembershipOutcome[]> {
  const { rows } = await client.query<{ r: string; m: string }>(
    `SELECT r.rolname AS r, m.rolname AS m FROM pg_auth_members a
     JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member`,
  );
  const present = new Set(rows.map((x) => `${x.r}\u0000${x.m}`));
  const out: MembershipOutcome[] = [];
  for (const g of archived) {
    const base = { role: g.role, member: g.member, admin: g.admin };
    if (present.has(`${g.role}\u0000${g.member}`)) {
      out.push({ ...base, status: 'existing', reason: 'already a member: left as it was' });
      continue;
    }
    const absent = [g.role, g.member].filter((r) => !existing.has(r));
    if (absent.length > 0) {
      out.push({ ...base, status: 'skipped', reason: `role ${absent.join(' and ')} not in the target` });
      continue;
    }
    const options: string[] = [];
    if (g.admin) options.push(restorer.serverMajor >= 16 ? 'ADMIN TRUE' : 'ADMIN OPTION');
    if (g.inherit !== undefined && restorer.serverMajor >= 16)
      options.push(`INHERIT ${g.inherit ? 'TRUE' : 'FALSE'}`);
    const statement =
      `GRANT ${quoteIdent(g.role)} TO ${quoteIdent(g.member)}` +
      (options.length ? ` WITH ${options.join(', ')}` : '');
    const error = await run(statement);
    if (!error) out.push({ ...base, status: 'granted' });
    else {
      const hint =
        restorer.serverMajor >= 16 && !restorer.superuser
          ? ` (PostgreSQL 16+: ${restorer.name} needs ADMIN OPTION on ${g.role})`
          : '';
      out.push({ ...base, status: 'failed', reason: `${error}${hint}` });
    }
  }
  return out;
}

export interface OwnersUsable {
  readonly ok: boolean;
  readonly reason?: string;
  /** Owner roles the restorer granted itself membership in, so pg_restore's ALTER ... OWNER works. */
  readonly selfGrants: readonly string[];
  /** Owner roles the restorer cannot act as → why (not in the target, or it may not become a member). */
  readonly unusable: ReadonlyMap<string, string>;
}

/**
 * Owners can be kept only when every owner role exists and the restoring user can act as it
 * (superuser, or member). A non-superuser with CREATEROLE grants itself membership (PostgreSQL
 * ≤15 allows it for any non-superuser role; 16+ needs ADMIN OPTION, which the creator of a role
 * has), once per role.
 */
export async function ownersUsable(
  client: ClientBase,
  owners: readonly string[],
  info: TargetInfo,
): Promise<OwnersUsable> {
  if (info.superuser || owners.length === 0) return { ok: true, selfGrants: [], unusable: new Map() };
  const check = async () =>
    (
      await client.query<{
        owner: string;
        rolname: string | null;
        member: boolean | null;
        su: boolean | null;
      }>(
        `SELECT o AS owner, r.rolname, pg_has_role(current_user, r.oid, 'MEMBER') AS member, r.rolsuper AS su
         FROM unnest($1::text[]) o LEFT JOIN pg_roles r ON r.rolname = o`,
        [owners],
      )
    ).rows;
  const selfGrants: string[] = [];
  for (const r of await check()) {
    if (r.rolname !== null && !r.member) {
      // The name comes from pg_roles (the catalog), quoted; never from the archive or input.
      const granted = await client
        .query(`GRANT ${quoteIdent(r.rolname)} TO CURRENT_USER`)
        .then(() => true)
        .catch(() => false);
      if (granted) selfGrants.push(r.rolname);
    }
  }
  const problems = (await check()).filter((r) => r.rolname === null || !r.member);
  const missing = problems.map((r) => r.owner);
  if (missing.length === 0) return { ok: true, selfGrants, unusable: new Map() };
  const unusable = new Map(
    problems.map((r) => [
      r.owner,
      r.rolname === null
        ? 'role not in the target'
        : r.su
          ? 'a superuser in the target: a non-superuser cannot act as it'
          : 'the restoring user is not a member and could not grant itself membership',
    ]),
  );
  return {
    ok: false,
    selfGrants,
    unusable,
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
  roles: [],
  memberships: [],
});
