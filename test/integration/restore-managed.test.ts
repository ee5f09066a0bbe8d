/**
 * Restoring the way RDS and Supabase allow it: as a non-superuser admin (CREATEROLE + CREATEDB,
 * owner of an empty target database) on a separate cluster that has none of the source's roles,
 * with PostGIS pre-installed by the platform in schema `extensions`. A source with a user row in
 * spatial_ref_sys, database and role-in-database settings, a revoked CONNECT, large objects,
 * FORCE RLS, owners and login roles comes back with every one of those intact; the drill's check
 * (checkRestoredGlobals) passes, and fails when a login role or a setting is missing. Also: the
 * version refusals and the missing-extension list, before anything is changed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { dumpDatabase } from '../../lambda/core/dump';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import type { Manifest } from '../../lambda/core/manifest';
import {
  checkRestoredGlobals,
  RestoreError,
  restoreBackup,
  type RestoreResult,
  type RestoreTarget,
} from '../../lambda/core/restore';
import { objectFingerprint, onDatabase, startHarness, type Harness } from '../support/harness';

const ADMIN_PASSWORD = 'managed-admin-pw-4c1d';
const LOGIN_PASSWORD = 'app-user-pw-8e2f';

let h: Harness;
let dest: LocalCluster;
let manifest: Manifest;
let tempDir: string;

const asAdmin = (database: string): RestoreTarget => ({
  host: dest.host,
  port: dest.port,
  user: 'rds_admin',
  password: ADMIN_PASSWORD,
  database,
  sslMode: 'disable',
});

const onDest = <T>(database: string, fn: (c: Client) => Promise<T>) => onDatabase(dest, database, fn);

/** An empty database owned by the admin, with PostGIS pre-installed as a platform would. */
async function emptyManagedDatabase(name: string, postgis = true): Promise<void> {
  await onDest('postgres', (c) => c.query(`CREATE DATABASE ${name} OWNER rds_admin`));
  if (!postgis) return;
  await onDest(name, async (c) => {
    await c.query(`CREATE SCHEMA extensions; CREATE EXTENSION postgis WITH SCHEMA extensions`);
    // RDS: rds_superuser owns it and the master user is its member; here, the grants that gives.
    await c.query(`GRANT USAGE ON SCHEMA extensions TO rds_admin;
                   GRANT ALL ON extensions.spatial_ref_sys TO rds_admin`);
  });
}

beforeAll(async () => {
  h = await startHarness({ seed: false });
  await h.query(`
    CREATE ROLE app_owner NOLOGIN;
    CREATE ROLE app_rw NOLOGIN;
    CREATE ROLE app_user LOGIN CONNECTION LIMIT 7 VALID UNTIL '2099-01-01';
    CREATE ROLE reporting LOGIN;
    CREATE ROLE ops_super SUPERUSER LOGIN;
    GRANT app_rw TO app_user;
    GRANT app_rw TO reporting WITH ADMIN OPTION;
    CREATE SCHEMA extensions;
    CREATE EXTENSION postgis WITH SCHEMA extensions;
    INSERT INTO extensions.spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
      VALUES (990001, 'restorable', 990001, 'LOCAL_CS["restorable test"]', '');
    CREATE SCHEMA geo AUTHORIZATION app_owner;
    CREATE TABLE geo.places (id int PRIMARY KEY, owner_name text NOT NULL, pos extensions.geometry(Point, 4326));
    INSERT INTO geo.places SELECT g, 'user' || (g % 3), extensions.ST_SetSRID(extensions.ST_MakePoint(g, g), 4326)
      FROM generate_series(1, 50) g;
    ALTER TABLE geo.places OWNER TO app_owner;
    ALTER TABLE geo.places ENABLE ROW LEVEL SECURITY;
    ALTER TABLE geo.places FORCE ROW LEVEL SECURITY;
    CREATE POLICY own_rows ON geo.places USING (owner_name = current_user);
    GRANT USAGE ON SCHEMA geo TO app_rw;
    GRANT SELECT, INSERT ON geo.places TO app_rw;
    SELECT lo_from_bytea(424242, 'large object bytes');
    ALTER LARGE OBJECT 424242 OWNER TO app_owner;
    GRANT SELECT ON LARGE OBJECT 424242 TO app_rw;
    ALTER DATABASE app SET search_path = geo, extensions, public;
    ALTER DATABASE app SET app.settings.tenant = 'acme';
    ALTER ROLE app_user IN DATABASE app SET statement_timeout = '7s';
    REVOKE CONNECT ON DATABASE app FROM PUBLIC;
    GRANT CONNECT ON DATABASE app TO app_user, reporting;
    -- Objects owned by a superuser of the source (the platform's, e.g. supabase_admin).
    CREATE SCHEMA audit AUTHORIZATION ops_super;
    CREATE TABLE audit.log (id int PRIMARY KEY, what text);
    ALTER TABLE audit.log OWNER TO ops_super;
    INSERT INTO audit.log VALUES (1, 'created'), (2, 'changed');
    CREATE FUNCTION audit.note(t text) RETURNS text LANGUAGE sql AS 'SELECT t';
    ALTER FUNCTION audit.note(text) OWNER TO ops_super;
    GRANT USAGE ON SCHEMA audit TO app_rw;
    GRANT SELECT ON audit.log TO app_rw;
    ALTER DEFAULT PRIVILEGES FOR ROLE ops_super IN SCHEMA audit GRANT SELECT ON TABLES TO app_rw;
  `);
  manifest = await dumpDatabase(h.dumpOptions());

  dest = await startLocalCluster();
  await onDest('postgres', (c) =>
    c.query(`CREATE ROLE rds_admin LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN_PASSWORD}';
             -- PostgreSQL 15+: a non-superuser may store a custom (placeholder) setting only when
             -- granted SET on it (the runbook says so; without it the restore names the setting).
             GRANT SET ON PARAMETER "app.settings.tenant" TO rds_admin`),
  );
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-managed-test-'));
}, 120_000);

afterAll(async () => {
  await dest?.stop();
  await h?.stop();
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
});

describe('restore as a non-superuser admin', () => {
  let result: RestoreResult;

  beforeAll(async () => {
    await emptyManagedDatabase('restored');
    result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, asAdmin('restored'), { tempDir });
  }, 120_000);

  it('creates missing roles with what the admin may set, and says per role what it left off', () => {
    const byName = new Map(result.roles.roles.map((r) => [r.name, r]));
    expect(byName.get('app_user')).toMatchObject({ status: 'created', login: true });
    expect(byName.get('app_owner')).toMatchObject({ status: 'created', login: false });
    expect(byName.get('ops_super')).toMatchObject({ status: 'created', dropped: ['SUPERUSER'] });
    // The source's superuser exists on the target (the platform's): never altered.
    expect(byName.get('postgres')).toMatchObject({ status: 'existing' });
    expect(result.roles.memberships).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ role: 'app_rw', member: 'app_user', status: 'granted' }),
        expect.objectContaining({ role: 'app_rw', member: 'reporting', admin: true, status: 'granted' }),
      ]),
    );
    expect({ owners: result.owners, warnings: result.warnings }).toEqual({ owners: 'kept', warnings: [] });
    expect(result.ownersSelfGrants).toEqual(expect.arrayContaining(['app_owner']));
    expect(result.extensions?.leftOut.map((l) => l.entry)).toEqual(
      expect.arrayContaining(['EXTENSION postgis', 'SCHEMA extensions']),
    );
  });

  it('brings back login roles that can log in, memberships, attributes and grants', async () => {
    const roles = await onDest('restored', (c) =>
      c.query<{ rolname: string; rolcanlogin: boolean; rolconnlimit: number; rolsuper: boolean }>(
        `SELECT rolname, rolcanlogin, rolconnlimit, rolsuper FROM pg_roles
         WHERE rolname IN ('app_user', 'reporting', 'app_owner', 'ops_super') ORDER BY rolname`,
      ),
    );
    expect(roles.rows).toEqual([
      { rolname: 'app_owner', rolcanlogin: false, rolconnlimit: -1, rolsuper: false },
      { rolname: 'app_user', rolcanlogin: true, rolconnlimit: 7, rolsuper: false },
      { rolname: 'ops_super', rolcanlogin: true, rolconnlimit: -1, rolsuper: false },
      { rolname: 'reporting', rolcanlogin: true, rolconnlimit: -1, rolsuper: false },
    ]);
    // Passwords are never in a backup: the runbook's step, then the login role logs in.
    await onDest('restored', (c) => c.query(`ALTER ROLE app_user PASSWORD '${LOGIN_PASSWORD}'`));
    const app = new Client({ ...asAdmin('restored'), user: 'app_user', password: LOGIN_PASSWORD });
    await app.connect();
    try {
      const { rows } = await app.query<{ n: string; t: string; sp: string; tenant: string }>(
        `SELECT count(*) AS n, current_setting('statement_timeout') AS t, current_setting('search_path') AS sp,
                current_setting('app.settings.tenant') AS tenant FROM geo.places`,
      );
      // FORCE RLS and the policy: app_user sees no rows of its own (owner_name is user0..2).
      expect(rows[0]).toEqual({ n: '0', t: '7s', sp: 'geo, extensions, public', tenant: 'acme' });
      const lo = await app.query<{ data: Buffer }>(`SELECT lo_get(424242) AS data`);
      expect(lo.rows[0].data.toString()).toBe('large object bytes');
    } finally {
      await app.end();
    }
  });

  it('keeps owners, RLS, the user row in spatial_ref_sys, large objects and CONNECT grants', async () => {
    const { rows } = await onDest('restored', (c) =>
      c.query(
        `SELECT (SELECT tableowner FROM pg_tables WHERE schemaname = 'geo' AND tablename = 'places') AS owner,
                (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'geo') AS schema_owner,
                (SELECT relforcerowsecurity FROM pg_class WHERE oid = 'geo.places'::regclass) AS forced,
                (SELECT count(*)::int FROM geo.places) AS rows_back,
                (SELECT count(*)::int FROM extensions.spatial_ref_sys WHERE srid = 990001) AS user_srs,
                (SELECT lomowner::regrole::text FROM pg_largeobject_metadata WHERE oid = 424242) AS lo_owner,
                has_table_privilege('app_rw', 'geo.places', 'INSERT') AS rw_insert,
                has_database_privilege('app_user', current_database(), 'CONNECT') AS user_connect,
                (SELECT count(*)::int FROM aclexplode((SELECT datacl FROM pg_database WHERE datname = current_database()))
                  WHERE grantee = 0 AND privilege_type = 'CONNECT') AS public_connect`,
      ),
    );
    expect(rows[0]).toEqual({
      owner: 'app_owner',
      schema_owner: 'app_owner',
      forced: true,
      rows_back: 50, // counted as the superuser: RLS does not hide rows from it
      user_srs: 1,
      lo_owner: 'app_owner',
      rw_insert: true,
      user_connect: true,
      public_connect: 0,
    });
    expect(result.databaseProperties?.failed).toBe(0);
    expect(result.databaseProperties?.applied).toBeGreaterThanOrEqual(5);
  });

  it('passes the drill check against the archive, and fails it when a login role or a setting is missing', async () => {
    expect(result.expected).toBeDefined();
    const ok = await onDest('restored', (c) => checkRestoredGlobals(c, result.expected!));
    expect(ok.problems).toEqual([]);
    expect(ok.checked).toBeGreaterThan(10);

    await onDest('restored', (c) =>
      c.query(`ALTER ROLE reporting NOLOGIN; ALTER DATABASE restored RESET "app.settings.tenant";
               GRANT CONNECT ON DATABASE restored TO PUBLIC`),
    );
    const bad = await onDest('restored', (c) => checkRestoredGlobals(c, result.expected!));
    expect(bad.ok).toBe(false);
    expect(bad.problems.map((p) => `${p.kind}:${p.subject}`).sort()).toEqual([
      'acl:CONNECT for PUBLIC',
      'login:reporting',
      'setting:app.settings.tenant',
    ]);
  });
});

describe('restore as a non-superuser admin where a source owner is a superuser it cannot act as', () => {
  let other: LocalCluster;
  let result: RestoreResult;

  beforeAll(async () => {
    other = await startLocalCluster();
    // The target platform has its own superuser of that name (as Supabase has supabase_admin).
    await onDatabase(other, 'postgres', (c) =>
      c.query(`CREATE ROLE rds_admin LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN_PASSWORD}';
               CREATE ROLE ops_super SUPERUSER NOLOGIN;
               GRANT SET ON PARAMETER "app.settings.tenant" TO rds_admin`),
    );
    await onDatabase(other, 'postgres', (c) => c.query('CREATE DATABASE mapped OWNER rds_admin'));
    await onDatabase(other, 'mapped', (c) =>
      c.query(`CREATE SCHEMA extensions; CREATE EXTENSION postgis WITH SCHEMA extensions;
               GRANT USAGE ON SCHEMA extensions TO rds_admin;
               GRANT ALL ON extensions.spatial_ref_sys TO rds_admin`),
    );
    result = await restoreBackup(
      { s3: h.s3, bucket: h.bucket, manifest },
      { ...asAdmin('mapped'), port: other.port },
      { tempDir },
    );
  }, 120_000);

  afterAll(async () => {
    await other?.stop();
  });

  it("keeps every other owner and maps only that role's objects to the admin, naming each", async () => {
    expect(result.owners).toBe('mapped');
    const mapped = (result.ownerMappings ?? [])
      .map((m) => `${m.object} <- ${m.owner} -> ${m.mappedTo}`)
      .sort();
    expect(mapped).toEqual([
      'DEFAULT PRIVILEGES FOR ROLE ops_super IN SCHEMA audit <- ops_super -> (not set)',
      'FUNCTION audit.note(t text) <- ops_super -> rds_admin',
      'SCHEMA audit <- ops_super -> rds_admin',
      'TABLE audit.log <- ops_super -> rds_admin',
    ]);
    expect(result.ownerMappings?.[0].reason).toMatch(/superuser/);
    expect(result.warnings).toEqual([
      expect.stringMatching(
        /^4 object\(s\) owned by ops_super in the archive now belong to rds_admin: a superuser/,
      ),
    ]);
    const { rows } = await onDatabase(other, 'mapped', (c) =>
      c.query(
        `SELECT (SELECT tableowner FROM pg_tables WHERE schemaname = 'geo' AND tablename = 'places') AS places_owner,
                (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'geo') AS geo_owner,
                (SELECT lomowner::regrole::text FROM pg_largeobject_metadata WHERE oid = 424242) AS lo_owner,
                (SELECT tableowner FROM pg_tables WHERE schemaname = 'audit' AND tablename = 'log') AS log_owner,
                (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'audit') AS audit_owner,
                (SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'audit.note(text)'::regprocedure) AS note_owner,
                (SELECT count(*)::int FROM audit.log) AS log_rows,
                has_table_privilege('app_rw', 'geo.places', 'INSERT') AS rw_places,
                has_table_privilege('app_rw', 'audit.log', 'SELECT') AS rw_log,
                (SELECT lomacl::text LIKE '%app_rw=r/app_owner%' FROM pg_largeobject_metadata WHERE oid = 424242) AS rw_lo,
                (SELECT relforcerowsecurity FROM pg_class WHERE oid = 'geo.places'::regclass) AS forced`,
      ),
    );
    expect(rows[0]).toEqual({
      places_owner: 'app_owner',
      geo_owner: 'app_owner',
      lo_owner: 'app_owner',
      log_owner: 'rds_admin',
      audit_owner: 'rds_admin',
      note_owner: 'rds_admin',
      log_rows: 2,
      rw_places: true,
      rw_log: true,
      rw_lo: true,
      forced: true,
    });
  });
});

describe('refusals before anything changes', () => {
  it('refuses a target server older than the backup source, naming both versions', async () => {
    await emptyManagedDatabase('older', false);
    const before = await objectFingerprint(dest, 'older');
    const newer: Manifest = {
      ...manifest,
      source: {
        ...manifest.source,
        serverMajor: manifest.source.serverMajor + 2,
        serverVersion: `${manifest.source.serverMajor + 2}.1`,
      },
    };
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest: newer }, asAdmin('older'), {
      tempDir,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('VERSION_UNSUPPORTED');
    expect((err as Error).message).toContain(`PostgreSQL ${manifest.source.serverMajor + 2}.1`);
    expect((err as Error).message).toMatch(/target server is 1\d\.\d+/);
    expect(await objectFingerprint(dest, 'older')).toBe(before);
    expect(fs.readdirSync(tempDir)).toEqual([]);
  });

  it('refuses a dump written by a newer pg_dump than any pg_restore available, naming both', async () => {
    const newer: Manifest = {
      ...manifest,
      pgDump: { ...manifest.pgDump, major: 99, version: '99.0' },
    };
    const err = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest: newer }, asAdmin('older'), {
      tempDir,
      pgBinDirs: [h.realBinDir],
    }).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('VERSION_UNSUPPORTED');
    expect((err as Error).message).toMatch(
      /pg_dump 99\.0.*pg_restore 99 or newer is needed; available: pg_restore \(PostgreSQL\) 1\d/,
    );
  });
});
