/**
 * Reads the backup's roles file (`pg_dumpall --roles-only --no-role-passwords`) into structure:
 * each role's attributes, its comment and settings, and the memberships between roles.
 *
 * The script is not run as it is: its `ALTER ROLE x WITH NOSUPERUSER ... LOGIN ...` fails whole
 * for the non-superuser admin RDS and Supabase hand out (it may not even say NOSUPERUSER), which
 * left every login role NOLOGIN; and on a cluster that already has the role, it would silently
 * rewrite that role. restore-roles.ts creates only missing roles, from this structure, with the
 * attributes the restorer may set.
 */

export interface ArchivedRole {
  readonly name: string;
  readonly superuser: boolean;
  readonly inherit: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly login: boolean;
  readonly replication: boolean;
  readonly bypassRls: boolean;
  /** -1: no limit. */
  readonly connectionLimit: number;
  /** The timestamp literal as pg_dumpall wrote it (without quotes). */
  readonly validUntil?: string;
  /** `COMMENT ON ROLE x IS ...`: the text after `IS `, as SQL. */
  readonly commentSql?: string;
  /** `ALTER ROLE x SET ...`: the text from `SET`, as SQL (one per setting). */
  readonly settingsSql: readonly string[];
}

export interface ArchivedMembership {
  /** The role granted. */
  readonly role: string;
  readonly member: string;
  readonly admin: boolean;
  /** PG16+ grants carry INHERIT TRUE/FALSE; undefined when the script does not say. */
  readonly inherit?: boolean;
}

export interface RolesScript {
  readonly roles: readonly ArchivedRole[];
  readonly memberships: readonly ArchivedMembership[];
  /** Statements not understood (session SETs excluded), kept for the report. */
  readonly unparsed: readonly string[];
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

/** One SQL identifier at the start of `text` (quoted, or bare and folded to lower case), and the rest. */
export function readIdent(text: string): { name: string; rest: string } | undefined {
  const m = /^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*))/.exec(text);
  if (!m) return undefined;
  return {
    name: m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2].toLowerCase(),
    rest: text.slice(m[0].length),
  };
}

/** The role a `CREATE ROLE` / `ALTER ROLE` / `COMMENT ON ROLE` statement is about, unquoted. */
export function roleOfStatement(statement: string): string | undefined {
  const m = /^(?:CREATE|ALTER)\s+(?:ROLE|USER)\s+/i.exec(statement);
  return m ? readIdent(statement.slice(m[0].length))?.name : undefined;
}

type MutableRole = { -readonly [K in keyof ArchivedRole]: ArchivedRole[K] } & { settingsSql: string[] };

const newRole = (name: string): MutableRole => ({
  name,
  superuser: false,
  inherit: true,
  createRole: false,
  createDb: false,
  login: false,
  replication: false,
  bypassRls: false,
  connectionLimit: -1,
  settingsSql: [],
});

const FLAGS: Record<string, [keyof MutableRole, boolean]> = {
  SUPERUSER: ['superuser', true],
  NOSUPERUSER: ['superuser', false],
  INHERIT: ['inherit', true],
  NOINHERIT: ['inherit', false],
  CREATEROLE: ['createRole', true],
  NOCREATEROLE: ['createRole', false],
  CREATEDB: ['createDb', true],
  NOCREATEDB: ['createDb', false],
  LOGIN: ['login', true],
  NOLOGIN: ['login', false],
  REPLICATION: ['replication', true],
  NOREPLICATION: ['replication', false],
  BYPASSRLS: ['bypassRls', true],
  NOBYPASSRLS: ['bypassRls', false],
};

/** Applies `WITH <options>` of an ALTER ROLE; false when an option is not understood. */
function applyOptions(role: MutableRole, options: string): boolean {
  let rest = options.trim();
  while (rest) {
    let m: RegExpExecArray | null;
    if ((m = /^CONNECTION\s+LIMIT\s+(-?\d+)\s*/i.exec(rest))) {
      role.connectionLimit = Number(m[1]);
    } else if ((m = /^VALID\s+UNTIL\s+'((?:[^']|'')*)'\s*/i.exec(rest))) {
      role.validUntil = m[1].replace(/''/g, "'");
    } else if ((m = /^PASSWORD\s+(?:'(?:[^']|'')*'|NULL)\s*/i.exec(rest))) {
      // Never present with --no-role-passwords; a password is never restored from a file anyway.
    } else if ((m = /^([A-Z]+)\s*/i.exec(rest)) && FLAGS[m[1].toUpperCase()]) {
      const [key, value] = FLAGS[m[1].toUpperCase()];
      (role as Record<string, unknown>)[key] = value;
    } else return false;
    rest = rest.slice(m[0].length);
  }
  return true;
}

/** Parses a pg_dumpall `--roles-only` script (PostgreSQL 10 to 18). */
export function parseRolesScript(sql: string): RolesScript {
  const roles = new Map<string, MutableRole>();
  const memberships: ArchivedMembership[] = [];
  const unparsed: string[] = [];
  const role = (name: string) => {
    let r = roles.get(name);
    if (!r) roles.set(name, (r = newRole(name)));
    return r;
  };
  for (const statement of splitSqlStatements(sql)) {
    if (/^(SET|RESET)\s/i.test(statement)) continue;
    let m: RegExpExecArray | null;
    if ((m = /^CREATE\s+ROLE\s+/i.exec(statement))) {
      const id = readIdent(statement.slice(m[0].length));
      if (id && id.rest.trim() === '') {
        role(id.name);
        continue;
      }
    } else if ((m = /^ALTER\s+ROLE\s+/i.exec(statement))) {
      const id = readIdent(statement.slice(m[0].length));
      const w = id && /^\s+WITH\s+/i.exec(id.rest);
      if (id && w && applyOptions(role(id.name), id.rest.slice(w[0].length))) continue;
      const s = id && /^\s+(SET\s[\s\S]*)$/i.exec(id.rest);
      if (id && s) {
        role(id.name).settingsSql.push(s[1]);
        continue;
      }
    } else if ((m = /^COMMENT\s+ON\s+ROLE\s+/i.exec(statement))) {
      const id = readIdent(statement.slice(m[0].length));
      const c = id && /^\s+IS\s+([\s\S]*)$/i.exec(id.rest);
      if (id && c) {
        role(id.name).commentSql = c[1];
        continue;
      }
    } else if ((m = /^GRANT\s+/i.exec(statement))) {
      const granted = readIdent(statement.slice(m[0].length));
      const to = granted && /^\s+TO\s+/i.exec(granted.rest);
      const member = granted && to && readIdent(granted.rest.slice(to[0].length));
      if (granted && member && !/^\s*,/.test(member.rest)) {
        const options = member.rest;
        const inherit = /INHERIT\s+(TRUE|FALSE)/i.exec(options);
        memberships.push({
          role: granted.name,
          member: member.name,
          admin: /ADMIN\s+(OPTION|TRUE)/i.test(options),
          ...(inherit ? { inherit: inherit[1].toUpperCase() === 'TRUE' } : {}),
        });
        continue;
      }
    }
    unparsed.push(statement.slice(0, 300));
  }
  return { roles: [...roles.values()], memberships, unparsed };
}
