/**
 * A backup must never wedge production (TESTING 19). A migration's `ALTER TABLE` (no
 * lock_timeout, as migration tools run it) and an application query queued behind it, against a
 * many-table database while a backup runs:
 * - between the counts and pg_dump's start, nothing of ours holds a table lock, so the ALTER
 *   does not wait at all (the old exporter-counts design held ACCESS SHARE on every table here,
 *   and pg_dump then queued behind the ALTER: a cycle through our process);
 * - while pg_dump holds its locks, the ALTER and the query behind it finish within seconds of the
 *   dump's end;
 * - a migration that keeps its lock: pg_dump gives up after `--lock-wait-timeout`, LOCK_TIMEOUT.
 * Deterministic: a pg_dump stand-in gated on files, and pg_locks polled for who waits on whom.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { BackupError, dumpDatabase } from '../../lambda/core/dump';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { startHarness, type Harness } from '../support/harness';

jest.setTimeout(120_000);

const TABLES = 60;
/** The application_name the backup gives pg_dump's session. */
const PG_DUMP = 'restorable-pg_dump';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ seed: false });
  await h.query('CREATE SCHEMA mig');
  for (let i = 1; i <= TABLES; i++) {
    await h.query(`CREATE TABLE mig.t${i} (id int PRIMARY KEY, v text)`);
    await h.query(`INSERT INTO mig.t${i} SELECT g, 'row ' || g FROM generate_series(1, 20) g`);
  }
  // Enough incompressible-ish data that pg_dump blocks on a full pipe while our gate is shut.
  await h.query(
    `CREATE TABLE mig.big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS v
     FROM generate_series(1, 60000) g`,
  );
});

afterAll(async () => {
  await h?.stop();
});

/** A pg_dump that waits for `go1` before starting and holds its output until `go2`. */
function gatedPgDump(): { dir: string; gate: string } {
  const real = findPgBinary('pg_dump', [h.realBinDir]).path;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-gated-'));
  const gate = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-gate-'));
  const wait = (file: string) => `while [ ! -e "${gate}/${file}" ]; do sleep 0.02; done`;
  fs.writeFileSync(
    path.join(dir, 'pg_dump'),
    `#!/bin/sh
if [ "$1" = "--version" ]; then exec "${real}" --version; fi
touch "${gate}/started"
${wait('go1')}
( "${real}" "$@"; echo $? > "${gate}/rc" ) | { ${wait('go2')}; cat; }
exit $(cat "${gate}/rc")
`,
    { mode: 0o755 },
  );
  for (const tool of ['pg_dumpall', 'pg_restore']) {
    fs.symlinkSync(path.join(h.realBinDir, tool), path.join(dir, tool));
  }
  return { dir, gate };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the elapsed ms, or rejects when `p` takes longer than `ms`. */
async function within(what: string, p: Promise<unknown>, ms: number): Promise<number> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} still waiting after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
  return Date.now() - t0;
}

/** Relation locks on schema `mig`, with who holds or waits for them. */
async function migLocks() {
  return h.query<{ pid: number; app: string; rel: string; mode: string; granted: boolean }>(
    `SELECT l.pid, a.application_name AS app, c.relname AS rel, l.mode, l.granted
     FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE n.nspname = 'mig' AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()`,
  );
}

async function session(): Promise<{ c: Client; pid: number }> {
  const c = new Client(h.cluster.connection(h.database));
  await c.connect();
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  return { c, pid };
}

test('a migration and the queries behind it never wait on a cycle through the backup', async () => {
  const { dir, gate } = gatedPgDump();
  const backup = dumpDatabase(h.dumpOptions({ pgBinDirs: [dir] }));
  backup.catch(() => undefined);
  const migration = await session();
  const app = await session();
  try {
    // Counting is over and pg_dump has not started: the window where the old design deadlocked.
    await until('the counts to finish', async () => fs.existsSync(path.join(gate, 'started')));
    expect(await migLocks()).toEqual([]); // the exporting session holds no table lock
    const alterEarly = migration.c.query('ALTER TABLE mig.t7 ADD COLUMN added_early int');
    const queryEarly = app.c.query('SELECT count(*) FROM mig.t7');
    expect(
      await within('ALTER TABLE before pg_dump', Promise.all([alterEarly, queryEarly]), 5_000),
    ).toBeLessThan(5_000);

    // pg_dump runs and holds ACCESS SHARE on every table while its output is held back.
    fs.writeFileSync(path.join(gate, 'go1'), '');
    await until('pg_dump to lock mig.big', async () =>
      (await migLocks()).some((l) => l.app === PG_DUMP && l.rel === 'big' && l.granted),
    );
    const alterLate = migration.c.query('ALTER TABLE mig.big ADD COLUMN added_late int');
    await until('the ALTER to queue behind pg_dump', async () =>
      (await migLocks()).some((l) => l.pid === migration.pid && l.rel === 'big' && !l.granted),
    );
    const queryLate = app.c.query('SELECT count(*) FROM mig.big');
    await until('the application query to queue behind the ALTER', async () =>
      (await migLocks()).some((l) => l.pid === app.pid && l.rel === 'big' && !l.granted),
    );
    // Nothing but pg_dump (and the queue behind it) is involved: no session of ours holds a lock.
    const holders = new Set((await migLocks()).filter((l) => l.granted).map((l) => l.app));
    expect([...holders]).toEqual([PG_DUMP]);

    fs.writeFileSync(path.join(gate, 'go2'), '');
    await within('the backup', backup, 60_000);
    const afterDump = await within(
      'ALTER and query after the dump ended',
      Promise.all([alterLate, queryLate]),
      5_000,
    );
    expect(afterDump).toBeLessThan(5_000);
    const manifest = await backup;
    expect(manifest.tables.filter((t) => t.schema === 'mig')).toHaveLength(TABLES + 1);
    expect(manifest.pgDump.options).toContain('--lock-wait-timeout=60000');
  } finally {
    fs.writeFileSync(path.join(gate, 'go1'), '');
    fs.writeFileSync(path.join(gate, 'go2'), '');
    await backup.catch(() => undefined);
    await migration.c.end();
    await app.c.end();
  }
});

test('a migration that keeps its lock makes the backup give up with LOCK_TIMEOUT, not hang', async () => {
  const migration = await session();
  const app = await session();
  try {
    await migration.c.query('BEGIN');
    await migration.c.query('ALTER TABLE mig.t3 ADD COLUMN held int');
    const queued = app.c.query('SELECT count(*) FROM mig.t3');
    queued.catch(() => undefined);
    const started = Date.now();
    const err = await dumpDatabase(
      h.dumpOptions({ databaseId: 'locked', lockWaitTimeoutMs: 1_000, countLockTimeoutMs: 300 }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).reason).toBe('LOCK_TIMEOUT');
    expect((err as BackupError).message).toMatch(/lock-wait-timeout/);
    expect(Date.now() - started).toBeLessThan(20_000);
    // Nothing of the backup is left connected, and nothing was committed (the run's backup-id
    // claim stays: the dump role has no delete, the lifecycle rule expires claims).
    const ours = await h.query<{ app: string }>(
      `SELECT application_name AS app FROM pg_stat_activity
       WHERE application_name LIKE 'restorable%'`,
    );
    expect(ours).toEqual([]);
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: 'daily/locked/' }));
    // Only the id claim stays (claims are never released; listings ignore them): no archive, no manifest.
    const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
    expect(keys.filter((k) => !k.endsWith('.claim'))).toEqual([]);
    expect(keys).toHaveLength(1);
    // The migration commits; the application query behind it completes at once.
    await migration.c.query('COMMIT');
    await within('the application query after the migration', queued, 5_000);
  } finally {
    await migration.c.query('ROLLBACK').catch(() => undefined);
    await migration.c.end();
    await app.c.end();
  }
});
