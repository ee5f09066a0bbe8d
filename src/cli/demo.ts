/**
 * `restorable demo`: the whole cycle on a laptop with no AWS account. It starts a throwaway
 * PostgreSQL cluster seeded with a realistic schema and an S3-compatible server on loopback, then
 * runs the same core code the Lambdas run: backup → (local stand-in for cross-region replication)
 * → verify, including the replica → restore drill into a second throwaway cluster, with checks and
 * a measured RTO. Everything it started is removed at the end, also on Ctrl-C.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dumpDatabase } from '../../lambda/core/dump';
import { verifyBackup } from '../../lambda/core/verify';
import { runDrill } from '../../lambda/core/drill';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import { pgpassLine } from '../../lambda/core/secrets';
import { replicateLocally } from '../local/replicate';
import { DEMO_CHECKS, PRIMARY, REPLICA, seedDemoDatabase, withDemoStage } from './demo-stage';
import { formatBytes, formatSeconds, table, type Io } from './output';

export const DEMO_DATABASE_ID = 'demo-shop';

/** `{"rowSecurity":true,"forceRowSecurity":false}` → `rowSecurity=true forceRowSecurity=false` */
function compact(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
  }
  return String(value);
}

export async function runDemo(o: { small?: boolean; keep?: boolean }, io: Io): Promise<number> {
  return withDemoStage(io, async ({ s3server, s3, source, step }) => {
    const stats = await seedDemoDatabase(source, 'shop', o.small, async (app) => {
      const { rows } = await app.query<{ n: string; bytes: string }>(
        `SELECT (SELECT sum(n_live_tup) FROM pg_stat_user_tables)::text AS n,
                pg_size_pretty(pg_database_size(current_database())) AS bytes`,
      );
      return rows[0];
    });
    step(
      `seeded database "shop": ${stats.n} rows, ${stats.bytes} (foreign keys, RLS, triggers, ` +
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
  });
}
