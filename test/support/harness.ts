/**
 * Integration-test harness: one throwaway PostgreSQL cluster with a seeded database, one local S3
 * server with a primary and a "replica" bucket, and an S3 client pointed at it. Each test file
 * starts its own and stops it in afterAll.
 *
 * Also generates stand-in `pg_dump` executables for fault injection: a directory holding a
 * scripted `pg_dump` next to symlinks to the real pg_dumpall/pg_restore, passed to the code under
 * test as its only `pgBinDirs`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import type { DumpOptions } from '../../lambda/core/dump';
import { quoteIdent } from '../../lambda/core/inventory';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import type { CoreLogger } from '../../lambda/core/logger';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { makeS3Client } from '../../lambda/core/s3';
import type { DbConnection } from '../../lambda/core/secrets';
import { startLocalS3, type LocalS3Options, type LocalS3Server } from '../../src/local/s3-server';
import { seedDatabase, TEST_SEED, type SeedSize } from '../../src/local/seed';

export const TEST_KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555';

export interface Harness {
  readonly cluster: LocalCluster;
  readonly s3server: LocalS3Server;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly replicaBucket: string;
  /** The seeded database. */
  readonly database: string;
  readonly connection: DbConnection;
  /** Directory of the real pg_dump / pg_dumpall / pg_restore of the cluster's major. */
  readonly realBinDir: string;
  /** A `pg` client on `database` (opened on demand, closed by stop()). */
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<T[]>;
  /** Defaults for dumpDatabase against this harness (plaintext connection, test KMS key). */
  dumpOptions(extra?: Partial<DumpOptions>): DumpOptions;
  /** The SecretString of an RDS-managed secret for `connection`, as the handlers read it from Secrets Manager. */
  secretString(): string;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Seed size, or false for an empty database. @default TEST_SEED */
  readonly seed?: SeedSize | false;
  readonly database?: string;
  /** Superuser password (tests that scan for it choose a distinctive one). */
  readonly password?: string;
  /** Server bin directory (installationWithExtensions). @default - the newest installed */
  readonly binDir?: string;
}

export interface S3Harness {
  readonly s3server: LocalS3Server;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly replicaBucket: string;
  stop(): Promise<void>;
}

/** Only the local S3 server (buckets `backups` and `replica`) with process.env pointing the SDK at it. */
export async function startS3Harness(
  options: Pick<LocalS3Options, 'clockOffsetMs' | 'listPageSize'> = {},
): Promise<S3Harness> {
  process.env.AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING = '1';
  // The variable this SDK version actually reads for its Node 20 notice.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3server = await startLocalS3({ ...options, buckets: ['backups', 'replica'] });
  const savedEnv: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(s3server.env)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  const s3 = makeS3Client();
  return {
    s3server,
    s3,
    bucket: 'backups',
    replicaBucket: 'replica',
    stop: async () => {
      s3.destroy();
      await s3server.stop();
      for (const [k, v] of Object.entries(savedEnv)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const cluster = await startLocalCluster({ password: options.password, binDir: options.binDir });
  const { s3server, s3, stop: stopS3 } = await startS3Harness();
  const database = options.database ?? 'app';
  const admin = new Client(cluster.connection());
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  await admin.end();
  const client = new Client(cluster.connection(database));
  await client.connect();
  if (options.seed !== false) await seedDatabase(client, options.seed ?? TEST_SEED);

  const connection = cluster.connection(database);
  const realBinDir = path.dirname(findPgBinary('pg_dump', [cluster.binDir]).path);
  return {
    cluster,
    s3server,
    s3,
    bucket: 'backups',
    replicaBucket: 'replica',
    database,
    connection,
    realBinDir,
    query: async <T extends Record<string, unknown>>(sql: string, params?: unknown[]) =>
      (await client.query<T>(sql, params)).rows,
    dumpOptions: (extra = {}) => ({
      databaseId: 'app',
      connection,
      s3,
      bucket: 'backups',
      sslMode: 'disable',
      kmsKeyId: TEST_KMS_KEY,
      objectLockMode: 'COMPLIANCE',
      pgBinDirs: [realBinDir],
      ...extra,
    }),
    secretString: () =>
      JSON.stringify({
        engine: 'postgres',
        host: connection.host,
        port: connection.port,
        username: connection.user,
        password: connection.password,
        dbname: database,
      }),
    stop: async () => {
      await client.end().catch(() => undefined);
      await stopS3();
      await cluster.stop();
    },
  };
}

/** What the stand-in pg_dump does when asked to dump. */
export type StandIn =
  /** Writes the PGDMP magic and `bytes` random bytes, then exits with `code`. */
  | { readonly kind: 'exit'; readonly bytes: number; readonly code: number }
  /** Writes the PGDMP magic and `bytes` random bytes, then SIGKILLs itself. */
  | { readonly kind: 'killed'; readonly bytes: number }
  /** Writes exactly this many bytes starting with PGDMP (0 = nothing) and exits 0. */
  | { readonly kind: 'short'; readonly bytes: number }
  /** Writes text that is not an archive and exits 0. */
  | { readonly kind: 'not-archive' }
  /** Writes the magic and `bytes` random bytes, then sleeps (a dump that stalls). */
  | { readonly kind: 'stall'; readonly bytes: number; readonly seconds: number }
  /** Sleeps, then runs the real pg_dump with the same argv and environment. */
  | { readonly kind: 'delay-then-real'; readonly seconds: number };

export interface StandInOptions {
  /** Major reported by `--version`. @default - the real pg_dump's major */
  readonly major?: number;
  readonly realBinDir: string;
}

/** A fresh directory with a scripted `pg_dump` plus symlinks to the real pg_dumpall and pg_restore. */
export function makeStandInBinDir(behaviour: StandIn, options: StandInOptions): string {
  const real = findPgBinary('pg_dump', [options.realBinDir]);
  const major = options.major ?? real.major;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-standin-'));
  const random = (n: number) => (n > 0 ? `head -c ${n} /dev/urandom\n` : '');
  let body: string;
  switch (behaviour.kind) {
    case 'exit':
      body = `printf PGDMP\n${random(behaviour.bytes)}echo "pg_dump: error: simulated failure" >&2\nexit ${behaviour.code}\n`;
      break;
    case 'killed':
      body = `printf PGDMP\n${random(behaviour.bytes)}kill -9 $$\n`;
      break;
    case 'short':
      body =
        behaviour.bytes === 0
          ? 'exit 0\n'
          : `printf PGDMP\n${random(Math.max(0, behaviour.bytes - 5))}exit 0\n`;
      break;
    case 'not-archive':
      body =
        `echo "this is not a pg_dump archive, just some text that is long enough to pass the floor"\n`.repeat(
          20,
        ) + 'exit 0\n';
      break;
    case 'stall':
      body = `printf PGDMP\n${random(behaviour.bytes)}exec sleep ${behaviour.seconds}\n`;
      break;
    case 'delay-then-real':
      body = `sleep ${behaviour.seconds}\nexec "${real.path}" "$@"\n`;
      break;
  }
  const script =
    `#!/bin/sh\n` +
    `if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) ${major}.99 (restorable stand-in)"; exit 0; fi\n` +
    body;
  fs.writeFileSync(path.join(dir, 'pg_dump'), script, { mode: 0o755 });
  for (const tool of ['pg_dumpall', 'pg_restore']) {
    fs.symlinkSync(path.join(options.realBinDir, tool), path.join(dir, tool));
  }
  return dir;
}

/** An extension's files: `<name>.control` and `<name>--<version>.sql`. */
export interface ExtensionFiles {
  readonly name: string;
  readonly version: string;
  readonly control: string;
  readonly sql: string;
}

export interface Installation {
  /** The copy's bin directory (for startLocalCluster / startHarness `binDir`). */
  readonly binDir: string;
  remove(): void;
}

/**
 * A copy of the installed PostgreSQL server (hard links: no disk, no time) that also offers
 * `extensions`, for a source database whose extension another cluster does not offer (Supabase's
 * pgsodium on an RDS drill target). PostgreSQL finds its share and lib directories relative to
 * its binary, so the copy keeps the installation's layout under a temporary root.
 */
export function installationWithExtensions(extensions: readonly ExtensionFiles[]): Installation {
  const realBin = path.dirname(findPgBinary('initdb', undefined).path);
  const config = (flag: string) =>
    execFileSync(path.join(realBin, 'pg_config'), [flag], { encoding: 'utf8' }).trim();
  const dirs = [realBin, config('--sharedir'), config('--pkglibdir')];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-pginst-'));
  fs.chmodSync(root, 0o755);
  for (const dir of new Set(dirs.map((d) => (d === realBin ? path.dirname(d) : d)))) {
    fs.mkdirSync(path.join(root, path.dirname(dir)), { recursive: true, mode: 0o755 });
    if (!fs.existsSync(path.join(root, dir))) execFileSync('cp', ['-al', dir, path.join(root, dir)]);
  }
  const extDir = path.join(root, config('--sharedir'), 'extension');
  for (const x of extensions) {
    // New files only: the copy's other files are hard links to the real installation's.
    fs.writeFileSync(path.join(extDir, `${x.name}.control`), x.control, { mode: 0o644 });
    fs.writeFileSync(path.join(extDir, `${x.name}--${x.version}.sql`), x.sql, { mode: 0o644 });
  }
  return {
    binDir: path.join(root, realBin),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

/** A logger that keeps every line (message and extras) as JSON, for secret scans and assertions. */
export function recordingLogger(): CoreLogger & { lines: string[] } {
  const lines: string[] = [];
  const rec =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]) =>
      lines.push(JSON.stringify({ level, message, extra }));
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** Runs `fn` with a client connected to `database` on the cluster, always closing it. */
export async function onDatabase<T>(
  cluster: LocalCluster,
  database: string,
  fn: (c: Client) => Promise<T>,
): Promise<T> {
  const c = new Client(cluster.connection(database));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Table label → count(*), for every ordinary table and partition in the given database. */
export async function liveCounts(cluster: LocalCluster, database: string): Promise<Record<string, number>> {
  return onDatabase(cluster, database, async (c) => {
    const { rows } = await c.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
    );
    const out: Record<string, number> = {};
    for (const r of rows) {
      const res = await c.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM ONLY ${quoteIdent(r.schema)}.${quoteIdent(r.name)}`,
      );
      out[`${r.schema}.${r.name}`] = Number(res.rows[0].n);
    }
    return out;
  });
}

/**
 * Relations, schemas and roles of a database as one sorted string: whatever a refused restore must
 * leave exactly as it was.
 */
export async function objectFingerprint(cluster: LocalCluster, database: string): Promise<string> {
  return onDatabase(cluster, database, async (c) => {
    const { rows } = await c.query<{ x: string }>(
      `SELECT string_agg(x, ',' ORDER BY x) AS x FROM (
         SELECT 'rel:' || n.nspname || '.' || c.relname AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
         UNION ALL SELECT 'ns:' || nspname FROM pg_namespace
         UNION ALL SELECT 'role:' || rolname FROM pg_roles) s`,
    );
    return rows[0].x;
  });
}

/** Whether anything accepts TCP connections on a loopback port. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
