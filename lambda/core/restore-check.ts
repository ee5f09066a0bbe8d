/**
 * What a drill checks beyond tables: that the restored database has the backup's roles (login
 * roles able to log in), memberships, database settings, per-role-in-database settings and
 * database grants. Compared against the archive (its roles file and table of contents), not
 * against what the restore reported: a restore that says it applied something is not proof.
 */
import type { ClientBase } from 'pg';
import type { ArchivedDatabase } from './restore-database';
import type { RolesScript } from './restore-roles-script';

export interface GlobalsExpectation {
  /** The parsed roles file; undefined when the backup has none (roles are then not checked). */
  readonly roles?: RolesScript;
  readonly database: ArchivedDatabase;
}

export interface GlobalsProblem {
  readonly kind: 'role' | 'login' | 'membership' | 'setting' | 'role-setting' | 'acl';
  readonly subject: string;
  readonly problem: string;
}

export interface GlobalsCheck {
  readonly ok: boolean;
  readonly checked: number;
  readonly problems: readonly GlobalsProblem[];
}

/** `"$user", public` and `$user, public` compare equal: only the list's items matter. */
const normalizeValue = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim().replace(/^"(.*)"$/, '$1'))
    .join(',');

const PRIVILEGE_CODE: Record<string, string> = {
  CONNECT: 'CONNECT',
  TEMPORARY: 'TEMPORARY',
  CREATE: 'CREATE',
};

/** Checks the connected (restored) database against the backup. */
export async function checkRestoredGlobals(
  client: ClientBase,
  expected: GlobalsExpectation,
): Promise<GlobalsCheck> {
  const problems: GlobalsProblem[] = [];
  let checked = 0;
  if (expected.roles) {
    const { rows } = await client.query<{ rolname: string; rolcanlogin: boolean }>(
      'SELECT rolname, rolcanlogin FROM pg_roles',
    );
    const roles = new Map(rows.map((r) => [r.rolname, r.rolcanlogin]));
    for (const role of expected.roles.roles) {
      checked++;
      if (!roles.has(role.name)) problems.push({ kind: 'role', subject: role.name, problem: 'missing' });
      else if (role.login && !roles.get(role.name)) {
        problems.push({
          kind: 'login',
          subject: role.name,
          problem: 'is a LOGIN role in the backup but cannot log in',
        });
      }
    }
    const { rows: members } = await client.query<{ r: string; m: string }>(
      `SELECT r.rolname AS r, m.rolname AS m FROM pg_auth_members a
       JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member`,
    );
    const present = new Set(members.map((x) => `${x.r}\u0000${x.m}`));
    for (const g of expected.roles.memberships) {
      checked++;
      if (!present.has(`${g.role}\u0000${g.member}`)) {
        problems.push({ kind: 'membership', subject: `${g.member} in ${g.role}`, problem: 'missing' });
      }
    }
  }

  const { rows: settings } = await client.query<{ role: string | null; config: string[] }>(
    `SELECT r.rolname AS role, s.setconfig AS config FROM pg_db_role_setting s
       LEFT JOIN pg_roles r ON r.oid = s.setrole
     WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  const actual = new Map<string, string>();
  for (const s of settings) {
    for (const item of s.config ?? []) {
      const eq = item.indexOf('=');
      actual.set(`${s.role ?? ''}\u0000${item.slice(0, eq)}`, item.slice(eq + 1));
    }
  }
  // The ACL the archive's statements produce, replayed from a fresh database's default.
  const acl = new Map<string, Set<string>>([['PUBLIC', new Set(['CONNECT', 'TEMPORARY'])]]);
  for (const s of expected.database.statements) {
    if (s.kind === 'setting' || s.kind === 'role-setting') {
      checked++;
      const role = s.kind === 'role-setting' ? s.role! : '';
      const got = actual.get(`${role}\u0000${s.parameter}`);
      const subject = `${s.kind === 'role-setting' ? `role ${role}: ` : ''}${s.parameter}`;
      if (got === undefined)
        problems.push({ kind: s.kind, subject, problem: `missing (backup: ${s.value})` });
      else if (normalizeValue(got) !== normalizeValue(s.value!)) {
        problems.push({ kind: s.kind, subject, problem: `is ${got}, backup has ${s.value}` });
      }
    } else if (s.kind === 'acl') {
      const set = acl.get(s.role!) ?? new Set<string>();
      for (const p of s.privileges!) {
        if (s.action === 'GRANT') set.add(p);
        else set.delete(p);
      }
      acl.set(s.role!, set);
    }
  }
  if (expected.database.statements.some((s) => s.kind === 'acl')) {
    const { rows: grants } = await client.query<{ grantee: string; privilege: string }>(
      `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END AS grantee, a.privilege_type AS privilege
       FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
       LEFT JOIN pg_roles r ON r.oid = a.grantee
       WHERE d.datname = current_database()`,
    );
    for (const [grantee, want] of acl) {
      checked++;
      const have = new Set(grants.filter((g) => g.grantee === grantee).map((g) => g.privilege));
      for (const p of Object.keys(PRIVILEGE_CODE)) {
        if (want.has(p) !== have.has(p)) {
          problems.push({
            kind: 'acl',
            subject: `${p} for ${grantee}`,
            problem: want.has(p)
              ? 'granted in the backup, missing'
              : 'not granted in the backup, but granted',
          });
        }
      }
    }
  }
  return { ok: problems.length === 0, checked, problems };
}
