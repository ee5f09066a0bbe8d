/**
 * The `restorable` operator CLI driven as a subprocess (`node bin/restorable.js ...`), exactly as
 * on-call would run it, against a real PostgreSQL cluster, the local S3 server and the real
 * pg_dump/pg_restore: backup, list, verify (clean and corrupted), full and table restores with row
 * counts checked in the target, refusals that change nothing, drills, one-line errors, help, the
 * demo, and Ctrl-C.
 *
 * Every CLI run gets a private TMPDIR, so "left nothing behind" (password files, downloaded
 * archives, throwaway clusters) is checked after each test without racing other test files.
 *
 * Tests do not depend on each other's order: the backups of `app` that list, verify, restore and
 * drill read are made once in beforeAll (through the core, as a scheduled run would), tests that
 * write backups use their own database ids, and every test creates the databases it restores into.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { listBackups } from '../../lambda/core/catalog';
import { dumpDatabase } from '../../lambda/core/dump';
import { freePort } from '../../lambda/core/local-cluster';
import type { Manifest } from '../../lambda/core/manifest';
import { restoreBackup } from '../../lambda/core/restore';
import { replicateLocally } from '../../src/local/replicate';
import {
  acceptsConnections,
  liveCounts,
  makeStandInBinDir,
  objectFingerprint,
  onDatabase as withDatabase,
  startHarness,
  type Harness,
} from '../support/harness';

const BIN = path.join(__dirname, '..', '..', 'bin', 'restorable.js');
/** Distinctive, and full of characters that URLs and .pgpass files must escape. */
const PASSWORD = 'cli-Secr3t:pw/with@chars%41';
const BUCKET = 'backups';

let h: Harness;
/** TMPDIR of every CLI run in this file (the demo tests use their own). */
let cliTmp: string;
let closedPort: number;
/** The backups of `app` every reading test uses: the year's first, then the month's (latest). */
let yearly: Manifest;
let monthly: Manifest;

interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface CliProcess {
  readonly child: ChildProcess;
  readonly output: () => { stdout: string; stderr: string };
  readonly done: Promise<CliRun>;
}

/** A private temporary directory the throwaway clusters' `postgres` user can traverse. */
function privateTmp(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-tmp-'));
  fs.chmodSync(dir, 0o755);
  // tsx keeps its compile cache in $TMPDIR/tsx-<uid>: share the usual one, so that each CLI run
  // does not compile every source file again (a speed-up only; a cold cache works too).
  const id = process.geteuid?.() ?? os.userInfo().username;
  const shared = path.join(os.tmpdir(), `tsx-${id}`);
  fs.mkdirSync(shared, { recursive: true });
  fs.symlinkSync(shared, path.join(dir, `tsx-${id}`));
  return dir;
}

/** What a CLI run left in its TMPDIR (tsx's own cache does not count). */
const leftovers = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((n) => n.startsWith('restorable-'))
    .sort();

function startCli(args: string[], options: { env?: Record<string, string | undefined>; tmp?: string } = {}) {
  const env: Record<string, string> = {};
  const merged: Record<string, string | undefined> = {
    ...process.env,
    // Nothing from this machine's PostgreSQL settings: each test says where a password comes from.
    PGPASSWORD: undefined,
    PGPASSFILE: path.join(cliTmp, 'no-such-pgpass'),
    RESTORABLE_PG_BIN_DIRS: undefined,
    ...h.s3server.env,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    TMPDIR: options.tmp ?? cliTmp,
    ...options.env,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, output: () => ({ stdout, stderr }) } satisfies CliProcess;
}

const cli = (args: string[], options?: Parameters<typeof startCli>[1]) => startCli(args, options).done;

/** Polls until `probe` returns something truthy; fails with `describe()` after `timeoutMs`. */
async function until<T>(probe: () => T | Promise<T>, timeoutMs: number, describe: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for a line on a running CLI's stdout or stderr; fails early if the CLI exits first. */
async function waitForOutput(
  p: CliProcess,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
  timeoutMs = 60_000,
) {
  let exited = false;
  void p.done.then(() => (exited = true));
  return until(
    () => {
      const m = pattern.exec(p.output()[stream]);
      if (!m && exited) throw new Error(`CLI exited before ${pattern}: ${JSON.stringify(p.output())}`);
      return m;
    },
    timeoutMs,
    () => `${pattern} in ${JSON.stringify(p.output())}`,
  );
}

/** A clear error: exactly one stderr line `restorable: error: ...`, nothing on stdout, the exit code. */
function expectOneLineError(run: CliRun, code: number, message: RegExp): void {
  expect(run).toMatchObject({ code, stdout: '' });
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^restorable: error: /);
  expect(lines[0]).toMatch(message);
}

/** The password in every form it could leak in: as typed, URL-encoded, .pgpass-escaped. */
function expectNoPassword(...texts: string[]): void {
  for (const text of texts) {
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD), PASSWORD.replace(/:/g, '\\:')]) {
      expect(text).not.toContain(form);
    }
  }
}

const urlWithoutPassword = (database: string, port = h.cluster.port) =>
  `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;

async function createDatabase(name: string): Promise<string> {
  await h.query(`CREATE DATABASE "${name}"`);
  return `${urlWithoutPassword(name)}?sslmode=disable`;
}

/** A new database holding `yearly` (whole, or only `tables`), restored through the core. */
async function restoredDatabase(name: string, tables?: string[]): Promise<string> {
  const url = await createDatabase(name);
  await restoreBackup(
    { s3: h.s3, bucket: BUCKET, manifest: yearly },
    { ...h.cluster.connection(name), sslMode: 'disable' },
    { tables },
  );
  return url;
}

const onDatabase = <T>(database: string, fn: (c: Client) => Promise<T>): Promise<T> =>
  withDatabase(h.cluster, database, fn);

/** Everything a refused restore must leave as it was: objects, roles, row counts, the orders' content. */
async function snapshot(database: string) {
  const orders = await onDatabase(database, (c) =>
    c.query<{ md5: string | null }>(
      `SELECT md5(string_agg(o::text, '|' ORDER BY o.id)) AS md5 FROM shop.orders o`,
    ),
  );
  return {
    objects: await objectFingerprint(h.cluster, database),
    orders: orders.rows[0].md5,
    counts: await liveCounts(h.cluster, database),
  };
}

async function readObject(key: string): Promise<string> {
  const res = await h.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return res.Body!.transformToString('utf8');
}

beforeAll(async () => {
  h = await startHarness({ password: PASSWORD });
  cliTmp = privateTmp();
  closedPort = await freePort();
  // Grandfather-father-son by first success: the first backup of the year, then of the month.
  yearly = await dumpDatabase(h.dumpOptions({ databaseId: 'app' }));
  // Backup ids are to the second: start the next one in a later second so the two ids differ.
  await new Promise((r) => setTimeout(r, 1010 - (Date.now() % 1000)));
  monthly = await dumpDatabase(h.dumpOptions({ databaseId: 'app' }));
  expect([yearly.tier, monthly.tier]).toEqual(['yearly', 'monthly']);
});

afterAll(async () => {
  await h?.stop();
  if (cliTmp) fs.rmSync(cliTmp, { recursive: true, force: true });
});

describe('restorable CLI against PostgreSQL and the local S3 server', () => {
  afterEach(() => {
    // No PGPASSFILE, downloaded archive or throwaway cluster outlives the command that made it.
    expect(leftovers(cliTmp)).toEqual([]);
  });

  test('--help for every command exits 0 and lists its options', async () => {
    const expected: Record<string, string[]> = {
      '': ['list', 'verify', 'backup', 'restore', 'drill', 'demo'],
      list: ['--db <id>', '--bucket <name>', '--stack <name>', '--tier <tier>', '--json', '--progress'],
      verify: [
        '--db <id>',
        '--bucket <name>',
        '--backup <id>',
        '--replica-bucket <name>',
        '--replica-region',
      ],
      backup: [
        '--db <id>',
        '--url <postgres-url>',
        '--tier <tier>',
        '--sslmode <mode>',
        '--ca-bundle <file>',
        '--preset <name>',
        '--dump-from <host[:port]>',
      ],
      restore: [
        '--backup <id>',
        '--target-url <postgres-url>',
        '--table <schema.name>',
        '--jobs <n>',
        '--force',
        '--clean',
        '--no-roles',
        '--json',
        '--progress',
      ],
      drill: [
        '--db <id>',
        '--local',
        '--replica-bucket <name>',
        '--checks <file>',
        '--rto-minutes <n>',
        '--json',
      ],
      demo: [
        '--small',
        '--keep',
        '--fleet <n>',
        '--max-concurrent-backups <n>',
        '--max-concurrent-drills <n>',
      ],
    };
    const runs = await Promise.all(
      Object.keys(expected).map((command) => cli(command ? [command, '--help'] : ['--help'])),
    );
    Object.values(expected).forEach((options, i) => {
      expect(runs[i]).toMatchObject({ code: 0, stderr: '' });
      for (const option of options) expect(runs[i].stdout).toContain(option);
    });
  });

  test('backup with the password only in PGPASSWORD writes a manifest that holds no password', async () => {
    const run = await cli(
      [
        'backup',
        '--db',
        'cli-pgpassword',
        '--bucket',
        BUCKET,
        '--url',
        urlWithoutPassword('app'),
        '--sslmode',
        'disable',
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    // The first backup of this database id this year: auto tier makes it the yearly.
    const m = /^backup (cli-pgpassword-\d{8}T\d{6}Z) written: yearly \d{4}/m.exec(run.stdout);
    expect(m).not.toBeNull();
    expect(run.stdout).toMatch(/11 tables, 5048 rows, /);
    const key = /^ {2}archive {2}(\S+)\.dump$/m.exec(run.stdout)![1];
    const manifestText = await readObject(`${key}.manifest.json`);
    const written = JSON.parse(manifestText) as Manifest;
    expect(written).toMatchObject({ backupId: m![1], databaseId: 'cli-pgpassword', tier: 'yearly' });
    expect(written.rowCounts.exact).toBe(true);
    expectNoPassword(run.stdout, run.stderr, manifestText);
  });

  test('backup with the password in the URL (--json, --progress, --tier) never echoes it', async () => {
    const run = await cli([
      'backup',
      '--db',
      'cli-url-password',
      '--bucket',
      BUCKET,
      '--url',
      `${h.cluster.url('app')}?sslmode=disable`,
      '--tier',
      'monthly',
      '--json',
      '--progress',
    ]);
    expect(run.code).toBe(0);
    const written = JSON.parse(run.stdout) as Manifest; // stdout is the manifest and nothing else
    expect(written).toMatchObject({ databaseId: 'cli-url-password', tier: 'monthly' });
    // Progress went to stderr: each phase of the dump, with the stored size.
    expect(run.stderr).toMatch(/^preflight ok \(/m);
    expect(run.stderr).toMatch(new RegExp(`^dump stored \\(.*bytes=${written.object.bytes}\\)$`, 'm'));
    const stored = await readObject(written.object.key.replace(/\.dump$/, '.manifest.json'));
    const globals = written.globals.present ? await readObject(written.globals.key) : '';
    expectNoPassword(run.stdout, run.stderr, stored, globals);
  });

  test('backup --preset supabase leaves the platform schemas out and keeps the auth data', async () => {
    const url = await createDatabase('cli_supabase');
    await onDatabase('cli_supabase', (c) =>
      c.query(`
        CREATE SCHEMA auth;
        CREATE TABLE auth.users (id int PRIMARY KEY, email text);
        INSERT INTO auth.users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 7) g;
        CREATE SCHEMA realtime;
        CREATE TABLE realtime.messages (id int PRIMARY KEY);
        INSERT INTO realtime.messages VALUES (1), (2);
        CREATE SCHEMA extensions;
        CREATE TABLE extensions.platform_state (k text);
        CREATE TABLE public.notes (id int PRIMARY KEY, user_id int REFERENCES auth.users);
        INSERT INTO public.notes VALUES (1, 1), (2, 3);
      `),
    );
    const backupArgs = ['backup', '--bucket', BUCKET, '--url', url, '--json'];
    const [withPreset, without] = await Promise.all([
      cli([...backupArgs, '--db', 'cli-supabase', '--preset', 'supabase'], { env: { PGPASSWORD: PASSWORD } }),
      cli([...backupArgs, '--db', 'cli-supabase-plain'], { env: { PGPASSWORD: PASSWORD } }),
    ]);
    expect(withPreset).toMatchObject({ code: 0 });
    expect(without).toMatchObject({ code: 0 });
    const labels = (m: Manifest) =>
      Object.fromEntries(m.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    const m = JSON.parse(withPreset.stdout) as Manifest;
    expect(m.preset).toBe('supabase');
    expect(m.schemas.exclude).toEqual(expect.arrayContaining(['realtime', 'extensions']));
    expect(labels(m)).toEqual({ 'auth.users': 7, 'public.notes': 2 });
    // The same database without the preset: the platform's tables are there (the preset did it).
    const plain = JSON.parse(without.stdout) as Manifest;
    expect(plain.preset).toBeUndefined();
    expect(labels(plain)).toMatchObject({ 'realtime.messages': 2, 'extensions.platform_state': 0 });
    // The archive agrees with the manifest: the catalog lists no realtime table, the auth rows are in.
    const restoredUrl = await createDatabase('cli_supabase_restored');
    const restore = await cli(
      [
        'restore',
        '--db',
        'cli-supabase',
        '--bucket',
        BUCKET,
        '--backup',
        m.backupId,
        '--target-url',
        restoredUrl,
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expect(restore.code).toBe(0);
    expect(await liveCounts(h.cluster, 'cli_supabase_restored')).toEqual({
      'auth.users': 7,
      'public.notes': 2,
    });
  });

  test('backup --dump-from checks the server it names is a standby, and refuses one that is not', async () => {
    const run = await cli(
      [
        'backup',
        '--db',
        'cli-dump-from',
        '--bucket',
        BUCKET,
        '--url',
        `${urlWithoutPassword('app')}?sslmode=disable`,
        '--dump-from',
        `127.0.0.1:${h.cluster.port}`,
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    // The harness has no standby: the dump connected to the --dump-from server (the primary itself)
    // and its standby check refused it. Had --dump-from been ignored, the backup would succeed.
    expectOneLineError(run, 1, new RegExp(`dumpFrom 127\\.0\\.0\\.1:${h.cluster.port} is not a standby`));
  });

  test('list prints a table of the backups, newest first, and --json for machines', async () => {
    const [human, json] = await Promise.all([
      cli(['list', '--db', 'app', '--bucket', BUCKET]),
      cli(['list', '--db', 'app', '--bucket', BUCKET, '--json']),
    ]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^BACKUP\s+TIER\s+PERIOD\s+SIZE\s+TABLES\s+CREATED \(UTC\)\s+STORAGE\s+STATUS\s+DRILLED$/,
    );
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      [monthly.backupId, 'monthly'],
      [yearly.backupId, 'yearly'],
    ]);
    expect(lines.slice(2).every((l) => / 11 .* STANDARD +valid +-$/.test(l))).toBe(true); // not drilled yet

    expect(json.code).toBe(0);
    const entries = JSON.parse(json.stdout) as { backupId: string; bytes: number; valid: boolean }[];
    expect(entries).toEqual([
      expect.objectContaining({ backupId: monthly.backupId, bytes: monthly.object.bytes, valid: true }),
      expect.objectContaining({ backupId: yearly.backupId, bytes: yearly.object.bytes, valid: true }),
    ]);
  });

  test('verify of an intact backup passes every check and exits 0', async () => {
    const [human, json] = await Promise.all([
      cli(['verify', '--db', 'app', '--bucket', BUCKET, '--backup', yearly.backupId]),
      cli(['verify', '--db', 'app', '--bucket', BUCKET, '--json']), // latest
    ]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toContain(`backup ${yearly.backupId}: OK`);
    expect(human.stdout).toMatch(new RegExp(`^checksum\\s+pass\\s+sha256 ${yearly.object.sha256}$`, 'm'));
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as { backupId: string; ok: boolean; checks: { status: string }[] };
    expect(result).toMatchObject({ backupId: monthly.backupId, ok: true });
    expect(result.checks.map((c) => c.status)).not.toContain('fail');
  });

  test('verify checks the replica copy: missing fails naming the region, present passes', async () => {
    // A backup of its own, so that no other test's replication can make the copy present early.
    const m = await dumpDatabase(h.dumpOptions({ databaseId: 'cli-replica' }));
    const args = ['verify', '--db', 'cli-replica', '--bucket', BUCKET, '--backup', m.backupId, '--json'];
    const replicaArgs = [...args, '--replica-bucket', h.replicaBucket, '--replica-region', 'eu-west-1'];
    const missing = await cli(replicaArgs);
    expect(missing.code).toBe(1);
    const replicaCheck = (run: CliRun) =>
      (JSON.parse(run.stdout) as { checks: { name: string; code?: string; detail: string }[] }).checks.find(
        (c) => c.name === 'replica',
      );
    expect(replicaCheck(missing)).toMatchObject({
      code: 'REPLICA_MISSING',
      detail: expect.stringContaining('eu-west-1'),
    });

    await replicateLocally(h.s3, BUCKET, h.replicaBucket, `${m.tier}/cli-replica/`);
    const present = await cli(replicaArgs);
    expect(present.code).toBe(0);
    expect(replicaCheck(present)).toMatchObject({ status: 'pass' });
  });

  test('restore into a new empty database restores every row the manifest counted (--json, --progress)', async () => {
    const url = await createDatabase('restored_full');
    const run = await cli(
      ['restore', '--db', 'app', '--bucket', BUCKET, '--backup', yearly.backupId, '--target-url', url],
      { env: { PGPASSWORD: PASSWORD } },
    );
    // Human output here; --json, --jobs and --progress on a second fresh target below.
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(
      new RegExp(
        `^restored ${yearly.backupId} \\(whole database\\) into postgres://postgres@127\\.0\\.0\\.1:\\d+/restored_full `,
      ),
    );
    expect(run.stdout).toMatch(/^"Mixed Case"\."Audit Log"\s+25\s+25\s+ok$/m);
    expect(run.stdout).toMatch(/^row counts match the manifest$/m);

    const jsonUrl = await createDatabase('restored_json');
    const json = await cli(
      [
        'restore',
        '--db',
        'app',
        '--bucket',
        BUCKET,
        '--backup',
        'latest',
        '--target-url',
        jsonUrl,
        '--jobs',
        '2',
        '--json',
        '--progress',
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as {
      backupId: string;
      mode: string;
      jobs: number;
      mismatches: number;
      tables: { schema: string; name: string; expected: number; restored: number }[];
    };
    expect(result).toMatchObject({ backupId: monthly.backupId, mode: 'full', jobs: 2, mismatches: 0 });
    const manifestRows = Object.fromEntries(monthly.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    expect(Object.fromEntries(result.tables.map((t) => [`${t.schema}.${t.name}`, t.restored]))).toEqual(
      manifestRows,
    );
    expect(result.tables.every((t) => t.expected === t.restored)).toBe(true);

    // And in the targets themselves, counted independently: every leaf table as in the manifest.
    const leaves = Object.fromEntries(
      monthly.tables.filter((t) => t.kind === 'r').map((t) => [`${t.schema}.${t.name}`, t.rows]),
    );
    expect(await liveCounts(h.cluster, 'restored_json')).toEqual(leaves);
    expect(await liveCounts(h.cluster, 'restored_full')).toEqual(
      Object.fromEntries(
        yearly.tables.filter((t) => t.kind === 'r').map((t) => [`${t.schema}.${t.name}`, t.rows]),
      ),
    );
    expect(await liveCounts(h.cluster, 'restored_full')).toEqual(await liveCounts(h.cluster, h.database));

    // Progress on stderr: bytes downloaded and TOC entries restored, through to the end.
    const size = (monthly.object.bytes / 1024).toFixed(1);
    expect(json.stderr).toMatch(new RegExp(`^downloading ${size} KiB / ${size} KiB$`, 'm'));
    const toc = [...json.stderr.matchAll(/^restoring: (\d+)\/(\d+) TOC entries/gm)];
    expect(toc.length).toBeGreaterThan(0);
    expect(toc[toc.length - 1][1]).toBe(toc[toc.length - 1][2]);
    expectNoPassword(run.stdout, run.stderr, json.stdout, json.stderr);
  });

  test('--table restores one table, and tables with hostile names, into an empty database', async () => {
    const ordersUrl = await createDatabase('restored_orders');
    const orders = await cli(
      [
        'restore',
        '--db',
        'app',
        '--bucket',
        BUCKET,
        '--backup',
        yearly.backupId,
        '--target-url',
        ordersUrl,
        '--table',
        'shop.orders',
        '--json',
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expect(orders.code).toBe(0);
    expect(JSON.parse(orders.stdout)).toMatchObject({
      mode: 'tables',
      mismatches: 0,
      tables: [{ schema: 'shop', name: 'orders', expected: 900, restored: 900 }],
    });
    expect(await liveCounts(h.cluster, 'restored_orders')).toEqual({ 'shop.orders': 900 });

    // A quoted name and a plain schema.name holding a quote, a semicolon and a comment marker.
    const hostileUrl = await createDatabase('restored_hostile');
    const hostile = await cli(
      [
        'restore',
        '--db',
        'app',
        '--bucket',
        BUCKET,
        '--backup',
        yearly.backupId,
        '--target-url',
        hostileUrl,
        '--table',
        '"Mixed Case"."Audit Log"',
        '--table',
        'Mixed Case.x"; DROP TABLE shop.products;--',
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expect(hostile).toMatchObject({ code: 0, stderr: '' });
    expect(hostile.stdout).toMatch(/^restored \S+ \(2 table\(s\)\) into /);
    expect(hostile.stdout).toMatch(/^"Mixed Case"\."Audit Log"\s+25\s+25\s+ok$/m);
    expect(hostile.stdout).toMatch(/^"Mixed Case"\."x""; DROP TABLE shop\.products;--"\s+3\s+3\s+ok$/m);
    expect(await liveCounts(h.cluster, 'restored_hostile')).toEqual({
      'Mixed Case.Audit Log': 25,
      'Mixed Case.x"; DROP TABLE shop.products;--': 3,
    });
    // The source is untouched by all of this (nothing executed that was not meant to).
    expect((await liveCounts(h.cluster, h.database))['shop.products']).toBe(40);
  });

  test('restore refuses a non-empty target without --force and changes nothing (TESTING 18)', async () => {
    await restoredDatabase('refused_full');
    const before = await snapshot('refused_full');
    const run = await cli(
      [
        'restore',
        '--db',
        'app',
        '--bucket',
        BUCKET,
        '--backup',
        'latest',
        '--target-url',
        `${urlWithoutPassword('refused_full')}?sslmode=disable`,
      ],
      { env: { PGPASSWORD: PASSWORD } },
    );
    expectOneLineError(
      run,
      1,
      /target postgres:\/\/postgres@127\.0\.0\.1:\d+\/refused_full is not empty \(.*pass --force/,
    );
    expect(await snapshot('refused_full')).toEqual(before);

    // A table restore never touches a table that is there: the copy goes beside it...
    await restoredDatabase('refused_orders', ['shop.orders']);
    await onDatabase('refused_orders', (c) => c.query(`DELETE FROM shop.orders WHERE id > 500`));
    const ordersBefore = await snapshot('refused_orders');
    const tableArgs = [
      'restore',
      '--db',
      'app',
      '--bucket',
      BUCKET,
      '--backup',
      yearly.backupId,
      '--target-url',
      `${urlWithoutPassword('refused_orders')}?sslmode=disable`,
      '--table',
      'shop.orders',
    ];
    const beside = await cli(tableArgs, { env: { PGPASSWORD: PASSWORD } });
    expect(beside).toMatchObject({ code: 0, stderr: '' });
    const side = /copy is in schema (restorable_restore_\d{8}_\d{6}):/.exec(beside.stdout)?.[1];
    expect(side).toBeDefined();
    expect(beside.stdout).toMatch(/--replace[\s\S]*DROP SCHEMA/);
    const after = await snapshot('refused_orders');
    expect(after.orders).toBe(ordersBefore.orders);
    expect(after.counts).toEqual({ ...ordersBefore.counts, [`${side}.orders`]: 900 });
    await onDatabase('refused_orders', (c) => c.query(`DROP SCHEMA ${side} CASCADE`));

    // ...--force is for whole databases...
    const forced = await cli([...tableArgs, '--force'], { env: { PGPASSWORD: PASSWORD } });
    expectOneLineError(forced, 2, /--force is for a whole-database restore.*--replace/);
    expect(await snapshot('refused_orders')).toEqual(ordersBefore);

    // ...and --replace swaps it in.
    const replaced = await cli([...tableArgs, '--replace'], { env: { PGPASSWORD: PASSWORD } });
    expect(replaced).toMatchObject({ code: 0, stderr: '' });
    expect(replaced.stdout).toMatch(/replaced "shop"\."orders" in one transaction/);
    expect(await liveCounts(h.cluster, 'refused_orders')).toEqual({ 'shop.orders': 900 });
  });

  test('drill --local restores into a throwaway cluster, passes its checks and prints the report', async () => {
    const [human, json] = await Promise.all([
      cli(['drill', '--db', 'app', '--bucket', BUCKET, '--local']),
      cli(['drill', '--db', 'app', '--bucket', BUCKET, '--local', '--json']),
    ]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^drill app-drill-\S+: PASSED$/m);
    expect(human.stdout).toMatch(
      new RegExp(`^ {2}backup {5}${monthly.backupId} \\(primary bucket ${BUCKET}\\)$`, 'm'),
    );
    expect(human.stdout).toMatch(/^ {2}checks {5}\d+ passed, 0 failed$/m);
    expect(human.stdout).toMatch(/^ {2}ephemeral {2}\S+ released$/m);

    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      status: string;
      backupId: string;
      reportKey: string;
      checks: { failed: number; passed: number };
      ephemeral: { released: boolean };
    };
    expect(report).toMatchObject({
      status: 'PASSED',
      backupId: monthly.backupId,
      checks: { failed: 0 },
      ephemeral: { released: true },
    });
    expect(report.checks.passed).toBeGreaterThan(11); // a row count per table, catalog counts, RLS
    const stored = await h.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: report.reportKey }));
    expect(stored.ContentLength).toBeGreaterThan(0);

    // list says where the drilled backup was proven to restore.
    const listed = await cli(['list', '--db', 'app', '--bucket', BUCKET]);
    const drilled = listed.stdout.split('\n').find((l) => l.startsWith(monthly.backupId));
    expect(drilled).toMatch(new RegExp(` valid +PASSED pg${monthly.source.serverMajor} local$`));
  });

  test('a flipped byte fails verify with a checksum mismatch and restore refuses it, target untouched', async () => {
    const file = h.s3server.objectPath(BUCKET, yearly.object.key);
    const original = fs.readFileSync(file);
    const url = await createDatabase('restored_corrupt');
    try {
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 2)] ^= 0xff;
      fs.writeFileSync(file, flipped);

      const [verify, restore] = await Promise.all([
        cli(['verify', '--db', 'app', '--bucket', BUCKET, '--backup', yearly.backupId]),
        cli(
          ['restore', '--db', 'app', '--bucket', BUCKET, '--backup', yearly.backupId, '--target-url', url],
          {
            env: { PGPASSWORD: PASSWORD },
          },
        ),
      ]);
      expect(verify).toMatchObject({ code: 1, stderr: '' });
      expect(verify.stdout).toContain(`backup ${yearly.backupId}: FAILED`);
      expect(verify.stdout).toMatch(
        /^checksum\s+fail \(CHECKSUM_MISMATCH\)\s+.*manifest says [0-9a-f]{64}$/m,
      );
      expect(verify.stdout).toMatch(/^size\s+pass /m);

      expectOneLineError(restore, 1, /SHA-256 mismatch .*the target was not touched/);
      expect(await liveCounts(h.cluster, 'restored_corrupt')).toEqual({});
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  test('appended bytes fail verify with a size mismatch, distinct from the checksum error', async () => {
    const file = h.s3server.objectPath(BUCKET, yearly.object.key);
    const original = fs.readFileSync(file);
    try {
      fs.writeFileSync(file, Buffer.concat([original, Buffer.from('XXXX')]));
      const run = await cli([
        'verify',
        '--db',
        'app',
        '--bucket',
        BUCKET,
        '--backup',
        yearly.backupId,
        '--json',
      ]);
      expect(run).toMatchObject({ code: 1, stderr: '' });
      const result = JSON.parse(run.stdout) as {
        ok: boolean;
        checks: { name: string; status: string; code?: string }[];
      };
      expect(result.ok).toBe(false);
      expect(result.checks.find((c) => c.name === 'size')).toMatchObject({
        status: 'fail',
        code: 'SIZE_MISMATCH',
      });
      // The checksum is not judged once the size differs: skipped, with no error code of its own.
      const checksum = result.checks.find((c) => c.name === 'checksum');
      expect(checksum).toMatchObject({ status: 'skipped' });
      expect(checksum?.code).toBeUndefined();
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  test('errors are one clear line on stderr: exit 1 for failures, 2 for a wrong command line', async () => {
    const emptyUrl = await createDatabase('restored_never');
    const store = ['--db', 'app', '--bucket', BUCKET];
    const cases: [string[], number, RegExp][] = [
      [
        ['list', '--db', 'app', '--bucket', 'no-such-bucket'],
        1,
        /bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/,
      ],
      [
        ['verify', ...store, '--backup', 'app-20000101T000000Z'],
        1,
        /backup app-20000101T000000Z not found for database app in bucket backups$/,
      ],
      [
        // Unreachable, with the password in the URL: the message names the database, not the password.
        [
          'backup',
          ...store,
          '--url',
          `postgres://postgres:${encodeURIComponent(PASSWORD)}@127.0.0.1:${closedPort}/app?sslmode=disable`,
        ],
        1,
        new RegExp(
          `cannot connect to database postgres://postgres@127\\.0\\.0\\.1:${closedPort}/app: connect ECONNREFUSED`,
        ),
      ],
      [
        [
          'restore',
          ...store,
          '--backup',
          'latest',
          '--target-url',
          `${urlWithoutPassword('x', closedPort)}?sslmode=disable`,
        ],
        1,
        new RegExp(
          `cannot connect to target postgres://postgres@127\\.0\\.0\\.1:${closedPort}/x: connect ECONNREFUSED`,
        ),
      ],
      [['list', ...store, '--frobnicate'], 2, /unknown option '--frobnicate'/],
      [['list', '--bucket', BUCKET], 2, /required option '--db <id>' not specified/],
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [['drill', ...store], 2, /only --local drills run from the CLI/],
      [
        // A mistyped flag carrying a URL with a password: commander echoes the flag, we hide the password.
        ['list', ...store, `--urll=postgres://postgres:${encodeURIComponent(PASSWORD)}@127.0.0.1/app`],
        2,
        /unknown option '--urll=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1\/app'/,
      ],
      [
        ['backup', ...store, '--url', 'mysql://127.0.0.1/app'],
        2,
        /--url: connection URL scheme must be postgres:\/\//,
      ],
      [
        ['backup', ...store, '--url', emptyUrl, '--tier', 'hourly'],
        2,
        /--tier must be auto or one of yearly, monthly, weekly, daily, adhoc \(got hourly\)/,
      ],
      [
        ['backup', ...store, '--url', emptyUrl, '--preset', 'supabse'],
        2,
        /--preset must be supabase \(got supabse\)/,
      ],
      [
        ['backup', ...store, '--url', emptyUrl, '--dump-from', 'replica.internal:99999'],
        2,
        /--dump-from must be host or host:port with a port of 1-65535 \(got replica\.internal:99999\)/,
      ],
      [
        ['restore', ...store, '--backup', 'latest', '--target-url', emptyUrl, '--jobs', '0'],
        2,
        /--jobs must be a positive integer \(got 0\)/,
      ],
      [
        ['restore', ...store, '--backup', 'latest', '--target-url', emptyUrl, '--clean'],
        2,
        /--clean .* add --force/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args, { env: { PGPASSWORD: PASSWORD } })));
    runs.forEach((run, i) => {
      const [args, code, message] = cases[i];
      try {
        expectOneLineError(run, code, message);
      } catch (e) {
        throw new Error(`restorable ${args.join(' ')}: ${(e as Error).message}`);
      }
      expectNoPassword(run.stderr);
    });
    // None of them touched the target they were given.
    expect(await liveCounts(h.cluster, 'restored_never')).toEqual({});
  });

  test('a password-protected server with no password given says where to put one', async () => {
    await createDatabase('restored_nopassword');
    const run = await cli([
      'restore',
      '--db',
      'app',
      '--bucket',
      BUCKET,
      '--backup',
      'latest',
      '--target-url',
      `${urlWithoutPassword('restored_nopassword')}?sslmode=disable`,
    ]);
    expectOneLineError(
      run,
      1,
      /cannot connect to target .*: .*none was given: set PGPASSWORD, add it to ~\/\.pgpass/,
    );
  });

  test('Ctrl-C during a backup aborts the upload, writes no manifest and removes the password file', async () => {
    // A pg_dump that writes more than one multipart part, then hangs: the upload is open. (zstd
    // holds back up to a job of input, several MiB, before it emits: random bytes well past that.)
    const standIn = makeStandInBinDir(
      { kind: 'stall', bytes: 24 * 1024 * 1024, seconds: 120 },
      { realBinDir: h.realBinDir },
    );
    try {
      const p = startCli(
        [
          'backup',
          '--db',
          'cli-interrupted',
          '--bucket',
          BUCKET,
          '--url',
          urlWithoutPassword('app'),
          '--sslmode',
          'disable',
          '--tier',
          'daily',
        ],
        { env: { PGPASSWORD: PASSWORD, RESTORABLE_PG_BIN_DIRS: standIn } },
      );
      await until(
        () => h.s3server.pendingUploads(BUCKET).length > 0,
        60_000,
        () => `a multipart upload; CLI output ${JSON.stringify(p.output())}`,
      );
      expect(leftovers(cliTmp).some((n) => n.startsWith('restorable-pgpass-'))).toBe(true);
      p.child.kill('SIGINT');
      const run = await p.done;
      expect(run.code).toBe(130);
      expect(run.stderr).toMatch(
        /^restorable: error: backup interrupted: .* not written \(upload aborted, no manifest\)$/m,
      );
      expect(h.s3server.pendingUploads(BUCKET)).toEqual([]);
      // Not even an invalid (manifest-less) entry: no dump object was completed either.
      expect(await listBackups(h.s3, BUCKET, 'cli-interrupted', { includeInvalid: true })).toEqual([]);
    } finally {
      fs.rmSync(standIn, { recursive: true, force: true });
    }
  });
});

describe('restorable demo', () => {
  test('demo --small runs backup, verify and drill end to end, then removes everything it started', async () => {
    const tmp = privateTmp();
    try {
      expect(leftovers(tmp)).toEqual([]);
      const run = await cli(['demo', '--small'], { tmp, env: { AWS_ENDPOINT_URL_S3: undefined } });
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/verify: OK/);
      expect(run.stdout).toMatch(/drill demo-shop-drill-\S+: PASSED/);
      expect(run.stdout).toMatch(/cleaned up: clusters stopped and removed, S3 server stopped/);
      expect(leftovers(tmp)).toEqual([]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('Ctrl-C on demo --keep stops the cluster and the S3 server and removes their directories', async () => {
    const tmp = privateTmp();
    try {
      const p = startCli(['demo', '--keep', '--small'], { tmp, env: { AWS_ENDPOINT_URL_S3: undefined } });
      await waitForOutput(p, 'stdout', /^kept running: .*Ctrl-C to clean up$/m);
      const { stdout } = p.output();
      const s3Port = Number(/local S3 server on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
      const pgPort = Number(/source PostgreSQL \d+ on 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
      expect(stdout).toMatch(/kept running: source postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/shop;/);
      const started = leftovers(tmp);
      expect(started).toEqual([
        expect.stringMatching(/^restorable-pg-/),
        expect.stringMatching(/^restorable-s3-/),
      ]);
      expect(await acceptsConnections(pgPort)).toBe(true);
      expect(await acceptsConnections(s3Port)).toBe(true);
      // The operator can connect through a 0600 pgpass file; the password itself is never printed.
      const pgpass = /connect with: PGPASSFILE=(\S+) psql /.exec(stdout)![1];
      expect(fs.statSync(pgpass).mode & 0o777).toBe(0o600);
      const [host, port, , user, password] = fs.readFileSync(pgpass, 'utf8').trim().split(':');
      expect({ host, port: Number(port), user }).toEqual({
        host: '127.0.0.1',
        port: pgPort,
        user: 'postgres',
      });
      expect(stdout).not.toContain(password);
      const client = new Client({ host, port: pgPort, user, password, database: 'shop' });
      await client.connect();
      expect((await client.query('SELECT count(*)::int AS n FROM shop.products')).rows[0].n).toBeGreaterThan(
        0,
      );
      await client.end();

      p.child.kill('SIGINT');
      const run = await p.done;
      expect(run.code).toBe(130);
      expect(run.stderr).toContain('restorable: SIGINT: cleaning up');
      expect(leftovers(tmp)).toEqual([]);
      expect(fs.existsSync(pgpass)).toBe(false);
      expect(await acceptsConnections(pgPort)).toBe(false);
      expect(await acceptsConnections(s3Port)).toBe(false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
