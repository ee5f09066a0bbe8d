/**
 * The pure parts of restoring globals: reading a pg_dumpall roles file into structure, the CREATE
 * ROLE a non-superuser admin may run, the archive's database statements under another name, the
 * extension pre-check naming every missing extension, and the libpq conventions of the CLI.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ArchiveToc, TocEntry } from '../../lambda/core/archive-toc';
import { archivedDatabase } from '../../lambda/core/restore-database';
import { notRestoredOf, planExtensions } from '../../lambda/core/restore-extensions';
import { planPlatformSchemas } from '../../lambda/core/restore-platform';
import { RestoreError } from '../../lambda/core/restore-error';
import { createRoleSql } from '../../lambda/core/restore-roles';
import { parseRolesScript } from '../../lambda/core/restore-roles-script';
import { connectionFromUrl, defaultCaBundle } from '../../src/cli/pgpass';

const ROLES = [
  '\\restrict abc',
  'SET default_transaction_read_only = off;',
  'CREATE ROLE app_user;',
  "ALTER ROLE app_user WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 VALID UNTIL '2100-01-01 00:00:00+00';",
  'CREATE ROLE "Ops; Admin";',
  'ALTER ROLE "Ops; Admin" WITH SUPERUSER NOINHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;',
  'COMMENT ON ROLE "Ops; Admin" IS \'runs; things\';',
  "ALTER ROLE app_user SET search_path TO 'app', 'public';",
  'GRANT "Ops; Admin" TO app_user WITH ADMIN OPTION GRANTED BY postgres;',
  'GRANT app_user TO "Ops; Admin" WITH INHERIT FALSE GRANTED BY postgres;',
  '\\unrestrict abc',
].join('\n');

describe('roles file', () => {
  const script = parseRolesScript(ROLES);

  it('reads every role with its attributes, comment and settings', () => {
    expect(script.unparsed).toEqual([]);
    expect(script.roles).toEqual([
      {
        name: 'app_user',
        superuser: false,
        inherit: true,
        createRole: false,
        createDb: false,
        login: true,
        replication: false,
        bypassRls: false,
        connectionLimit: 5,
        validUntil: '2100-01-01 00:00:00+00',
        settingsSql: ["SET search_path TO 'app', 'public'"],
      },
      {
        name: 'Ops; Admin',
        superuser: true,
        inherit: false,
        createRole: true,
        createDb: true,
        login: true,
        replication: true,
        bypassRls: true,
        connectionLimit: -1,
        commentSql: "'runs; things'",
        settingsSql: [],
      },
    ]);
    expect(script.memberships).toEqual([
      { role: 'Ops; Admin', member: 'app_user', admin: true },
      { role: 'app_user', member: 'Ops; Admin', admin: false, inherit: false },
    ]);
  });

  it('creates a role with what a CREATEROLE admin may set, and names what it leaves off', () => {
    const ops = script.roles[1];
    expect(createRoleSql(ops, { superuser: false, createRole: true, createDb: true })).toEqual({
      sql: 'CREATE ROLE "Ops; Admin" WITH LOGIN NOINHERIT CREATEDB CREATEROLE',
      dropped: ['SUPERUSER', 'REPLICATION', 'BYPASSRLS'],
    });
    expect(createRoleSql(ops, { superuser: false, createRole: true, createDb: false }).dropped).toEqual([
      'CREATEDB',
      'SUPERUSER',
      'REPLICATION',
      'BYPASSRLS',
    ]);
    expect(createRoleSql(ops, { superuser: true, createRole: true, createDb: true }).sql).toBe(
      'CREATE ROLE "Ops; Admin" WITH LOGIN NOINHERIT CREATEDB CREATEROLE SUPERUSER REPLICATION BYPASSRLS',
    );
    expect(createRoleSql(script.roles[0], { superuser: false, createRole: true, createDb: true }).sql).toBe(
      `CREATE ROLE "app_user" WITH LOGIN INHERIT CONNECTION LIMIT 5 VALID UNTIL '2100-01-01 00:00:00+00'`,
    );
  });
});

const entry = (e: Partial<TocEntry> & Pick<TocEntry, 'dumpId' | 'desc' | 'tag'>): TocEntry => ({
  namespace: undefined,
  owner: 'postgres',
  section: 2,
  dependencies: [],
  hadDumper: false,
  defn: '',
  ...e,
});
const toc = (entries: TocEntry[]): ArchiveToc => ({
  version: '1.14.0',
  database: 'My "App"',
  serverVersion: '15',
  pgDumpVersion: '15',
  entries,
});

describe('database properties', () => {
  it('reads settings, role settings, grants and comment under the source name, and nothing else', () => {
    const db = archivedDatabase(
      toc([
        entry({ dumpId: 1, desc: 'DATABASE', tag: 'My "App"', owner: 'app_owner' }),
        entry({
          dumpId: 2,
          desc: 'DATABASE PROPERTIES',
          tag: 'My "App"',
          defn:
            `ALTER DATABASE "My ""App""" SET search_path TO 'app', 'public';\n` +
            `ALTER DATABASE "My ""App""" SET "app.settings.tenant" TO 'a''b';\n` +
            `ALTER ROLE app_user IN DATABASE "My ""App""" SET statement_timeout TO '5s';\n` +
            `ALTER DATABASE "My ""App""" SET work_mem TO '1MB' ; DROP TABLE x;\n` +
            `ALTER DATABASE other SET work_mem TO '1MB';\n`,
        }),
        entry({
          dumpId: 3,
          desc: 'ACL',
          tag: 'DATABASE My "App"',
          defn:
            `REVOKE CONNECT,TEMPORARY ON DATABASE "My ""App""" FROM PUBLIC;\n` +
            `GRANT CONNECT ON DATABASE "My ""App""" TO "Ops; Admin";\n`,
        }),
        entry({
          dumpId: 4,
          desc: 'COMMENT',
          tag: 'DATABASE My "App"',
          defn: `COMMENT ON DATABASE "My ""App""" IS 'hi';\n`,
        }),
      ]),
    );
    expect(db.name).toBe('My "App"');
    expect(db.owner).toBe('app_owner');
    expect(db.statements.map((s) => s.template)).toEqual([
      `ALTER DATABASE {{db}} SET search_path TO 'app', 'public'`,
      `ALTER DATABASE {{db}} SET "app.settings.tenant" TO 'a''b'`,
      `ALTER ROLE "app_user" IN DATABASE {{db}} SET statement_timeout TO '5s'`,
      `ALTER DATABASE {{db}} SET work_mem TO '1MB'`,
      'REVOKE CONNECT, TEMPORARY ON DATABASE {{db}} FROM PUBLIC',
      'GRANT CONNECT ON DATABASE {{db}} TO "Ops; Admin"',
      `COMMENT ON DATABASE {{db}} IS 'hi'`,
    ]);
    expect(db.statements[1]).toMatchObject({ parameter: 'app.settings.tenant', value: "a'b" });
    // Another database's statement, and what a split left over, are never run.
    expect(db.unrecognized).toEqual(['DROP TABLE x', `ALTER DATABASE other SET work_mem TO '1MB'`]);
  });
});

describe('extensions', () => {
  const target = {
    installed: new Map([
      ['plpgsql', 'postgres'],
      ['postgis', 'supabase_admin'],
    ]),
    extensionSchemas: new Map([['extensions', 'supabase_admin']]),
    available: new Set(['plpgsql', 'postgis', 'pgcrypto']),
    schemas: new Set(['public', 'extensions']),
    restorer: 'rds_admin',
    superuser: false,
  };

  it('names every extension the target does not offer, at once', () => {
    const entries = ['postgis', 'timescaledb', 'pgcrypto', 'pg_cron'].map((x, i) =>
      entry({ dumpId: i + 1, desc: 'EXTENSION', tag: x }),
    );
    const err = (() => {
      try {
        planExtensions(entries, target);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('EXTENSIONS_MISSING');
    expect((err as Error).message).toMatch(/extension\(s\) timescaledb, pg_cron that/);
  });

  it('leaves out extensions already there, their comments and their schema when the restorer does not own them', () => {
    const result = planExtensions(
      [
        entry({ dumpId: 1, desc: 'SCHEMA', tag: 'extensions' }),
        entry({ dumpId: 2, desc: 'EXTENSION', tag: 'postgis' }),
        entry({ dumpId: 3, desc: 'COMMENT', tag: 'EXTENSION postgis' }),
        entry({ dumpId: 4, desc: 'EXTENSION', tag: 'pgcrypto' }),
        entry({ dumpId: 5, desc: 'COMMENT', tag: 'EXTENSION pgcrypto' }),
        entry({ dumpId: 6, desc: 'COMMENT', tag: 'EXTENSION plpgsql' }),
        entry({ dumpId: 7, desc: 'ACL', tag: 'SCHEMA extensions' }),
      ],
      target,
    );
    expect(result.leftOut.map((l) => l.dumpId)).toEqual([1, 2, 3, 6, 7]);
    expect(result.present).toEqual(['postgis']);
  });

  it('under leave-out, leaves out an unavailable extension with everything that depends on it, and names it all', () => {
    const entries = [
      entry({
        dumpId: 1,
        desc: 'EXTENSION',
        tag: 'pgsodium',
        defn: 'CREATE EXTENSION IF NOT EXISTS pgsodium WITH SCHEMA pgsodium;',
      }),
      entry({ dumpId: 2, desc: 'COMMENT', tag: 'EXTENSION pgsodium', dependencies: [1] }),
      // Forward reference: the data entry comes before the table it depends on.
      entry({ dumpId: 5, desc: 'TABLE DATA', namespace: 'public', tag: 'secrets', dependencies: [3] }),
      entry({ dumpId: 3, desc: 'TABLE', namespace: 'public', tag: 'secrets', dependencies: [1] }),
      entry({
        dumpId: 4,
        desc: 'CONSTRAINT',
        namespace: 'public',
        tag: 'secrets secrets_pkey',
        dependencies: [3],
        defn: 'ALTER TABLE ONLY public.secrets ADD CONSTRAINT secrets_pkey PRIMARY KEY (id);',
      }),
      entry({ dumpId: 6, desc: 'TABLE', namespace: 'public', tag: 'notes' }),
      entry({
        dumpId: 7,
        desc: 'FUNCTION',
        namespace: 'public',
        tag: 'seal(text)',
        defn: 'CREATE FUNCTION public.seal(t text) ... SELECT pgsodium.crypto_aead_det_encrypt(...)',
      }),
      entry({
        dumpId: 8,
        desc: 'FUNCTION',
        namespace: 'public',
        tag: 'plain()',
        defn: 'CREATE FUNCTION public.plain() ... SELECT notpgsodium.x()',
      }),
      entry({
        dumpId: 9,
        desc: 'EXTENSION',
        tag: 'pgcrypto',
        defn: 'CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;',
      }),
    ];
    expect(() => planExtensions(entries, target)).toThrow(/extension\(s\) pgsodium/);
    const result = planExtensions(
      entries,
      { ...target, schemas: new Set(['public']) },
      { missingExtensions: 'leave-out' },
    );
    expect(result.leftOut.map((l) => l.dumpId).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(result.unavailable).toEqual([
      {
        extension: 'pgsodium',
        schema: 'pgsodium',
        objects: [
          'TABLE DATA public.secrets',
          'TABLE public.secrets',
          'CONSTRAINT public.secrets secrets_pkey',
        ],
        referencedBy: ['FUNCTION public.seal(text)'],
        dumpIds: [1, 2, 5, 3, 4],
      },
    ]);
    // pgcrypto is created, and its schema (left out of the dump by the preset) first.
    expect(result.schemasToCreate).toEqual(['extensions']);
    expect(notRestoredOf(entries, result)).toEqual({
      extensions: ['pgsodium'],
      relations: [{ schema: 'public', name: 'secrets' }],
      catalog: { tables: 1, indexes: 1 },
    });
  });
});

describe('platform schemas', () => {
  const entries = [
    entry({ dumpId: 1, desc: 'SCHEMA', tag: 'auth' }),
    entry({ dumpId: 2, desc: 'TABLE', namespace: 'auth', tag: 'users' }),
    entry({ dumpId: 3, desc: 'TABLE DATA', namespace: 'auth', tag: 'users' }),
    entry({ dumpId: 4, desc: 'SEQUENCE SET', namespace: 'auth', tag: 'refresh_tokens_id_seq' }),
    entry({ dumpId: 5, desc: 'ACL', tag: 'SCHEMA auth' }),
    entry({ dumpId: 6, desc: 'FK CONSTRAINT', namespace: 'public', tag: 'profiles profiles_id_fkey' }),
    entry({ dumpId: 7, desc: 'SCHEMA', tag: 'storage' }),
    entry({ dumpId: 8, desc: 'TABLE', namespace: 'storage', tag: 'buckets' }),
  ];

  it('restores only the data of a platform schema the target has, and the rest whole', () => {
    const result = planPlatformSchemas(entries, ['auth', 'storage'], new Set(['public', 'auth']));
    expect(result.schemas).toEqual([
      { schema: 'auth', restored: 'data-only' },
      { schema: 'storage', restored: 'whole' },
    ]);
    expect(result.leftOut.map((l) => l.dumpId)).toEqual([1, 2, 5]);
  });

  it('restores a platform schema whole into a target without it', () => {
    expect(planPlatformSchemas(entries, ['auth', 'storage'], new Set(['public'])).leftOut).toEqual([]);
  });
});

describe('CLI connection (libpq conventions)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-pgpass-unit-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fills what the URL leaves out from PGHOST/PGPORT/PGUSER/PGDATABASE and PGSSLMODE', () => {
    const env = {
      PGHOST: 'db.internal',
      PGPORT: '6543',
      PGUSER: 'ops',
      PGDATABASE: 'shop',
      PGSSLMODE: 'require',
      PGPASSWORD: 'pw',
    };
    expect(connectionFromUrl(undefined, 'verify-full', env, () => undefined)).toEqual({
      host: 'db.internal',
      port: 6543,
      user: 'ops',
      password: 'pw',
      database: 'shop',
      sslMode: 'require',
    });
    const fromUrl = connectionFromUrl(
      'postgres://me@h/app?sslmode=verify-ca',
      'verify-full',
      env,
      () => undefined,
    );
    expect(fromUrl).toMatchObject({
      host: 'h',
      port: 6543,
      user: 'me',
      database: 'app',
      sslMode: 'verify-ca',
    });
  });

  it("ignores a .pgpass that group or others can read, with libpq's warning", () => {
    const file = path.join(dir, 'pgpass');
    fs.writeFileSync(file, 'h:5432:app:me:s3cret\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const warnings: string[] = [];
    const env = { PGPASSFILE: file };
    expect(
      connectionFromUrl('postgres://me@h/app', 'verify-full', env, (m) => warnings.push(m)).password,
    ).toBe('');
    expect(warnings.join('\n')).toMatch(/has group or world access; permissions should be u=rw \(0600\)/);
    fs.chmodSync(file, 0o600);
    expect(
      connectionFromUrl('postgres://me@h/app', 'verify-full', env, (m) => warnings.push(m)).password,
    ).toBe('s3cret');
  });

  it('checks certificates against PGSSLROOTCERT, else the system CA store', () => {
    expect(defaultCaBundle({ PGSSLROOTCERT: '/x/root.crt' })).toBe('/x/root.crt');
    const system = defaultCaBundle({});
    if (!fs.existsSync('/opt/rds-ca/global-bundle.pem')) {
      expect(system).toBe(
        ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'].find(
          (f) => fs.existsSync(f),
        ),
      );
    }
  });
});
