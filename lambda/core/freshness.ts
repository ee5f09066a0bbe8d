/**
 * The scheduled freshness check: per database, how old the newest valid backup is and how its
 * size compares with the recent ones; and whether the backup KMS keys can still be used.
 *
 * Age is measured between two S3 timestamps, the newest manifest's LastModified and the Date
 * header of an S3 response taken right after listing, so a wrong clock on the machine running the
 * check (or a backup written by a machine with a wrong clock) cannot make a stale backup look
 * fresh. Only if the server sends no Date header does the local clock stand in, and the result
 * says so.
 */
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { listBackups } from './catalog';
import { listNewestFirst, readText } from './s3';
import { drillReportPrefix, type StoredTier } from './tiers';

export interface ReferenceTime {
  readonly time: Date;
  /** `server`: the Date header of an S3 response; `local`: this machine's clock (no header seen). */
  readonly source: 'server' | 'local';
}

export interface DatabaseFreshness {
  readonly databaseId: string;
  readonly newest?: {
    readonly backupId: string;
    readonly tier: StoredTier;
    readonly manifestKey: string;
    /** S3 LastModified of the manifest. */
    readonly lastModified: Date;
    readonly bytes: number;
  };
  /** Hours from the newest manifest's LastModified to the reference time; undefined when there is no backup. */
  readonly ageHours?: number;
  /** Newest size / median of up to 7 previous valid backups; undefined without a previous one. */
  readonly sizeRatio?: number;
  readonly medianPreviousBytes?: number;
  /** How many previous backups the median used (at most 7). */
  readonly previousCount: number;
  readonly validBackups: number;
  /**
   * Days the backups have gone without a PASSED restore drill: since the newest PASSED report, or,
   * before the first one, since the oldest valid backup (a database is unproven from its first
   * backup on). Undefined when there is neither.
   */
  readonly drillAgeDays?: number;
  /** The newest PASSED drill report, when there is one. */
  readonly lastPassedDrill?: { readonly key: string; readonly lastModified: Date };
  readonly reference: ReferenceTime;
}

export interface KeyToCheck {
  /** Free text for reports and logs, e.g. `primary` / `replica`. */
  readonly label: string;
  readonly keyId: string;
  /** A KMS client in the key's region. */
  readonly kms: KMSClient;
}

export interface KeyStatus {
  readonly label: string;
  readonly keyId: string;
  /** Enabled and not pending deletion/import; anything else means new backups (or restores) fail. */
  readonly usable: boolean;
  /** KMS KeyState (Enabled, Disabled, PendingDeletion, ...) or `Unknown` when DescribeKey failed. */
  readonly state: string;
  readonly detail: string;
}

export interface FreshnessReport {
  readonly databases: readonly DatabaseFreshness[];
  readonly keys: readonly KeyStatus[];
}

export interface FreshnessOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly databaseIds: readonly string[];
  readonly keys?: readonly KeyToCheck[];
  /** Local clock, used only when S3 sends no Date header. @default () => new Date() */
  readonly now?: () => Date;
}

/** How many previous backups the size comparison looks at (DESIGN: "the median of the last 7"). */
export const SIZE_WINDOW = 7;

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Newest size over the median of up to SIZE_WINDOW previous sizes (newest first). */
export function sizeRatio(newestBytes: number, previousBytes: readonly number[]): number | undefined {
  const m = median(previousBytes.slice(0, SIZE_WINDOW));
  if (m === undefined || m <= 0) return undefined;
  return newestBytes / m;
}

/**
 * The S3 server's idea of "now": the Date header of a cheap ListObjectsV2 response, read with a
 * command-level middleware so the shared client is not modified.
 */
export async function s3ServerTime(s3: S3Client, bucket: string): Promise<Date | undefined> {
  const cmd = new ListObjectsV2Command({ Bucket: bucket, Prefix: '.restorable-clock-probe/', MaxKeys: 1 });
  let header: string | undefined;
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const headers = (out.response as { headers?: Record<string, string | undefined> } | undefined)?.headers;
      header = headers?.date ?? headers?.Date;
      return out;
    },
    { step: 'deserialize', name: 'restorableCaptureServerDate' },
  );
  await s3.send(cmd);
  if (!header) return undefined;
  const t = new Date(header);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

export async function databaseFreshness(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  options: { now?: () => Date } = {},
): Promise<DatabaseFreshness> {
  const valid = await listBackups(s3, bucket, databaseId);
  const server = await s3ServerTime(s3, bucket);
  const reference: ReferenceTime = server
    ? { time: server, source: 'server' }
    : { time: (options.now ?? (() => new Date()))(), source: 'local' };
  const lastPassedDrill = await newestPassedDrill(s3, bucket, databaseId);
  const oldest = valid.at(-1)?.lastModified;
  const provenSince = lastPassedDrill?.lastModified ?? oldest;
  const drill = {
    ...(lastPassedDrill ? { lastPassedDrill } : {}),
    ...(provenSince
      ? { drillAgeDays: Math.max(0, reference.time.getTime() - provenSince.getTime()) / 86_400_000 }
      : {}),
  };
  const [newest, ...previous] = valid;
  if (!newest || !newest.lastModified || newest.bytes === undefined) {
    return { databaseId, previousCount: 0, validBackups: valid.length, reference, ...drill };
  }
  const previousBytes = previous.slice(0, SIZE_WINDOW).map((e) => e.bytes ?? 0);
  const ageMs = Math.max(0, reference.time.getTime() - newest.lastModified.getTime());
  return {
    databaseId,
    newest: {
      backupId: newest.backupId,
      tier: newest.tier,
      manifestKey: newest.manifestKey,
      lastModified: newest.lastModified,
      bytes: newest.bytes,
    },
    ageHours: ageMs / 3_600_000,
    sizeRatio: sizeRatio(newest.bytes, previousBytes),
    medianPreviousBytes: median(previousBytes),
    previousCount: previousBytes.length,
    validBackups: valid.length,
    reference,
    ...drill,
  };
}

/**
 * The newest drill report under `drills/<db>/` whose status is PASSED (reports are small and few:
 * one a month, expired by lifecycle). Age uses the report's S3 LastModified, like backup age.
 */
export async function newestPassedDrill(
  s3: S3Client,
  bucket: string,
  databaseId: string,
): Promise<{ key: string; lastModified: Date } | undefined> {
  const reports = await listNewestFirst(s3, bucket, drillReportPrefix(databaseId), '.json');
  for (const r of reports) {
    try {
      const report = JSON.parse(await readText(s3, bucket, r.Key!)) as { status?: unknown };
      if (report.status === 'PASSED') return { key: r.Key!, lastModified: r.LastModified! };
    } catch {
      // An unreadable report proves nothing; look at the next one.
    }
  }
  return undefined;
}

/**
 * Whether a KMS key can be used: Enabled and in state `Enabled`. Disabled, PendingDeletion,
 * PendingImport, Unavailable or an error from DescribeKey all count as unusable.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
 */
export async function keyStatus(key: KeyToCheck): Promise<KeyStatus> {
  try {
    const out = await key.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
    const md = out.KeyMetadata;
    const state = md?.KeyState ?? 'Unknown';
    const usable = md?.Enabled === true && state === 'Enabled';
    const detail = usable
      ? 'enabled'
      : state === 'PendingDeletion'
        ? `pending deletion${md?.DeletionDate ? ` on ${md.DeletionDate.toISOString()}` : ''}`
        : `key state ${state}${md?.Enabled === false ? ' (disabled)' : ''}`;
    return { label: key.label, keyId: key.keyId, usable, state, detail };
  } catch (e) {
    return {
      label: key.label,
      keyId: key.keyId,
      usable: false,
      state: 'Unknown',
      detail: `DescribeKey failed: ${(e as Error).name}: ${(e as Error).message}`,
    };
  }
}

export async function checkFreshness(options: FreshnessOptions): Promise<FreshnessReport> {
  const databases: DatabaseFreshness[] = [];
  for (const id of options.databaseIds) {
    databases.push(await databaseFreshness(options.s3, options.bucket, id, { now: options.now }));
  }
  const keys = await Promise.all((options.keys ?? []).map(keyStatus));
  return { databases, keys };
}
