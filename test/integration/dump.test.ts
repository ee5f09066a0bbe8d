/**
 * The streaming dump against real PostgreSQL, real pg_dump/pg_restore and a local S3 server:
 * snapshot consistency under concurrent writes (TESTING 17), overlapping runs (15), and the
 * secret scan over argv, child environments, logs, manifests, handler output and errors (9).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { decompressedArchive } from '../../lambda/core/compression';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { Client } from 'pg';
import { listBackups } from '../../lambda/core/catalog';
import { BackupError, dumpDatabase } from '../../lambda/core/dump';
import { catalogCounts } from '../../lambda/core/inventory';
import { parseManifest, tableLabel, type Manifest } from '../../lambda/core/manifest';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { libpqEnv, withPgPassFile } from '../../lambda/core/secrets';
import { verifyBackup } from '../../lambda/core/verify';
import { handler as dumpHandler } from '../../lambda/handlers/dump';
import { captureOutput, setEnv } from '../support/handler-io';
import {
  liveCounts,
  makeStandInBinDir,
  recordingLogger,
  startHarness,
  TEST_KMS_KEY,
  type Harness,
} from '../support/harness';

const execFileAsync = promisify(execFile);
jest.setTimeout(120_000);

/** Contains the characters .pgpass must escape (`:` and `\`) and quotes. */
const PASSWORD = 'Rst0r4ble:Pa\\ss-"q\'-SECRET-9f3b7e';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ password: PASSWORD });
});

afterAll(async () => {
  await h?.stop();
});

/** The plain custom archive of a stored object (zstd-wrapped by default), as pg_restore reads it. */
async function download(key: string, file: string): Promise<void> {
  const out = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
  await pipeline(decompressedArchive(out.Body as Readable), fs.createWriteStream(file));
}

async function restoreInto(database: string, archive: string): Promise<void> {
  const admin = new Client(h.cluster.connection());
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const pgRestore = findPgBinary('pg_restore', [h.realBinDir]).path;
  await withPgPassFile(h.cluster.connection(database), async (passFile) => {
    const env = libpqEnv(h.cluster.connection(database), { sslMode: 'disable' }, passFile);
    await execFileAsync(pgRestore, ['--exit-on-error', '--no-password', `--dbname=${database}`, archive], {
      env,
    });
  });
}

describe('dumpDatabase', () => {
  test('manifest counts equal the dump snapshot while writes continue; the restore equals the manifest', async () => {
    // pg_dump starts 1.5 s after the snapshot was exported: without --snapshot it would see the
    // rows the writer adds meanwhile, and the restore would not match the manifest.
    const slowStart = makeStandInBinDir(
      { kind: 'delay-then-real', seconds: 1.5 },
      { realBinDir: h.realBinDir },
    );
    const writer = new Client(h.cluster.connection(h.database));
    await writer.connect();
    let stop = false;
    let inserted = 0;
    const writes = (async () => {
      while (!stop) {
        await writer.query(`INSERT INTO shop.orders (customer_id, status) VALUES (1, 'paid')`);
        await writer.query(
          `INSERT INTO shop.events (occurred_at, kind) VALUES ('2026-11-05', 'during-dump')`,
        );
        await writer.query(`INSERT INTO "Mixed Case"."Audit Log" ("Message") VALUES ('during dump')`);
        inserted++;
      }
    })();
    let manifest: Manifest;
    try {
      await new Promise((r) => setTimeout(r, 100));
      manifest = await dumpDatabase(h.dumpOptions({ pgBinDirs: [slowStart] }));
    } finally {
      stop = true;
      await writes;
      await writer.end();
    }
    expect(inserted).toBeGreaterThan(10);

    // The manifest describes the realistic schema.
    const byLabel = Object.fromEntries(manifest.tables.map((t) => [tableLabel(t), t]));
    expect(Object.keys(byLabel).sort()).toEqual(
      [
        'Mixed Case.Audit Log',
        'Mixed Case.données_é',
        // Quoted: the name holds a dot and a quote, so `schema.name` alone would be ambiguous.
        'Mixed Case."x""; DROP TABLE shop.products;--"',
        'shop.customers',
        'shop.events',
        'shop.events_2026_10',
        'shop.events_2026_11',
        'shop.events_default',
        'shop.order_items',
        'shop.orders',
        'shop.products',
      ].sort(),
    );
    expect(manifest.tables.every((t) => t.exact)).toBe(true);
    expect(byLabel['shop.customers'].rowSecurity).toBe(true);
    expect(byLabel['shop.events'].kind).toBe('p');
    expect(byLabel['shop.events'].rows).toBe(
      byLabel['shop.events_2026_10'].rows +
        byLabel['shop.events_2026_11'].rows +
        byLabel['shop.events_default'].rows,
    );
    expect(manifest.catalog).toMatchObject({ views: 1, functions: 2, triggers: 2, policies: 1, types: 1 });
    expect(manifest.catalog.sequences).toBeGreaterThanOrEqual(5);
    expect(manifest.pgDump.options).toEqual([
      '--format=custom',
      '--no-password',
      '--lock-wait-timeout=60000',
    ]);
    expect(manifest.tables.every((t) => t.count === 'exact' && !t.rowsFiltered)).toBe(true);
    expect(manifest.extensions).toEqual([{ name: 'plpgsql', version: '1.0', schema: 'pg_catalog' }]);
    expect(manifest.largeObjects).toMatchObject({ count: 0 });
    expect(manifest.object.key).toMatch(/\.dump$/);
    expect(manifest.globals.present).toBe(true);

    const verified = await verifyBackup({ s3: h.s3, bucket: h.bucket, manifest, pgBinDirs: [h.realBinDir] });
    expect(verified.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verified.ok).toBe(true);

    // Live data moved on after the snapshot...
    const live = await liveCounts(h.cluster, h.database);
    expect(live['shop.orders']).toBeGreaterThan(byLabel['shop.orders'].rows);
    expect(live['shop.events_2026_11']).toBeGreaterThan(byLabel['shop.events_2026_11'].rows);
    expect(live['Mixed Case.Audit Log']).toBeGreaterThan(byLabel['Mixed Case.Audit Log'].rows);

    // ...while the archive holds exactly the manifest's rows.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-test-'));
    try {
      const archive = path.join(dir, 'backup.dump');
      await download(manifest.object.key, archive);
      await restoreInto('restored', archive);
      const restored = await liveCounts(h.cluster, 'restored');
      for (const t of manifest.tables.filter((t) => t.kind === 'r')) {
        // liveCounts keys by plain `schema.name`.
        expect({ table: tableLabel(t), rows: restored[`${t.schema}.${t.name}`] }).toEqual({
          table: tableLabel(t),
          rows: t.rows,
        });
      }
      const c = new Client(h.cluster.connection('restored'));
      await c.connect();
      try {
        expect(await catalogCounts(c)).toEqual(manifest.catalog);
        const rls = await c.query(
          `SELECT relrowsecurity FROM pg_class WHERE oid = 'shop.customers'::regclass`,
        );
        expect(rls.rows[0].relrowsecurity).toBe(true);
      } finally {
        await c.end();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('two overlapping runs for one database get distinct ids and keys, both valid, nothing overwritten', async () => {
    const at = new Date('2030-06-15T02:00:00Z');
    const [a, b] = await Promise.all([
      dumpDatabase(h.dumpOptions({ now: () => at })),
      dumpDatabase(h.dumpOptions({ now: () => at })),
    ]);
    expect(a.backupId).not.toBe(b.backupId);
    expect([a.backupId, b.backupId].sort()).toEqual(['app-20300615T020000Z', 'app-20300615T020001Z']);
    expect(a.object.key).not.toBe(b.object.key);

    const listed = (await listBackups(h.s3, h.bucket, 'app', { includeInvalid: true })).filter((e) =>
      [a.backupId, b.backupId].includes(e.backupId),
    );
    expect(listed).toHaveLength(2);
    expect(listed.every((e) => e.valid)).toBe(true);
    for (const m of [a, b]) {
      const v = await verifyBackup({ s3: h.s3, bucket: h.bucket, manifest: m, pgBinDirs: [h.realBinDir] });
      expect(v.ok).toBe(true);
    }
    // Each id's manifest on S3 is the one its own run returned.
    for (const m of [a, b]) {
      const key = m.object.key.replace(/\.dump$/, '.manifest.json');
      const out = await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
      expect(parseManifest(await out.Body!.transformToString()).object.sha256).toBe(m.object.sha256);
    }
  });
});

interface Sample {
  pid: number;
  argv: string;
  environ: string;
  passFile?: string;
  passFileMode?: number;
}

/**
 * Samples every process's argv and environment while a dump runs (we are root, so /proc shows
 * all). Every process goes into the password scan; pg_dump/pg_dumpall processes talking to our
 * cluster (other test files run in parallel with their own) are kept for closer inspection.
 */
function startProcessSampler(port: number): { stop: () => Sample[]; all: () => string[] } {
  const samples: Sample[] = [];
  const everything: string[] = [];
  const tick = () => {
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').join('\n');
        everything.push(argv, environ);
        if (!/pg_dump|pg_dumpall/.test(argv) || !new RegExp(`^PGPORT=${port}$`, 'm').test(environ)) continue;
        const passFile = /^PGPASSFILE=(.*)$/m.exec(environ)?.[1];
        let passFileMode: number | undefined;
        if (passFile) {
          try {
            passFileMode = fs.statSync(passFile).mode & 0o777;
          } catch {
            // already removed
          }
        }
        samples.push({ pid: Number(pid), argv, environ, passFile, passFileMode });
      } catch {
        // the process exited between readdir and read
      }
    }
  };
  const timer = setInterval(tick, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
    all: () => everything,
  };
}

describe('secrets (TESTING 9)', () => {
  const forms = [
    PASSWORD,
    encodeURIComponent(PASSWORD),
    PASSWORD.replace(/\\/g, '\\\\').replace(/:/g, '\\:'),
  ];
  const assertClean = (what: string, text: string) => {
    for (const form of forms) {
      if (text.includes(form)) throw new Error(`the password appears in ${what}`);
    }
  };

  test('the password never appears in argv, child environments, logs, manifests, handler output or errors', async () => {
    const secrets = mockClient(SecretsManagerClient);
    // The harness's cluster runs with PASSWORD: the secret carries it.
    const secretJson = h.secretString();
    expect(JSON.parse(secretJson).password).toBe(PASSWORD);
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:good' }).resolves({ SecretString: secretJson });
    secrets
      .on(GetSecretValueCommand, { SecretId: 'arn:broken' })
      .resolves({ SecretString: secretJson.slice(0, -3) });

    const slowStart = makeStandInBinDir(
      { kind: 'delay-then-real', seconds: 0.5 },
      { realBinDir: h.realBinDir },
    );
    const output = captureOutput();
    const restoreEnv = setEnv({
      BACKUP_BUCKET: h.bucket,
      BACKUP_KMS_KEY_ARN: TEST_KMS_KEY,
      OBJECT_LOCK_MODE: 'COMPLIANCE',
      RETENTION_DAYS: JSON.stringify({ daily: 30, weekly: 90, monthly: 365, yearly: 2555 }),
      PG_BIN_DIRS: slowStart,
    });
    const failing = makeStandInBinDir({ kind: 'exit', bytes: 1000, code: 1 }, { realBinDir: h.realBinDir });
    const context = { getRemainingTimeInMillis: () => 600_000, awsRequestId: 'req-1' };
    const sampler = startProcessSampler(h.connection.port);
    const errors: string[] = [];
    const outputs: string[] = [];
    const log = recordingLogger();
    let direct: Manifest;
    try {
      // A real dump through the handler (secret from Secrets Manager)...
      const result = await dumpHandler(
        { databaseId: 'app', secretArn: 'arn:good', sslMode: 'disable', tier: 'daily' },
        context,
      );
      outputs.push(JSON.stringify(result));
      // ...one through the core with a recording logger...
      direct = await dumpDatabase(h.dumpOptions({ pgBinDirs: [slowStart], logger: log, tier: 'daily' }));
      // ...and failures: pg_dump exits 1, a broken secret, an unreachable server.
      process.env.PG_BIN_DIRS = failing;
      for (const event of [
        { databaseId: 'app', secretArn: 'arn:good', sslMode: 'disable' },
        { databaseId: 'app', secretArn: 'arn:broken', sslMode: 'disable' },
        { databaseId: 'app', secretArn: 'arn:good', sslMode: 'disable', port: 1 },
      ]) {
        await dumpHandler(event, context).then(
          (r) => outputs.push(JSON.stringify(r)),
          (e: Error) => errors.push(`${e.name}: ${e.message}\n${e.stack}\n${JSON.stringify(e)}`),
        );
      }
      await dumpDatabase(h.dumpOptions({ pgBinDirs: [failing], logger: log })).catch((e: Error) =>
        errors.push(`${e.name}: ${e.message}\n${e.stack}`),
      );
    } finally {
      output.restore();
      secrets.restore();
      restoreEnv();
    }
    const samples = sampler.stop();

    expect(errors).toHaveLength(4);
    expect(errors[0]).toMatch(/^BackupError: PG_DUMP_FAILED: pg_dump exited 1/);
    expect(errors[1]).toMatch(/^BackupError: CONFIG: database secret is not valid JSON/);
    expect(errors[2]).toMatch(/^BackupError: CONNECT: /);

    // pg_dump and pg_dumpall were caught running, with the password file and nothing else.
    const dumpers = samples.filter((s) => / --format=custom /.test(s.argv) || /--roles-only/.test(s.argv));
    expect(dumpers.length).toBeGreaterThan(0);
    for (const s of dumpers) {
      expect(s.environ).toMatch(/^PGPASSFILE=/m);
      expect(s.environ).not.toMatch(/^PGPASSWORD=/m);
      expect(s.environ).not.toMatch(/^AWS_/m);
    }
    const modes = samples.filter((s) => s.passFileMode !== undefined).map((s) => s.passFileMode);
    expect(modes.length).toBeGreaterThan(0);
    expect(new Set(modes)).toEqual(new Set([0o600]));
    const passFiles = new Set(samples.map((s) => s.passFile).filter((f): f is string => !!f));
    for (const f of passFiles) {
      expect(fs.existsSync(f)).toBe(false);
      expect(fs.existsSync(path.dirname(f))).toBe(false);
    }

    // Nothing anywhere holds the password.
    sampler.all().forEach((t, i) => assertClean(`process sample ${i}`, t));
    assertClean('this process environment', JSON.stringify(process.env));
    assertClean('handler stdout/stderr (logs and EMF)', output.lines.join(''));
    assertClean('core log lines', log.lines.join('\n'));
    assertClean('handler outputs', outputs.join('\n'));
    errors.forEach((e, i) => assertClean(`error ${i}`, e));
    assertClean('manifest', JSON.stringify(direct));
    const listed = await h.s3.send(new ListObjectsV2Command({ Bucket: h.bucket }));
    for (const o of listed.Contents ?? []) {
      if (!/\.(manifest\.json|globals\.sql|claim)$/.test(o.Key!)) continue;
      const body = await (
        await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: o.Key! }))
      ).Body!.transformToString();
      assertClean(o.Key!, body);
    }
    // The handler's logs really were captured (so the scan above was not vacuous).
    expect(output.lines.join('')).toMatch(/"message":"backup failed"/);
    expect(output.lines.join('')).toMatch(/"BackupSuccess"/);
  });

  test('errors from the core are BackupErrors with a reason code', async () => {
    const err = await dumpDatabase(
      h.dumpOptions({ connection: { ...h.connection, password: 'wrong' } }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).reason).toBe('CONNECT');
  });
});
