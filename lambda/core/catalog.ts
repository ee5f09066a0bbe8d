/**
 * What backups exist, read from the bucket itself: the manifests under every tier prefix.
 *
 * A backup is *valid* when its manifest parses, agrees with its key, and the dump object it names
 * exists with the manifest's byte count. Anything else (an orphaned dump whose manifest is
 * missing, a manifest that is garbage, a dump that vanished or changed size) is not a backup as
 * far as placement, freshness and drills are concerned; `includeInvalid` lists them with the
 * problem for operators.
 *
 * "Latest good" for drills: `latestValidBackup(..., { verify })` re-verifies candidates newest
 * first (streams the object back, SHA-256 and size, optionally the archive TOC) and skips those
 * that fail. We chose this over writing "verified" marker objects: a marker records that bytes
 * were good once, while bit rot or a replaced object version can make them bad later; the drill
 * reads the whole object anyway, so checking it first costs one extra read and trusts nothing
 * stale.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { DIRECTORY_TOC, directoryPrefixOf, parseManifest, type Manifest } from './manifest';
import { isNotFound, readText } from './s3';
import { candidatePeriods, parseManifestKey, STORED_TIERS, type StoredTier, type Tier } from './tiers';
import { verifyBackup, type VerifyOptions, type VerifyResult } from './verify';

export interface BackupEntry {
  readonly backupId: string;
  readonly databaseId: string;
  readonly tier: StoredTier;
  readonly period: string;
  readonly manifestKey: string;
  /** Key of the dump archive (from the manifest, or derived from the id when the manifest is unusable). */
  readonly dumpKey: string;
  /** Present when the manifest parsed. */
  readonly manifest?: Manifest;
  readonly valid: boolean;
  /** Why the entry is not valid. */
  readonly problem?: string;
  /** When the backup ran: the timestamp in its id (what ordering uses). */
  readonly createdAt: Date;
  /** S3 LastModified of the manifest (the commit), or of the dump when there is no manifest. */
  readonly lastModified?: Date;
  /** Dump size in bytes, from the manifest (or the object when there is no manifest). */
  readonly bytes?: number;
}

export interface ListBackupsOptions {
  /** Only this tier. @default - all four and adhoc */
  readonly tier?: StoredTier;
  /** Also return entries that are not valid (with `problem`). @default false */
  readonly includeInvalid?: boolean;
  /** Only keys under this period (with `tier`), e.g. `2026-W47`. @default - every period */
  readonly period?: string;
  /**
   * Take the dump's presence and size from the listing (which already holds every object under
   * the database's prefixes) instead of a HeadObject per backup. For readers of evidence that may
   * read manifests but not dumps (the fleet's evidence report): HeadObject authorizes as
   * `s3:GetObject` on the dump. @default false - HeadObject, the object as it is now
   */
  readonly dumpFromListing?: boolean;
}

const DUMP_SUFFIX = '.dump';
const MANIFEST_SUFFIX = '.manifest.json';

/** `2026…T020000Z` in a backup id → Date. */
export function backupIdTime(backupId: string): Date {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(backupId);
  if (!m) throw new Error(`backup id "${backupId}" has no timestamp`);
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<_Object[]> {
  const out: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    out.push(...(page.Contents ?? []));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The object a manifest must name: `<id>.dump`, or a directory-layout dump's `<id>.dir/toc.dat`. */
const expectedObjectKey = (manifest: Manifest, dumpKey: string): string =>
  manifest.layout === 'directory' ? `${directoryPrefixOf(manifest)}${DIRECTORY_TOC}` : dumpKey;

/** A dump's presence and size: HeadObject, or the listing's size by key (`dumpFromListing`). */
type DumpSize = (key: string) => Promise<number | undefined>;

const headSize =
  (s3: S3Client, bucket: string): DumpSize =>
  async (key) => {
    try {
      return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };

async function inspectManifest(
  s3: S3Client,
  bucket: string,
  obj: _Object,
  parsed: NonNullable<ReturnType<typeof parseManifestKey>>,
  dumpSize: DumpSize,
): Promise<BackupEntry> {
  const key = obj.Key!;
  const dumpKey = key.slice(0, -MANIFEST_SUFFIX.length) + DUMP_SUFFIX;
  const base = {
    backupId: parsed.backupId,
    databaseId: parsed.databaseId,
    tier: parsed.tier,
    period: parsed.period,
    manifestKey: key,
    dumpKey,
    createdAt: backupIdTime(parsed.backupId),
    lastModified: obj.LastModified,
  };
  let manifest: Manifest;
  try {
    manifest = parseManifest(await readText(s3, bucket, key));
  } catch (e) {
    if (isNotFound(e)) return { ...base, valid: false, problem: 'manifest disappeared while listing' };
    return { ...base, valid: false, problem: `manifest unreadable: ${(e as Error).message}` };
  }
  const withManifest = { ...base, manifest, dumpKey: manifest.object.key, bytes: manifest.object.bytes };
  const mismatch =
    manifest.backupId !== parsed.backupId
      ? `manifest backupId ${manifest.backupId} does not match its key`
      : manifest.databaseId !== parsed.databaseId
        ? `manifest databaseId ${manifest.databaseId} does not match its key`
        : manifest.tier !== parsed.tier || manifest.period !== parsed.period
          ? `manifest tier/period ${manifest.tier}/${manifest.period} does not match its key`
          : manifest.object.key !== expectedObjectKey(manifest, dumpKey)
            ? `manifest names dump ${manifest.object.key}, expected ${expectedObjectKey(manifest, dumpKey)}`
            : undefined;
  if (mismatch) return { ...withManifest, valid: false, problem: mismatch };
  const bytes = await dumpSize(manifest.object.key);
  if (bytes === undefined) return { ...withManifest, valid: false, problem: 'dump object missing' };
  if (bytes !== manifest.object.bytes) {
    return {
      ...withManifest,
      valid: false,
      problem: `dump is ${bytes} bytes, manifest says ${manifest.object.bytes}`,
    };
  }
  return { ...withManifest, valid: true };
}

/**
 * Backups of one database across tiers, newest first (by the time in the backup id; ties by
 * manifest LastModified).
 */
export async function listBackups(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  options: ListBackupsOptions = {},
): Promise<BackupEntry[]> {
  const tiers = options.tier ? [options.tier] : STORED_TIERS;
  const prefixes = tiers.map(
    (t) => `${t}/${databaseId}/${options.period && options.tier ? `${options.period}/` : ''}`,
  );
  const objects = (await Promise.all(prefixes.map((p) => listAll(s3, bucket, p)))).flat();

  const manifests: { obj: _Object; parsed: NonNullable<ReturnType<typeof parseManifestKey>> }[] = [];
  const manifestKeys = new Set<string>();
  for (const obj of objects) {
    const parsed = obj.Key ? parseManifestKey(obj.Key) : undefined;
    if (parsed && parsed.databaseId === databaseId) {
      manifests.push({ obj, parsed });
      manifestKeys.add(obj.Key!);
    }
  }
  const listed = new Map(objects.map((o) => [o.Key, o.Size]));
  const dumpSize: DumpSize = options.dumpFromListing
    ? async (key) => (listed.has(key) ? (listed.get(key) ?? 0) : undefined)
    : headSize(s3, bucket);
  const entries = await mapLimit(manifests, 8, ({ obj, parsed }) =>
    inspectManifest(s3, bucket, obj, parsed, dumpSize),
  );

  if (options.includeInvalid) {
    // Dumps without a manifest: failed or in-flight runs, or a manifest deleted since.
    for (const obj of objects) {
      if (!obj.Key?.endsWith(DUMP_SUFFIX)) continue;
      const manifestKey = obj.Key.slice(0, -DUMP_SUFFIX.length) + MANIFEST_SUFFIX;
      const parsed = parseManifestKey(manifestKey);
      if (!parsed || parsed.databaseId !== databaseId || manifestKeys.has(manifestKey)) continue;
      entries.push({
        backupId: parsed.backupId,
        databaseId,
        tier: parsed.tier,
        period: parsed.period,
        manifestKey,
        dumpKey: obj.Key,
        createdAt: backupIdTime(parsed.backupId),
        lastModified: obj.LastModified,
        bytes: obj.Size,
        valid: false,
        problem: 'manifest missing (run failed, still running, or manifest deleted)',
      });
    }
  }
  const sorted = entries.sort(
    (a, b) =>
      b.createdAt.getTime() - a.createdAt.getTime() ||
      (b.lastModified?.getTime() ?? 0) - (a.lastModified?.getTime() ?? 0) ||
      b.backupId.localeCompare(a.backupId),
  );
  return options.includeInvalid ? sorted : sorted.filter((e) => e.valid);
}

export interface LatestOptions {
  readonly tier?: Tier;
  /**
   * Re-verify candidates newest first and skip those that fail (checksum, size, TOC). Pass verify
   * options (e.g. `pgBinDirs`, `toc: false`) or `true` for the defaults. @default false
   */
  readonly verify?: boolean | Omit<VerifyOptions, 's3' | 'bucket' | 'manifestKey' | 'manifest'>;
  /** Called for each candidate skipped because verification failed. */
  readonly onSkip?: (entry: BackupEntry, result: VerifyResult) => void;
}

/** The newest valid backup (optionally the newest that also re-verifies), or undefined. */
export async function latestValidBackup(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  options: LatestOptions = {},
): Promise<(BackupEntry & { verification?: VerifyResult }) | undefined> {
  const entries = await listBackups(s3, bucket, databaseId, { tier: options.tier });
  if (!options.verify) return entries[0];
  const verifyOptions = options.verify === true ? {} : options.verify;
  for (const entry of entries) {
    const result = await verifyBackup({ ...verifyOptions, s3, bucket, manifest: entry.manifest! });
    if (result.ok) return { ...entry, verification: result };
    options.onSkip?.(entry, result);
  }
  return undefined;
}

/**
 * The `"<tier>/<period>"` strings (among the yearly, monthly and weekly periods `at` falls in) that
 * already hold a valid backup; the input `placeBackup` needs.
 */
export async function occupiedPeriods(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  at: Date,
): Promise<Set<string>> {
  const occupied = new Set<string>();
  await Promise.all(
    candidatePeriods(at).map(async (tp) => {
      const [tier, period] = tp.split('/') as [Tier, string];
      const valid = await listBackups(s3, bucket, databaseId, { tier, period });
      if (valid.length > 0) occupied.add(tp);
    }),
  );
  return occupied;
}
