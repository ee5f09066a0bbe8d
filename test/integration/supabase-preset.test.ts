/**
 * `preset: "supabase"` end to end on real clusters. The source is shaped like a Supabase project:
 * `auth` and `storage` with tables and rows (the platform's schemas, the user's data), an
 * `extensions` schema with pgcrypto, platform schemas (`realtime`, `graphql`) with tables of their
 * own, roles `anon` / `authenticated` / `service_role`, a user schema whose table references
 * `auth.users` by foreign key, and a Supabase-only extension (a stand-in `pgsodium`, offered only
 * by the source's installation) used by a table column and by a function body.
 *
 * - The backup leaves the platform schemas out and keeps auth and storage.
 * - A drill on a plain PostgreSQL target, restoring as a non-superuser admin, PASSES: auth and
 *   storage come back whole, the user's table with its foreign key and policy, the pgcrypto
 *   extension in a re-created `extensions` schema; pgsodium, the table that needs it and the
 *   function that calls it are reported by name, not fatal.
 * - A restore into a Supabase-like target (auth and storage already made by the platform) restores
 *   only their rows into the platform's tables and leaves the platform's definitions as they were.
 */
import { Client } from 'pg';
import { runDrill, type DrillReport } from '../../lambda/core/drill';
import { dumpDatabase } from '../../lambda/core/dump';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import type { Manifest } from '../../lambda/core/manifest';
import { SUPABASE_PLATFORM_SCHEMAS } from '../../lambda/core/presets';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import { restoreBackup, type RestoreResult, type RestoreTarget } from '../../lambda/core/restore';
import { replicateLocally } from '../../src/local/replicate';
import {
  installationWithExtensions,
  onDatabase,
  startHarness,
  type Harness,
  type Installation,
} from '../support/harness';

const ADMIN_PASSWORD = 'supabase-like-admin-pw-51c2';

/** A stand-in for Supabase's pgsodium: a domain and a function in its own schema. */
const PGSODIUM = {
  name: 'pgsodium',
  version: '3.1.8',
  control: "default_version = '3.1.8'\nschema = pgsodium\nrelocatable = false\nsuperuser = true\n",
  sql: `CREATE DOMAIN pgsodium.key_id AS uuid;
CREATE FUNCTION pgsodium.crypto_aead_det_encrypt(message bytea) RETURNS bytea LANGUAGE sql AS 'SELECT message';
`,
};

const SOURCE_SQL = `
CREATE ROLE supabase_admin SUPERUSER LOGIN;
CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN;
CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
CREATE ROLE service_role NOLOGIN;
CREATE ROLE authenticator NOINHERIT LOGIN;
GRANT anon, authenticated, service_role TO authenticator;

CREATE SCHEMA extensions;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION pgsodium;

-- Platform schemas with objects of their own: never the user's.
CREATE SCHEMA realtime;
CREATE TABLE realtime.messages (id bigint PRIMARY KEY, topic text);
INSERT INTO realtime.messages SELECT g, 'topic' FROM generate_series(1, 3) g;
CREATE SCHEMA graphql;
CREATE FUNCTION graphql.resolve(q text) RETURNS text LANGUAGE sql AS 'SELECT q';

-- auth and storage: the platform's schemas, the user's rows.
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
CREATE TABLE auth.users (
  id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
  email text UNIQUE,
  encrypted_password text,
  created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
INSERT INTO auth.users (email, encrypted_password)
  SELECT 'user' || g || '@example.com', extensions.crypt('pw' || g, extensions.gen_salt('bf', 4))
  FROM generate_series(1, 5) g;
-- Sorts before the table it references: loaded in the archive's order, its rows would come first.
CREATE TABLE auth.identities (id bigint PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id), provider text);
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
INSERT INTO auth.identities SELECT row_number() OVER (), id, 'email' FROM auth.users;
CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL, public boolean DEFAULT false);
CREATE TABLE storage.objects (
  id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
  bucket_id text REFERENCES storage.buckets (id),
  name text,
  owner uuid);
ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
INSERT INTO storage.buckets VALUES ('avatars', 'avatars', true);
INSERT INTO storage.objects (bucket_id, name, owner) SELECT 'avatars', 'a-' || email, id FROM auth.users;

-- The user's schema: a profile per auth user, behind RLS for the authenticated role.
CREATE TABLE public.profiles (
  id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  username text NOT NULL,
  email_hash text NOT NULL);
INSERT INTO public.profiles
  SELECT id, split_part(email, '@', 1), encode(extensions.digest(email, 'sha256'), 'hex') FROM auth.users;
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_profile ON public.profiles FOR SELECT TO authenticated USING (id = auth.uid());
GRANT SELECT ON public.profiles TO authenticated;

-- What needs the Supabase-only extension: a column of its type, a function calling it.
CREATE TABLE public.secrets (id int PRIMARY KEY, key_id pgsodium.key_id, note text);
INSERT INTO public.secrets VALUES (1, extensions.gen_random_uuid(), 'one'), (2, NULL, 'two');
CREATE FUNCTION public.seal(t text) RETURNS bytea LANGUAGE plpgsql
  AS $$ BEGIN RETURN pgsodium.crypto_aead_det_encrypt(convert_to(t, 'UTF8')); END $$;
ANALYZE;
`;

let installation: Installation;
let h: Harness;
let manifest: Manifest;

beforeAll(async () => {
  installation = installationWithExtensions([PGSODIUM]);
  h = await startHarness({ seed: false, binDir: installation.binDir });
  await h.query(SOURCE_SQL);
  manifest = await dumpDatabase(h.dumpOptions({ databaseId: 'supa', preset: 'supabase' }));
  await replicateLocally(h.s3, h.bucket, h.replicaBucket, `${manifest.tier}/supa/`);
}, 180_000);

afterAll(async () => {
  await h?.stop();
  installation?.remove();
});

describe('backup with the supabase preset', () => {
  it('leaves the platform schemas out, keeps auth and storage, and records the preset', () => {
    expect(manifest.preset).toBe('supabase');
    expect(manifest.schemas.exclude).toEqual(expect.arrayContaining([...SUPABASE_PLATFORM_SCHEMAS]));
    expect(manifest.schemas.exclude).not.toEqual(expect.arrayContaining(['auth']));
    const tables = manifest.tables.map((t) => `${t.schema}.${t.name}`).sort();
    expect(tables).toEqual([
      'auth.identities',
      'auth.users',
      'public.profiles',
      'public.secrets',
      'storage.buckets',
      'storage.objects',
    ]);
    expect(manifest.extensions?.map((x) => x.name)).toEqual(['pgcrypto', 'pgsodium', 'plpgsql']);
  });
});

describe('drill on a plain PostgreSQL target, as a non-superuser admin', () => {
  let report: DrillReport;
  let counts: Record<string, unknown>;

  beforeAll(async () => {
    const result = await runDrill({
      databaseId: 'supa',
      source: { s3: h.s3, bucket: h.replicaBucket, kind: 'replica' },
      provider: new LocalDatabaseProvider({ managedAdmin: true }),
      writeReport: false,
      pgBinDirs: [h.realBinDir],
      afterRestore: async (t: RestoreTarget) => {
        const c = new Client(t);
        await c.connect();
        try {
          const { rows } = await c.query(
            `SELECT current_user AS restorer,
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
                    (SELECT count(*)::int FROM auth.users) AS users,
                    (SELECT tableowner FROM pg_tables WHERE schemaname = 'auth' AND tablename = 'users') AS users_owner,
                    (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'profiles') AS profiles_owner,
                    (SELECT count(*)::int FROM storage.objects) AS objects,
                    (SELECT count(*)::int FROM public.profiles) AS profiles,
                    (SELECT count(*)::int FROM pg_constraint WHERE conname = 'profiles_id_fkey') AS fk,
                    (SELECT count(*)::int FROM pg_policy WHERE polname = 'own_profile') AS policy,
                    (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto') AS pgcrypto_in,
                    to_regclass('public.secrets') IS NULL AS secrets_left_out,
                    to_regprocedure('public.seal(text)') IS NOT NULL AS seal_created,
                    to_regnamespace('realtime') IS NULL AND to_regnamespace('graphql') IS NULL AS no_platform,
                    (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'authenticator') AS authenticator_login,
                    pg_has_role('authenticator', 'authenticated', 'MEMBER') AS authenticator_member`,
          );
          counts = rows[0];
        } finally {
          await c.end();
        }
      },
    });
    report = result.report;
  }, 180_000);

  it('passes, with auth, storage, the user schema and pgcrypto restored', () => {
    expect({ status: report.status, failure: report.failure }).toEqual({
      status: 'PASSED',
      failure: undefined,
    });
    expect(counts).toEqual({
      restorer: 'restorable_admin',
      superuser: false,
      users: 5,
      // supabase_auth_admin was created; the source's superuser postgres is the target's own.
      users_owner: 'supabase_auth_admin',
      profiles_owner: 'restorable_admin',
      objects: 5,
      profiles: 5,
      fk: 1,
      policy: 1,
      pgcrypto_in: 'extensions',
      secrets_left_out: true,
      seal_created: true,
      no_platform: true,
      authenticator_login: true,
      authenticator_member: true,
    });
  });

  it('reports pgsodium and what needs it by name, as skipped rather than failed or passed', () => {
    expect(report.restore).toMatchObject({ owners: 'mapped', ownersMapped: expect.any(Number) });
    expect(report.restore?.unavailable).toEqual([
      {
        extension: 'pgsodium',
        objects: expect.arrayContaining(['TABLE public.secrets', 'TABLE DATA public.secrets']),
        referencedBy: ['FUNCTION public.seal(text)'],
      },
    ]);
    const results = report.checks!.results;
    expect(results.find((r) => r.name === 'rows:public.secrets')).toMatchObject({
      ok: true,
      status: 'skipped',
      detail: expect.stringMatching(/not restored: needs extension pgsodium/),
    });
    expect(results.find((r) => r.name === 'extension:installed')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/not offered by the target.*pgsodium/),
    });
    for (const t of ['auth.users', 'storage.objects', 'public.profiles']) {
      expect(results.find((r) => r.name === `rows:${t}`)).toMatchObject({ ok: true, status: 'ok' });
    }
    expect(results.filter((r) => r.kind === 'catalog').every((r) => r.ok)).toBe(true);
  });
});

describe('restore into a Supabase-like target (auth and storage made by the platform)', () => {
  let dest: LocalCluster;
  let result: RestoreResult;
  const target = (): RestoreTarget => ({
    host: dest.host,
    port: dest.port,
    user: 'postgres_admin',
    password: ADMIN_PASSWORD,
    database: 'project',
    sslMode: 'disable',
  });

  beforeAll(async () => {
    dest = await startLocalCluster();
    await onDatabase(dest, 'postgres', (c) =>
      c.query(`CREATE ROLE postgres_admin LOGIN CREATEROLE CREATEDB PASSWORD '${ADMIN_PASSWORD}';
               CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN;
               CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN;
               CREATE ROLE authenticated NOLOGIN`),
    );
    await onDatabase(dest, 'postgres', (c) => c.query('CREATE DATABASE project OWNER postgres_admin'));
    // What the platform makes in every project: its own version of auth and storage (one column
    // more than the source's, and its own auth.uid()), and pgcrypto in extensions.
    await onDatabase(dest, 'project', (c) =>
      c.query(`CREATE SCHEMA extensions; CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
               GRANT USAGE ON SCHEMA extensions TO postgres_admin;
               CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
               CREATE TABLE auth.users (id uuid PRIMARY KEY, email text UNIQUE, encrypted_password text,
                 created_at timestamptz NOT NULL DEFAULT now(), is_sso_user boolean NOT NULL DEFAULT false);
               ALTER TABLE auth.users OWNER TO supabase_auth_admin;
               CREATE TABLE auth.identities (id bigint PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id),
                 provider text);
               ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
               CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS 'SELECT NULL::uuid /* platform */';
               ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
               CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
               CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL, public boolean DEFAULT false);
               CREATE TABLE storage.objects (id uuid PRIMARY KEY, bucket_id text REFERENCES storage.buckets (id),
                 name text, owner uuid);
               ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
               ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
               -- Supabase's postgres may use the platform's schemas.
               GRANT USAGE ON SCHEMA auth, storage TO postgres_admin;
               GRANT ALL ON ALL TABLES IN SCHEMA auth, storage TO postgres_admin;
               GRANT EXECUTE ON FUNCTION auth.uid() TO authenticated`),
    );
    result = await restoreBackup({ s3: h.s3, bucket: h.bucket, manifest }, target(), {
      pgBinDirs: [h.realBinDir],
    });
  }, 180_000);

  afterAll(async () => {
    await dest?.stop();
  });

  it('restores only the rows of auth and storage, into the platform tables, and the user schema whole', async () => {
    expect(result.platformSchemas?.schemas).toEqual([
      { schema: 'auth', restored: 'data-only' },
      { schema: 'storage', restored: 'data-only' },
    ]);
    expect(result.platformSchemas?.leftOut.map((l) => l.entry)).toEqual(
      expect.arrayContaining([
        'SCHEMA auth',
        'TABLE auth.users',
        'FUNCTION auth.uid()',
        'TABLE storage.objects',
      ]),
    );
    const { rows } = await onDatabase(dest, 'project', (c) =>
      c.query(
        `SELECT (SELECT count(*)::int FROM auth.users) AS users,
                (SELECT count(*)::int FROM auth.identities) AS identities,
                (SELECT count(*)::int FROM auth.users WHERE NOT is_sso_user) AS platform_default,
                (SELECT count(*)::int FROM storage.objects) AS objects,
                (SELECT count(*)::int FROM public.profiles p JOIN auth.users u USING (id)) AS profiles_joined,
                (SELECT prosrc FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure) AS uid_body,
                (SELECT tableowner FROM pg_tables WHERE schemaname = 'auth' AND tablename = 'users') AS users_owner,
                to_regclass('public.secrets') IS NULL AS secrets_left_out`,
      ),
    );
    expect(rows[0]).toEqual({
      users: 5,
      identities: 5,
      platform_default: 5,
      objects: 5,
      profiles_joined: 5,
      uid_body: 'SELECT NULL::uuid /* platform */',
      users_owner: 'supabase_auth_admin',
      secrets_left_out: true,
    });
    expect(result.extensions?.unavailable.map((u) => u.extension)).toEqual(['pgsodium']);
    expect(result.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/extension pgsodium .*left out with .*TABLE public\.secrets/),
      ]),
    );
  });
});
