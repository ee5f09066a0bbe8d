/**
 * `restorable demo --fleet <n>`: a small fleet on a laptop. One throwaway PostgreSQL cluster holds
 * n seeded databases; each is a listed fleet database. The same code as the deployed fleet decides
 * what runs: the listed run inputs become run items (lambda/core/fleet-runs.ts, what the discovery
 * function returns; the local stand-in for RDS tags is a listed-only selection), then every
 * database goes through backup → (local replication) → verify, at most `maxConcurrentBackups` at
 * once, and a restore drill into its own throwaway cluster, at most `maxConcurrentDrills` at once
 * (`runBounded` stands in for the orchestrator's Map and its MaxConcurrency). One database's
 * failure never stops the others; the summary shows each one.
 */
import { dumpDatabase } from '../../lambda/core/dump';
import { runDrill, type DrillReport } from '../../lambda/core/drill';
import type { DrillSettingsInput } from '../../lambda/core/drill-settings';
import {
  fleetRunItem,
  listedEntries,
  listedOnly,
  runBounded,
  type FleetRunDefaults,
  type ListedRunInput,
} from '../../lambda/core/fleet-runs';
import { FleetSettingsSchema } from '../../lambda/core/fleet-settings';
import type { CompressionChoice } from '../../lambda/core/compression-settings';
import { DEFAULT_DRILL_WINDOW_DAYS, DEFAULT_RPO_HOURS } from '../../lambda/core/handler-env';
import type { Manifest } from '../../lambda/core/manifest';
import { LocalDatabaseProvider } from '../../lambda/core/providers/local';
import { verifyBackup } from '../../lambda/core/verify';
import { replicateLocally } from '../local/replicate';
import { UsageError } from './errors';
import { DEMO_CHECKS, PRIMARY, REPLICA, seedDemoDatabase, withDemoStage } from './demo-stage';
import { formatBytes, formatSeconds, table, type Io } from './output';

/** Most databases the local fleet demo seeds (each one is a database and, in its drill, a cluster). */
export const MAX_DEMO_FLEET = 10;
/** The demo's bounds: small, so the bounding shows with three databases. */
export const DEMO_MAX_CONCURRENT_BACKUPS = 2;
export const DEMO_MAX_CONCURRENT_DRILLS = 1;

export interface FleetDemoOptions {
  /** How many databases. */
  readonly databases: number;
  readonly small?: boolean;
  /** @default DEMO_MAX_CONCURRENT_BACKUPS */
  readonly maxConcurrentBackups?: number;
  /** @default DEMO_MAX_CONCURRENT_DRILLS */
  readonly maxConcurrentDrills?: number;
}

/** When one run of one database started and ended (ms since the epoch). */
export interface RunSpan {
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface FleetDemoDatabase {
  readonly databaseId: string;
  /** The PostgreSQL database name in the local cluster. */
  readonly dbname: string;
  backup?: { readonly backupId: string; readonly bytes: number; readonly span: RunSpan };
  verify?: { readonly ok: boolean; readonly failed: string[] };
  drill?: {
    readonly status: DrillReport['status'];
    readonly rtoSeconds: number | null;
    readonly span: RunSpan;
  };
  /** Why the run stopped, when it did. */
  error?: string;
}

export interface FleetDemoResult {
  readonly databases: FleetDemoDatabase[];
  readonly limits: { readonly backups: number; readonly drills: number };
  /** The most runs in flight at once, per phase. */
  readonly peak: { readonly backups: number; readonly drills: number };
  /** Every database backed up, verified OK and drilled PASSED. */
  readonly ok: boolean;
}

/** The run input the backup workflow would get for one demo database (no secret: a local connection). */
interface DemoBackupInput {
  readonly databaseId: string;
  readonly database: string;
  readonly schemas?: { include?: string[]; exclude?: string[] };
  readonly compression?: CompressionChoice;
}

export async function runFleetDemo(o: FleetDemoOptions, io: Io): Promise<FleetDemoResult> {
  if (!Number.isInteger(o.databases) || o.databases < 1 || o.databases > MAX_DEMO_FLEET) {
    throw new UsageError(`--fleet takes 1 to ${MAX_DEMO_FLEET} databases (got ${o.databases})`);
  }
  // The fleet's own schema, so the demo accepts the bounds a config would, and no others.
  const parsed = FleetSettingsSchema.safeParse({
    maxConcurrentBackups: o.maxConcurrentBackups ?? DEMO_MAX_CONCURRENT_BACKUPS,
    maxConcurrentDrills: o.maxConcurrentDrills ?? DEMO_MAX_CONCURRENT_DRILLS,
    startJitterMinutes: 0,
  });
  if (!parsed.success) {
    const flag = (key: PropertyKey) => `--${String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(parsed.error.issues.map((i) => `${flag(i.path[0] ?? '')} ${i.message}`).join('; '));
  }
  const fleet = parsed.data;
  return withDemoStage(io, async ({ s3, source: cluster, step }) => {
    const databases: FleetDemoDatabase[] = [];
    for (let i = 1; i <= o.databases; i++) {
      const dbname = `shop_${i}`;
      await seedDemoDatabase(cluster, dbname, o.small);
      databases.push({ databaseId: `shop-${i}`, dbname });
    }
    step(`seeded ${databases.length} databases: ${databases.map((d) => d.dbname).join(', ')}`);

    // The listed run inputs, as synth precomputes them for the discovery function.
    const drill: DrillSettingsInput = { checks: DEMO_CHECKS, rtoTargetMinutes: 15, source: 'replica' };
    const backupRuns: ListedRunInput[] = databases.map((d) => ({
      id: d.databaseId,
      execution: {
        databaseId: d.databaseId,
        secretArn: `local:${d.dbname}`, // a deployment names a Secrets Manager secret here
        host: '127.0.0.1',
        port: cluster.port,
        database: d.dbname,
        schemas: {},
        sslMode: 'disable', // loopback only; deployed backups default to verify-full
        tier: 'auto',
        reason: '',
      },
      rpoHours: DEFAULT_RPO_HOURS,
    }));
    const drillRuns: ListedRunInput[] = databases.map((d) => ({
      id: d.databaseId,
      execution: { databaseId: d.databaseId, drill },
      rpoHours: DEFAULT_RPO_HOURS,
    }));
    const defaults: FleetRunDefaults = {
      rpoHours: DEFAULT_RPO_HOURS,
      drillWindowDays: DEFAULT_DRILL_WINDOW_DAYS,
      execution: {},
    };
    const backupItems = listedOnly(listedEntries(backupRuns)).map((db) =>
      fleetRunItem('backup', db, defaults),
    );
    const drillItems = listedOnly(listedEntries(drillRuns)).map((db) => fleetRunItem('drill', db, defaults));
    step(
      `discovery (listed; the local stand-in for tag selection): ${backupItems.length} databases, ` +
        `backups at most ${fleet.maxConcurrentBackups} at once, drills at most ${fleet.maxConcurrentDrills}`,
    );
    const byId = new Map(databases.map((d) => [d.databaseId, d]));

    // Replication is one local copy of the whole bucket: serialized, so two runs never copy at once.
    let replication: Promise<unknown> = Promise.resolve();
    const replicate = () => {
      replication = replication.then(() => replicateLocally(s3, PRIMARY, REPLICA));
      return replication;
    };

    const backups = await runBounded(backupItems, fleet.maxConcurrentBackups, async (item) => {
      const db = byId.get(item.databaseId)!;
      const input = item.execution as unknown as DemoBackupInput;
      const startedAt = Date.now();
      step(`${db.databaseId}: backup started`);
      const manifest: Manifest = await dumpDatabase({
        databaseId: input.databaseId,
        connection: cluster.connection(input.database),
        sslMode: 'disable',
        s3,
        bucket: PRIMARY,
        objectLockMode: 'GOVERNANCE',
        schemas: input.schemas,
        compression: input.compression,
      });
      db.backup = {
        backupId: manifest.backupId,
        bytes: manifest.object.bytes,
        span: { startedAt, endedAt: Date.now() },
      };
      step(`${db.databaseId}: backup ${manifest.backupId}, ${formatBytes(manifest.object.bytes)}`);
      await replicate();
      const verification = await verifyBackup({
        s3,
        bucket: PRIMARY,
        manifest,
        replica: { s3, bucket: REPLICA, region: 'local-replica' },
      });
      db.verify = {
        ok: verification.ok,
        failed: verification.checks.filter((c) => c.status === 'fail').map((c) => c.name),
      };
      step(`${db.databaseId}: verify ${verification.ok ? 'OK' : 'FAILED'}`);
    });
    backups.results.forEach((r, i) => {
      if (r.status === 'rejected') byId.get(backupItems[i].databaseId)!.error = `backup: ${String(r.reason)}`;
    });

    const drillable = drillItems.filter((item) => byId.get(item.databaseId)!.verify?.ok);
    const drills = await runBounded(drillable, fleet.maxConcurrentDrills, async (item) => {
      const db = byId.get(item.databaseId)!;
      const input = item.execution as { databaseId: string; drill?: DrillSettingsInput };
      const startedAt = Date.now();
      step(`${db.databaseId}: drill started`);
      const { report } = await runDrill({
        databaseId: input.databaseId,
        source: { s3, bucket: REPLICA, kind: 'replica', region: 'local-replica' },
        reportS3: s3,
        reportBucket: PRIMARY,
        provider: new LocalDatabaseProvider(),
        settings: input.drill,
      });
      db.drill = {
        status: report.status,
        rtoSeconds: report.rtoSeconds,
        span: { startedAt, endedAt: Date.now() },
      };
      step(
        `${db.databaseId}: drill ${report.status}` +
          (report.failure ? ` at ${report.failure.step}: ${report.failure.reason}` : '') +
          `, RTO ${report.rtoSeconds === null ? '-' : formatSeconds(report.rtoSeconds)}`,
      );
    });
    drills.results.forEach((r, i) => {
      if (r.status === 'rejected') byId.get(drillable[i].databaseId)!.error = `drill: ${String(r.reason)}`;
    });

    const result: FleetDemoResult = {
      databases,
      limits: { backups: fleet.maxConcurrentBackups, drills: fleet.maxConcurrentDrills },
      peak: { backups: backups.peak, drills: drills.peak },
      ok: databases.every((d) => d.backup && d.verify?.ok && d.drill?.status === 'PASSED'),
    };
    io.out('');
    io.out(
      table(
        ['DATABASE', 'BACKUP', 'SIZE', 'VERIFY', 'DRILL', 'RTO'],
        databases.map((d) => [
          d.databaseId,
          d.backup?.backupId ?? '-',
          d.backup ? formatBytes(d.backup.bytes) : '-',
          d.verify ? (d.verify.ok ? 'OK' : `FAILED (${d.verify.failed.join(', ')})`) : '-',
          d.drill?.status ?? '-',
          d.drill?.rtoSeconds != null ? formatSeconds(d.drill.rtoSeconds) : '-',
        ]),
      ),
    );
    for (const d of databases.filter((d) => d.error)) io.out(`  ${d.databaseId}: ${d.error}`);
    io.out(
      `backups: at most ${result.peak.backups} at once (maxConcurrentBackups ${result.limits.backups}); ` +
        `drills: at most ${result.peak.drills} at once (maxConcurrentDrills ${result.limits.drills})`,
    );
    return result;
  });
}
