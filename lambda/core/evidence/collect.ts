/**
 * Reads what the evidence report is built from, and only from the bucket: manifests (catalog.ts),
 * verification records (verification.ts), drill reports, the lifecycle rules and the Object Lock
 * configuration. The report is then computed by model.ts; "now" is S3's clock (freshness.ts).
 */
import {
  GetBucketLifecycleConfigurationCommand,
  GetObjectLockConfigurationCommand,
  ListObjectsV2Command,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { listBackups } from '../catalog';
import { s3ServerTime } from '../freshness';
import { readText } from '../s3';
import { DATABASE_ID_PATTERN, STORED_TIERS } from '../tiers';
import { isVerificationKey, VerificationRecordSchema, type VerificationRecord } from '../verification';
import {
  buildDatabaseEvidence,
  DAY_MS,
  EVIDENCE_FORMAT_VERSION,
  parseDay,
  observedRetention,
  type BackupFact,
  type DrillFact,
  type EvidenceReport,
  type RetentionEvidence,
} from './model';

async function listAll(s3: S3Client, bucket: string, prefix: string, delimiter?: string) {
  const objects: _Object[] = [];
  const prefixes: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        Delimiter: delimiter,
        ContinuationToken: token,
      }),
    );
    objects.push(...(page.Contents ?? []));
    prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { objects, prefixes };
}

/**
 * Database ids that have anything under a tier prefix or `drills/`. A full listing rather than a
 * `Delimiter` one: not every S3-compatible server answers CommonPrefixes for ListObjectsV2.
 */
export async function discoverDatabases(s3: S3Client, bucket: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const top of [...STORED_TIERS, 'drills']) {
    const { objects } = await listAll(s3, bucket, `${top}/`);
    for (const o of objects) {
      const id = o.Key?.split('/')[1];
      if (id && DATABASE_ID_PATTERN.test(id)) ids.add(id);
    }
  }
  return [...ids].sort();
}

/** Newest readable verification record per manifest key, from one listing per tier. */
async function newestVerifications(
  s3: S3Client,
  bucket: string,
  databaseId: string,
): Promise<Map<string, VerificationRecord>> {
  const keys = (
    await Promise.all(STORED_TIERS.map((t) => listAll(s3, bucket, `${t}/${databaseId}/`)))
  ).flatMap((l) => l.objects.map((o) => o.Key!).filter(isVerificationKey));
  // Keys end in the verification time, so the last key per backup is the newest record.
  const newest = new Map<string, string>();
  for (const key of keys.sort()) newest.set(key.replace(/\.verify-[^/]+$/, '.manifest.json'), key);
  const out = new Map<string, VerificationRecord>();
  for (const [manifestKey, key] of newest) {
    try {
      out.set(manifestKey, VerificationRecordSchema.parse(JSON.parse(await readText(s3, bucket, key))));
    } catch {
      // Unreadable: the backup shows as unverified, which is what the bucket proves.
    }
  }
  return out;
}

export async function collectBackups(
  s3: S3Client,
  bucket: string,
  databaseId: string,
): Promise<BackupFact[]> {
  const [entries, verifications] = await Promise.all([
    // Presence and size of each dump from the listing: no HeadObject per backup, so a reader of
    // manifests that may not read dumps (the fleet's report, BackupBucketGrants.readEvidence) works.
    listBackups(s3, bucket, databaseId, { includeInvalid: true, dumpFromListing: true }),
    newestVerifications(s3, bucket, databaseId),
  ]);
  return entries
    .filter((e) => e.manifest !== undefined || e.problem !== undefined)
    .map((e) => {
      const v = verifications.get(e.manifestKey);
      return {
        backupId: e.backupId,
        databaseId,
        tier: e.tier,
        period: e.period,
        manifestKey: e.manifestKey,
        committedAt: e.lastModified ?? e.createdAt,
        bytes: e.bytes,
        sha256: e.manifest?.object.sha256,
        valid: e.valid,
        ...(e.problem ? { problem: e.problem } : {}),
        retainUntil: e.manifest?.retainUntil,
        ...(e.manifest?.reason ? { reason: e.manifest.reason } : {}),
        ...(v
          ? { verification: { ok: v.ok, at: v.verifiedAt, by: v.by, failed: v.failed, replica: v.replica } }
          : {}),
      };
    });
}

/** `rds, PostgreSQL 16, pg_restore 16.4` from a drill report's `restoredOn`. */
function restoredOnText(
  on: { engine?: string; serverMajor?: number; pgRestore?: string } | null | undefined,
): string | null {
  if (!on?.engine) return null;
  const parts = [on.engine];
  if (typeof on.serverMajor === 'number') parts.push(`PostgreSQL ${on.serverMajor}`);
  // pg_restore reports itself as `pg_restore (PostgreSQL) 15.20 (Debian …)`: keep the version.
  const version = on.pgRestore ? /\d+(\.\d+)+/.exec(on.pgRestore)?.[0] : undefined;
  if (version) parts.push(`pg_restore ${version}`);
  return parts.join(', ');
}

export async function collectDrills(s3: S3Client, bucket: string, databaseId: string): Promise<DrillFact[]> {
  const { objects } = await listAll(s3, bucket, `drills/${databaseId}/`);
  const out: DrillFact[] = [];
  for (const o of objects.filter((x) => x.Key?.endsWith('.json'))) {
    try {
      const r = JSON.parse(await readText(s3, bucket, o.Key!)) as Record<string, unknown> & {
        checks?: { passed: number; failed: number; total: number } | null;
        ephemeral?: { released?: boolean };
        source?: { kind?: string };
        failure?: { step: string; reason: string };
        restoredOn?: { engine?: string; serverMajor?: number; pgRestore?: string } | null;
      };
      if (r.status !== 'PASSED' && r.status !== 'FAILED') continue;
      out.push({
        drillId: String(r.drillId),
        key: o.Key!,
        startedAt: String(r.startedAt),
        status: r.status,
        ...(r.failure ? { failure: { step: r.failure.step, reason: r.failure.reason } } : {}),
        backupId: typeof r.backupId === 'string' ? r.backupId : null,
        rtoSeconds: typeof r.rtoSeconds === 'number' ? r.rtoSeconds : null,
        rtoTargetSeconds: Number(r.rtoTargetSeconds),
        checks: r.checks ? { passed: r.checks.passed, failed: r.checks.failed, total: r.checks.total } : null,
        instanceReleased: r.ephemeral?.released === true,
        source: r.source?.kind ?? 'unknown',
        restoredOn: restoredOnText(r.restoredOn),
      });
    } catch {
      // A report that does not parse proves no drill; it is left out.
    }
  }
  return out;
}

const errorText = (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`;

export async function collectRetention(
  s3: S3Client,
  bucket: string,
  backups: readonly BackupFact[],
): Promise<RetentionEvidence> {
  let lifecycle: RetentionEvidence['lifecycle'];
  try {
    const out = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    lifecycle = {
      rules: (out.Rules ?? [])
        .filter((r) => r.Status === 'Enabled')
        .map((r) => ({
          id: r.ID ?? '',
          prefix: r.Filter?.Prefix ?? r.Filter?.And?.Prefix ?? r.Prefix ?? '',
          ...(r.Expiration?.Days !== undefined ? { expirationDays: r.Expiration.Days } : {}),
          transitions: (r.Transitions ?? []).map((t) => `${t.StorageClass} after ${t.Days} days`),
        })),
    };
  } catch (e) {
    lifecycle = { error: errorText(e) };
  }
  let objectLock: RetentionEvidence['objectLock'];
  try {
    const out = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const c = out.ObjectLockConfiguration;
    const d = c?.Rule?.DefaultRetention;
    objectLock = {
      enabled: c?.ObjectLockEnabled === 'Enabled',
      ...(d?.Mode ? { mode: d.Mode } : {}),
      ...(d?.Days !== undefined ? { days: d.Days } : {}),
      ...(d?.Years !== undefined ? { years: d.Years } : {}),
    };
  } catch (e) {
    objectLock = { error: errorText(e) };
  }
  return { lifecycle, objectLock, observedDays: observedRetention(backups) };
}

export interface EvidenceOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** @default - every database found in the bucket */
  readonly databaseIds?: readonly string[];
  readonly from: string;
  readonly to: string;
  /** @default 24 */
  readonly rpoHours?: number;
  /** Per-database RPO (the config's `databases[].rpoHours`), over `rpoHours`. */
  readonly rpoHoursByDatabase?: Readonly<Record<string, number>>;
  /**
   * Also report the databases the bucket holds backups or drill reports of that `databaseIds` does
   * not name (a fleet's tag-selected ones, known only at run time), judged against this RPO, each
   * only for a range in which it has a backup or a drill: one untagged since keeps its evidence for
   * the months it was protected and is not reported as all gaps forever after.
   * @default - only `databaseIds`
   */
  readonly unlisted?: { readonly rpoHours: number };
  /** Slack on top of the RPO, as the stale-backup alarm allows. @default 60 */
  readonly graceMinutes?: number;
  /** Used only when S3 sends no Date header. @default () => new Date() */
  readonly now?: () => Date;
}

export async function buildEvidenceReport(o: EvidenceOptions): Promise<EvidenceReport> {
  const server = await s3ServerTime(o.s3, o.bucket);
  const now = server ?? (o.now ?? (() => new Date()))();
  const listed = o.databaseIds ?? (await discoverDatabases(o.s3, o.bucket));
  const listedSet = new Set(listed);
  const unlisted =
    o.unlisted && o.databaseIds
      ? (await discoverDatabases(o.s3, o.bucket)).filter((id) => !listedSet.has(id))
      : [];
  const rpoHours = o.rpoHours ?? 24;
  const graceMinutes = o.graceMinutes ?? 60;
  const fromMs = parseDay(o.from).getTime();
  const toMs = parseDay(o.to).getTime() + DAY_MS;
  const inRange = (at: number) => at >= fromMs && at < toMs;
  const all: BackupFact[] = [];
  const databases = [];
  for (const databaseId of [...listed, ...unlisted]) {
    const isListed = listedSet.has(databaseId);
    const [backups, drills] = await Promise.all([
      collectBackups(o.s3, o.bucket, databaseId),
      collectDrills(o.s3, o.bucket, databaseId),
    ]);
    // A listed database is expected every day (no backup at all is a month of gaps); one found
    // only in the bucket is reported where the bucket shows it was protected.
    if (
      !isListed &&
      !backups.some((b) => inRange(b.committedAt.getTime())) &&
      !drills.some((d) => inRange(Date.parse(d.startedAt)))
    ) {
      continue;
    }
    all.push(...backups);
    databases.push(
      buildDatabaseEvidence({
        databaseId,
        from: o.from,
        to: o.to,
        rpoHours: isListed
          ? (o.rpoHoursByDatabase?.[databaseId] ?? rpoHours)
          : (o.unlisted?.rpoHours ?? rpoHours),
        graceMinutes,
        now,
        backups,
        drills,
      }),
    );
  }
  return {
    formatVersion: EVIDENCE_FORMAT_VERSION,
    generatedAt: now.toISOString(),
    clock: server ? 'server' : 'local',
    bucket: o.bucket,
    from: o.from,
    to: o.to,
    rpoHours,
    graceMinutes,
    databases,
    retention: await collectRetention(o.s3, o.bucket, all),
  };
}
