/**
 * Database-level properties of an archive, applied to the target database under its own name:
 * `ALTER DATABASE … SET` (a `search_path`, Supabase's `app.settings.*`), `ALTER ROLE … IN
 * DATABASE … SET`, the database ACL (`REVOKE CONNECT … FROM PUBLIC`, `GRANT CONNECT … TO role`)
 * and the database comment.
 *
 * pg_restore emits these only with `--create` (which a restore into an existing, empty database
 * never uses), so they were lost. They are in the archive's table of contents as the entries
 * `DATABASE PROPERTIES`, `ACL` and `COMMENT` tagged `DATABASE <name>`, written by pg_dump with
 * the source database's name. Each statement is matched against the few shapes pg_dump writes,
 * and rebuilt with the target's name as the server reports it (`current_database()`, quoted by
 * us); anything else is reported, never run. The database's owner is reported, not changed: the
 * restorer owns the target.
 */
import type { ClientBase } from 'pg';
import type { ArchiveToc, TocEntry } from './archive-toc';
import { quoteIdent } from './inventory';
import { readIdent, splitSqlStatements } from './restore-roles-script';

export type DatabaseStatementKind = 'setting' | 'role-setting' | 'acl' | 'comment';

/** One database-level statement of the archive, with the source database's name taken out. */
export interface DatabaseStatement {
  readonly kind: DatabaseStatementKind;
  /** For `role-setting`: the role; for `acl`: the grantee (`PUBLIC` for the public pseudo-role). */
  readonly role?: string;
  /** For settings: the parameter name. */
  readonly parameter?: string;
  /** For settings: the value list as pg_dump wrote it, unquoted (`app, public`). */
  readonly value?: string;
  /** For acl: GRANT or REVOKE, with the privileges (`CONNECT,TEMPORARY`). */
  readonly action?: 'GRANT' | 'REVOKE';
  readonly privileges?: readonly string[];
  /** The statement with `{{db}}` where the database name goes. */
  readonly template: string;
}

export interface ArchivedDatabase {
  /** The source database's name (from the archive). */
  readonly name: string | undefined;
  readonly owner: string | undefined;
  readonly statements: readonly DatabaseStatement[];
  /** Statements in those entries that are not one of the shapes above (never run). */
  readonly unrecognized: readonly string[];
}

export interface DatabaseStatementOutcome {
  readonly kind: DatabaseStatementKind;
  /** The statement run, with the target's name. */
  readonly statement: string;
  readonly applied: boolean;
  readonly error?: string;
}

export interface DatabasePropertiesResult {
  readonly sourceDatabase?: string;
  readonly sourceOwner?: string;
  readonly applied: number;
  readonly failed: number;
  readonly statements: readonly DatabaseStatementOutcome[];
  /** Not run: statements of a shape pg_dump does not write for these entries. */
  readonly unrecognized: readonly string[];
}

/** Values of `SET x TO 'a', 'b'`: the literals, unquoted; undefined when not a literal list. */
function literalList(text: string): string | undefined {
  const values: string[] = [];
  const re = /\s*(?:'((?:[^']|'')*)'|([\w.+-]+))\s*(,|$)/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    values.push(m[1] !== undefined ? m[1].replace(/''/g, "'") : m[2]);
    pos = re.lastIndex;
    if (m[3] === '') break;
  }
  return pos >= text.length ? values.join(', ') : undefined;
}

/** Strips `<db name>` (bare or quoted) from the start of `text`; undefined when it is not there. */
function afterDbName(text: string, db: string): string | undefined {
  const id = readIdent(text);
  return id && id.name === db ? id.rest : undefined;
}

function parseStatement(statement: string, db: string): DatabaseStatement | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^ALTER\s+DATABASE\s+/i.exec(statement))) {
    const rest = afterDbName(statement.slice(m[0].length), db);
    const s =
      rest !== undefined ? /^\s+SET\s+([\w.]+|"(?:[^"]|"")+")\s+(?:TO|=)\s+([\s\S]+)$/i.exec(rest) : null;
    if (s) {
      const value = literalList(s[2]);
      if (value === undefined) return undefined;
      return { kind: 'setting', parameter: unquote(s[1]), value, template: `ALTER DATABASE {{db}}${rest}` };
    }
    return undefined;
  }
  if ((m = /^ALTER\s+ROLE\s+/i.exec(statement))) {
    const role = readIdent(statement.slice(m[0].length));
    const inDb = role && /^\s+IN\s+DATABASE\s+/i.exec(role.rest);
    if (!role || !inDb) return undefined;
    const rest = afterDbName(role.rest.slice(inDb[0].length), db);
    const s =
      rest !== undefined ? /^\s+SET\s+([\w.]+|"(?:[^"]|"")+")\s+(?:TO|=)\s+([\s\S]+)$/i.exec(rest) : null;
    const value = s ? literalList(s[2]) : undefined;
    if (!s || value === undefined) return undefined;
    return {
      kind: 'role-setting',
      role: role.name,
      parameter: unquote(s[1]),
      value,
      template: `ALTER ROLE ${quoteIdent(role.name)} IN DATABASE {{db}}${rest}`,
    };
  }
  if (
    (m =
      /^(GRANT|REVOKE)\s+((?:ALL|CONNECT|TEMPORARY|TEMP|CREATE)(?:\s*,\s*(?:CONNECT|TEMPORARY|TEMP|CREATE))*)\s+ON\s+DATABASE\s+/i.exec(
        statement,
      ))
  ) {
    const rest = afterDbName(statement.slice(m[0].length), db);
    const t = rest !== undefined ? /^\s+(TO|FROM)\s+/i.exec(rest) : null;
    if (!t || rest === undefined) return undefined;
    const granteeText = rest.slice(t[0].length);
    const grantee = /^PUBLIC\b/i.test(granteeText)
      ? { name: 'PUBLIC', rest: granteeText.slice(6) }
      : readIdent(granteeText);
    if (!grantee || !/^\s*(WITH\s+GRANT\s+OPTION\s*)?$/i.test(grantee.rest)) return undefined;
    const action = m[1].toUpperCase() as 'GRANT' | 'REVOKE';
    const privileges = m[2]
      .toUpperCase()
      .split(/\s*,\s*/)
      .flatMap((p) => (p === 'ALL' ? ['CONNECT', 'TEMPORARY', 'CREATE'] : [p === 'TEMP' ? 'TEMPORARY' : p]));
    const who = grantee.name === 'PUBLIC' ? 'PUBLIC' : quoteIdent(grantee.name);
    return {
      kind: 'acl',
      role: grantee.name,
      action,
      privileges,
      template: `${action} ${privileges.join(', ')} ON DATABASE {{db}} ${t[1].toUpperCase()} ${who}${grantee.rest.trimEnd() ? ` ${grantee.rest.trim()}` : ''}`,
    };
  }
  if ((m = /^COMMENT\s+ON\s+DATABASE\s+/i.exec(statement))) {
    const rest = afterDbName(statement.slice(m[0].length), db);
    if (rest === undefined || !/^\s+IS\s+'/i.test(rest)) return undefined;
    return { kind: 'comment', template: `COMMENT ON DATABASE {{db}}${rest}` };
  }
  return undefined;
}

const unquote = (id: string) => (id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id.toLowerCase());

/**
 * Entries about the database itself, which pg_restore runs only with `--create` (and then under
 * the source's name): the database, its properties, and its comment, grants and label.
 */
export const isDatabaseEntry = (e: TocEntry): boolean =>
  e.desc === 'DATABASE' ||
  e.desc === 'DATABASE PROPERTIES' ||
  ((e.desc === 'COMMENT' || e.desc === 'ACL' || e.desc === 'SECURITY LABEL') &&
    e.namespace === undefined &&
    e.tag.startsWith('DATABASE '));

/** The database-level statements of an archive, from its table of contents. */
export function archivedDatabase(toc: ArchiveToc): ArchivedDatabase {
  const dbEntry = toc.entries.find((e) => e.desc === 'DATABASE');
  const name = dbEntry?.tag ?? toc.database;
  const statements: DatabaseStatement[] = [];
  const unrecognized: string[] = [];
  if (name === undefined) return { name, owner: undefined, statements, unrecognized };
  const sources = toc.entries.filter(
    (e) =>
      e.desc === 'DATABASE PROPERTIES' ||
      ((e.desc === 'ACL' || e.desc === 'COMMENT') &&
        e.namespace === undefined &&
        e.tag === `DATABASE ${name}`),
  );
  for (const entry of sources) {
    for (const statement of splitSqlStatements(entry.defn)) {
      // Session-authorization wrappers around grants made by another grantor: the target's
      // owner makes the grant itself.
      if (/^(SET|RESET)\s+SESSION\s+AUTHORIZATION\b/i.test(statement)) continue;
      const parsed = parseStatement(statement, name);
      if (parsed) statements.push(parsed);
      else unrecognized.push(statement.slice(0, 300));
    }
  }
  return { name, owner: dbEntry?.owner, statements, unrecognized };
}

/**
 * Applies the archive's database statements to the connected database, one by one (a failure is
 * recorded and the rest still run). Run after pg_restore: a database setting such as
 * `default_transaction_read_only` must not change how the restore itself runs.
 */
export async function applyDatabaseProperties(
  client: ClientBase,
  archived: ArchivedDatabase,
): Promise<DatabasePropertiesResult> {
  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  const target = quoteIdent(rows[0].db);
  const outcomes: DatabaseStatementOutcome[] = [];
  for (const s of archived.statements) {
    const statement = s.template.split('{{db}}').join(target);
    try {
      await client.query(statement);
      outcomes.push({ kind: s.kind, statement, applied: true });
    } catch (e) {
      outcomes.push({ kind: s.kind, statement, applied: false, error: (e as Error).message });
    }
  }
  return {
    ...(archived.name !== undefined ? { sourceDatabase: archived.name } : {}),
    ...(archived.owner !== undefined ? { sourceOwner: archived.owner } : {}),
    applied: outcomes.filter((o) => o.applied).length,
    failed: outcomes.filter((o) => !o.applied).length,
    statements: outcomes,
    unrecognized: archived.unrecognized,
  };
}
