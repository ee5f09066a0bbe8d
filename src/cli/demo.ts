/**
 * `restorable demo`: the whole cycle on a laptop with no AWS account. It starts a throwaway
 * PostgreSQL cluster seeded with a realistic schema and an S3-compatible server on loopback, then
 * runs the same core code the Lambdas run: backup → (local stand-in for cross-region replication)
 * → verify, including the replica → restore drill into a second throwaway cluster, with checks and
 * a measured RTO. Everything it started is removed at the end, also on Ctrl-C.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { dumpDatabase } from '../../lambda/core/dump';
import { verifyBackup } from '../../lambda/core/verify';
import { runDrill } from '../../lambda/core/drill';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { findPgBinaries } from '../../lambda/core/pg-bin';
import { makeS3Client } from '../../lambda/core/s3';
import { pgpassLine } from '../../lambda/core/secrets';
import { startLocalS3, type LocalS3Server } from '../local/s3-server';
import { seedDatabase, DEMO_SEED, TEST_SEED } from '../local/seed';
import { replicateLocally } from '../local/replicate';
import { onInterrupt } from './cleanup';
import { formatBytes, formatSeconds, table, type Io } from './output';

export const DEMO_DATABASE_ID = 'demo-shop';
const PRIMARY = 'restorable-demo-primary';
const REPLICA = 'restorable-demo-replica';

/** Operator checks the demo drill runs on the restored copy, as a config would declare them. */
export const DEMO_CHECKS = [
  {
    name: 'every order item points at an existing order',
    sql: 'SELECT count(*) FROM shop.order_items i LEFT JOIN shop.orders o ON o.id = i.order_id WHERE o.id IS NULL',
    expect: { equals: 0 },
  },
  {
    name: 'there are paid orders',
    sql: "SELECT count(*) FROM shop.orders WHERE status = 'paid'",
    expect: { min: 1 },
  },
  { name: 'four order states', sql: 'SELECT DISTINCT status FROM shop.orders', expect: { rows: 4 } },
];

/** `{"rowSecurity":true,"forceRowSecurity":false}` → `rowSecurity=true forceRowSecurity=false` */
function compact(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
  }
  return String(value);
}

/** Fails with how to install them when the PostgreSQL server binaries the demos run are missing. */
export function requirePgBinaries(): void {
  if (findPgBinaries('initdb').length === 0 || findPgBinaries('pg_dump').length === 0) {
    throw new Error(
      'the demo needs the PostgreSQL server binaries (initdb, pg_ctl, pg_dump, pg_restore): ' +
        'apt-get install postgresql (Debian/Ubuntu) or brew install postgresql, or set RESTORABLE_PG_BIN_DIRS',
    );
  }
}

export async function runDemo(o: { small?: boolean; keep?: boolean }, io: Io): Promise<number> {
  requirePgBinaries();
  const t0 = Date.now();
  const step = (text: string) => io.out(`[${formatSeconds((Date.now() - t0) / 1000).padStart(6)}] ${text}`);
  let s3server: LocalS3Server | undefined;
  let source: LocalCluster | undefined;
  const forget = onInterrupt(() => {
    if (s3server) fs.rmSync(s3server.directory, { recursive: true, force: true });
  });
  try {
    s3server = await startLocalS3({ buckets: [PRIMARY, REPLICA] });
    Object.assign(process.env, s3server.env);
    const s3 = makeS3Client();
    step(`local S3 server on ${s3server.endpoint} (buckets ${PRIMARY}, ${REPLICA})`);

    source = await startLocalCluster();
    step(`source PostgreSQL ${source.major} on 127.0.0.1:${source.port}`);
    const admin = new Client(source.connection('postgres'));
    await admin.connect();
    await admin.query('CREATE DATABASE shop');
    await admin.end();
    const app = new Client(source.connection('shop'));
    await app.connect();
    const size = o.small ? TEST_SEED : DEMO_SEED;
    await seedDatabase(app, size);
    const { rows } = await app.query<{ n: string; bytes: string }>(
      `SELECT (SELECT sum(n_live_tup) FROM pg_stat_user_tables)::text AS n,
              pg_size_pretty(pg_database_size(current_database())) AS bytes`,
    );
    await app.end();
    step(
      `seeded database "shop": ${rows[0].n} rows, ${rows[0].bytes} (foreign keys, RLS, triggers, ` +
        `an enum, a partitioned table, hostile identifiers)`,
    );

    const manifest = await dumpDatabase({
      databaseId: DEMO_DATABASE_ID,
      connection: source.connection('shop'),
      sslMode: 'disable', // loopback only; deployed backups default to verify-full
      s3,
      bucket: PRIMARY,
      objectLockMode: 'GOVERNANCE',
    });
    step(
      `backup ${manifest.backupId} → ${manifest.tier}/${manifest.period}: ${formatBytes(manifest.object.bytes)}, ` +
        `${manifest.tables.length} tables, sha256 ${manifest.object.sha256.slice(0, 16)}…, ` +
        `roles ${manifest.globals.present ? 'saved' : 'absent'}, ${formatSeconds(manifest.durationSeconds)}`,
    );

    const copied = await replicateLocally(s3, PRIMARY, REPLICA);
    step(
      `replicated ${copied.length} objects to ${REPLICA} (local stand-in for S3 cross-region replication)`,
    );

    const verification = await verifyBackup({
      s3,
      bucket: PRIMARY,
      manifest,
      replica: { s3, bucket: REPLICA, region: 'local-replica' },
    });
    step(
      `verify: ${verification.ok ? 'OK' : 'FAILED'} — ` +
        verification.checks.map((c) => `${c.name} ${c.status}`).join(', '),
    );
    if (!verification.ok) return 1;

    const { report, reportKey } = await runDrill({
      databaseId: DEMO_DATABASE_ID,
      source: { s3, bucket: REPLICA, kind: 'replica', region: 'local-replica' },
      reportS3: s3,
      reportBucket: PRIMARY,
      provider: new LocalDatabaseProvider(),
      settings: { checks: DEMO_CHECKS, rtoTargetMinutes: 15 },
    });
    step(
      `drill ${report.drillId}: ${report.status}, RTO ${report.rtoSeconds === null ? '-' : formatSeconds(report.rtoSeconds)} ` +
        `(restore ${report.restoreSeconds === null ? '-' : formatSeconds(report.restoreSeconds)}), ephemeral cluster ` +
        `${report.ephemeral.released ? 'removed' : 'NOT removed'}`,
    );
    io.out('');
    io.out(`Drill report (s3://${PRIMARY}/${reportKey}):`);
    if (report.failure) io.out(`  FAILED at ${report.failure.step}: ${report.failure.reason}`);
    if (report.checks) {
      io.out(
        table(
          ['CHECK', 'EXPECTED', 'ACTUAL', 'RESULT'],
          report.checks.results.map((c) => [
            c.name,
            compact(c.expected),
            compact(c.actual),
            c.ok ? 'pass' : 'FAIL',
          ]),
        ),
      );
      io.out(
        `  ${report.checks.passed}/${report.checks.total} checks passed` +
          (report.checks.omitted ? ` (${report.checks.omitted} passing checks not listed)` : ''),
      );
    }
    if (o.keep) {
      // The password goes into a 0600 pgpass file inside the cluster's own directory (removed with
      // it), so psql can connect without the password ever being printed.
      const pgpass = path.join(path.dirname(source.dataDir), 'demo.pgpass');
      fs.writeFileSync(pgpass, pgpassLine(source.connection('shop')), { mode: 0o600 });
      io.out(
        `\nkept running: source ${source.url('shop').replace(/:[^:@/]+@/, ':***@')}; ` +
          `connect with: PGPASSFILE=${pgpass} psql -h 127.0.0.1 -p ${source.port} -U ${source.user} shop; ` +
          `S3 at ${s3server.endpoint}; Ctrl-C to clean up`,
      );
      await new Promise<void>(() => undefined);
    }
    return report.status === 'PASSED' ? 0 : 1;
  } finally {
    await source?.stop();
    await s3server?.stop();
    forget();
    step('cleaned up: clusters stopped and removed, S3 server stopped');
  }
}
