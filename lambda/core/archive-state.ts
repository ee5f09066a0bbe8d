/**
 * Archived backups: whether an object can be read now (its storage class and the state of a
 * restore), the one message that tells an operator how to make it readable, and the thaw itself
 * (RestoreObject for every archived object of a backup, then polling HeadObject until S3 says the
 * temporary copy is there).
 *
 * S3 Glacier Flexible Retrieval (`GLACIER`) and Deep Archive (`DEEP_ARCHIVE`) objects cannot be
 * read with GetObject until restored; Glacier Instant Retrieval (`GLACIER_IR`) reads like Standard.
 * HeadObject reports a restore in `x-amz-restore` (the SDK's `Restore`):
 * `ongoing-request="true"` while S3 works, then `ongoing-request="false", expiry-date="..."`.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html
 */
import {
  HeadObjectCommand,
  ListObjectsV2Command,
  RestoreObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { atVersion } from './s3';
import { STORED_TIERS } from './tiers';

/** Storage classes whose objects need a RestoreObject before GetObject. */
export const ARCHIVE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'] as const;
export type ArchiveClass = (typeof ARCHIVE_CLASSES)[number];

export type RetrievalTier = 'expedited' | 'standard' | 'bulk';
export const RETRIEVAL_TIERS: readonly RetrievalTier[] = ['expedited', 'standard', 'bulk'];

/**
 * How long a restore typically takes, per storage class and retrieval tier, as AWS documents it
 * (typical, not guaranteed). Expedited is not offered for Deep Archive.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html
 */
export const RETRIEVAL_TIME: Readonly<Record<ArchiveClass, Partial<Record<RetrievalTier, string>>>> = {
  GLACIER: { expedited: 'about 1-5 min', standard: 'about 3-5 h', bulk: 'about 5-12 h' },
  DEEP_ARCHIVE: { standard: 'about 12 h', bulk: 'about 48 h' },
};

export const isArchiveClass = (storageClass: string | undefined): storageClass is ArchiveClass =>
  (ARCHIVE_CLASSES as readonly string[]).includes(storageClass ?? '');

/** Where an object stands. */
export interface ArchiveState {
  readonly key: string;
  /** As S3 reports it; HeadObject omits it for STANDARD. */
  readonly storageClass: string;
  /** In a class that needs a restore before it can be read. */
  readonly archived: boolean;
  /** `none`: no restore requested; `ongoing`: S3 is restoring; `restored`: a copy is readable. */
  readonly restore: 'none' | 'ongoing' | 'restored';
  /** When the restored copy goes away. */
  readonly expiresAt?: Date;
  /** Can be read with GetObject now. */
  readonly readable: boolean;
  readonly bytes?: number;
  /** The version HeadObject described, when the bucket is versioned. */
  readonly versionId?: string;
}

/** Parses `x-amz-restore`: `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`. */
export function parseRestoreHeader(value: string | undefined): {
  restore: ArchiveState['restore'];
  expiresAt?: Date;
} {
  if (!value) return { restore: 'none' };
  const ongoing = /ongoing-request\s*=\s*"(true|false)"/i.exec(value)?.[1]?.toLowerCase();
  if (ongoing === 'true') return { restore: 'ongoing' };
  const expiry = /expiry-date\s*=\s*"([^"]+)"/i.exec(value)?.[1];
  const expiresAt = expiry ? new Date(expiry) : undefined;
  return {
    restore: ongoing === 'false' ? 'restored' : 'none',
    expiresAt: expiresAt && !Number.isNaN(expiresAt.getTime()) ? expiresAt : undefined,
  };
}

/** The state of one object (of `versionId`, when given), from HeadObject. */
export async function headArchiveState(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<ArchiveState> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...atVersion(versionId) }));
  const storageClass = head.StorageClass ?? 'STANDARD';
  const archived = isArchiveClass(storageClass);
  const { restore, expiresAt } = parseRestoreHeader(head.Restore);
  return {
    key,
    storageClass,
    archived,
    restore,
    expiresAt,
    readable: !archived || restore === 'restored',
    bytes: head.ContentLength,
    versionId: head.VersionId ?? versionId,
  };
}

/** `<tier>/<db>/<period>/<backupId>.<suffix>` → the database and backup ids, when the key is one. */
export function backupOfKey(key: string): { databaseId: string; backupId: string } | undefined {
  const m = /^([a-z]+)\/([^/]+)\/[^/]+\/([^/.]+)\.[^/]+$/.exec(key);
  return m && (STORED_TIERS as readonly string[]).includes(m[1])
    ? { databaseId: m[2], backupId: m[3] }
    : undefined;
}

/**
 * The operator's next step for an object that cannot be read yet: the exact `restorable thaw`
 * command and how long each tier takes, or, when a restore is already under way, how to wait.
 */
export function thawHint(state: ArchiveState, bucket?: string): string {
  const ids = backupOfKey(state.key);
  const what = ids ? `backup ${ids.backupId}` : `s3://${bucket ?? '?'}/${state.key}`;
  const command = `restorable thaw${ids ? ` --db ${ids.databaseId} --backup ${ids.backupId}` : ''}${
    bucket ? ` --bucket ${bucket}` : ''
  }`;
  const times = RETRIEVAL_TIME[state.storageClass as ArchiveClass] ?? {};
  if (state.restore === 'ongoing') {
    return `${what} is in ${state.storageClass} and its restore is still in progress; wait for it with: ${command} --wait`;
  }
  const options = (['bulk', 'standard', 'expedited'] as const)
    .filter((t) => times[t])
    .map((t) => `--tier ${t} (${times[t]})`)
    .join(' or ');
  return `${what} is in ${state.storageClass}; run: ${command} ${options}`;
}

/** Thrown when an object of a backup is archived and not restored; the message says how to thaw. */
export class ArchivedObjectError extends Error {
  override readonly name = 'ArchivedObjectError';
  readonly code = 'ARCHIVED';
  constructor(
    readonly state: ArchiveState,
    bucket?: string,
  ) {
    super(thawHint(state, bucket));
  }
}

/**
 * Throws ArchivedObjectError unless the object can be read now. One HeadObject before a read of a
 * whole archive: GetObject's own refusal (InvalidObjectState) names neither the class nor the
 * restore state, and S3-compatible servers may not refuse at all.
 *
 * Returns the version to read: `versionId` when the caller knows it (the manifest recorded it),
 * else the one HeadObject saw, so the GetObject that follows reads the object checked here even if
 * a new version or a delete marker lands in between (pass it on with atVersion).
 */
export async function assertReadable(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<string | undefined> {
  let state: ArchiveState;
  try {
    state = await headArchiveState(s3, bucket, key, versionId);
  } catch {
    // Missing or unreachable: the read that follows reports it in its own words.
    return versionId;
  }
  if (!state.readable) throw new ArchivedObjectError(state, bucket);
  return state.versionId;
}

/** True for S3's refusal to GetObject an archived object. */
export function isInvalidObjectState(e: unknown): boolean {
  const err = e as { name?: string; Code?: string };
  return err?.name === 'InvalidObjectState' || err?.Code === 'InvalidObjectState';
}

/**
 * Every object of a backup (`<tier>/<db>/<period>/<backupId>.*`: archive, roles file, manifest, and
 * any other file of it), found by listing, so a backup whose manifest is itself archived is found.
 */
export async function backupObjectKeys(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  backupId: string,
): Promise<string[]> {
  const keys: string[] = [];
  for (const tier of STORED_TIERS) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: `${tier}/${databaseId}/`,
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key && backupOfKey(o.Key)?.backupId === backupId) keys.push(o.Key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return keys.sort();
}

export interface ThawOptions {
  /** @default 'bulk' - the cheapest; free for Glacier Flexible Retrieval */
  readonly tier?: RetrievalTier;
  /** How long the restored copy stays readable. @default 7 */
  readonly days?: number;
}

/** What a thaw request did to each object. */
export interface ThawRequest {
  readonly state: ArchiveState;
  /** `requested`: RestoreObject accepted; `in-progress`: S3 already restoring; `not-needed`. */
  readonly action: 'requested' | 'in-progress' | 'not-needed';
}

/**
 * Requests a restore of every archived object of a backup that is neither readable nor already
 * being restored. Throws when no object of the backup exists, or when `tier` is not offered for an
 * object's class (expedited from Deep Archive), before requesting anything.
 */
export async function requestThaw(
  s3: S3Client,
  bucket: string,
  databaseId: string,
  backupId: string,
  options: ThawOptions = {},
): Promise<ThawRequest[]> {
  const tier = options.tier ?? 'bulk';
  const days = options.days ?? 7;
  if (!Number.isInteger(days) || days < 1) throw new Error(`days must be a positive integer (got ${days})`);
  const keys = await backupObjectKeys(s3, bucket, databaseId, backupId);
  if (keys.length === 0)
    throw new Error(`backup ${backupId} of ${databaseId} has no objects in bucket ${bucket}`);
  const states = await Promise.all(keys.map((k) => headArchiveState(s3, bucket, k)));
  const unsupported = states.filter(
    (s) => s.archived && s.restore === 'none' && !RETRIEVAL_TIME[s.storageClass as ArchiveClass][tier],
  );
  if (unsupported.length > 0) {
    throw new Error(
      `--tier ${tier} is not offered for ${unsupported[0].storageClass} (${unsupported.map((s) => s.key).join(', ')}); ` +
        `use ${Object.keys(RETRIEVAL_TIME[unsupported[0].storageClass as ArchiveClass]).join(' or ')}`,
    );
  }
  const out: ThawRequest[] = [];
  for (const state of states) {
    if (!state.archived || state.restore === 'restored') {
      out.push({ state, action: 'not-needed' });
      continue;
    }
    if (state.restore === 'ongoing') {
      out.push({ state, action: 'in-progress' });
      continue;
    }
    try {
      await s3.send(
        new RestoreObjectCommand({
          Bucket: bucket,
          Key: state.key,
          RestoreRequest: {
            Days: days,
            GlacierJobParameters: { Tier: (tier[0].toUpperCase() + tier.slice(1)) as 'Bulk' },
          },
        }),
      );
      out.push({ state: { ...state, restore: 'ongoing' }, action: 'requested' });
    } catch (e) {
      // Another operator (or an earlier run) asked first: S3 answers 409 RestoreAlreadyInProgress.
      if ((e as { name?: string }).name === 'RestoreAlreadyInProgress') {
        out.push({ state: { ...state, restore: 'ongoing' }, action: 'in-progress' });
      } else throw e;
    }
  }
  return out;
}

export interface WaitOptions {
  /** @default 5 minutes: restores take minutes to days, and each poll is a billed request */
  readonly intervalMs?: number;
  /** Give up after this long. @default - wait as long as S3 takes */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** After each poll: how many of the objects are readable. */
  readonly onPoll?: (states: readonly ArchiveState[], elapsedMs: number) => void;
  /** @default setTimeout; tests pass a clock that does not sleep */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * Polls HeadObject until every key is readable. Resolves to the final states; `complete` is false
 * when it stopped early (timeout or signal).
 */
export async function waitForThaw(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  options: WaitOptions = {},
): Promise<{ complete: boolean; states: ArchiveState[] }> {
  const started = Date.now();
  const sleep = options.sleep ?? defaultSleep;
  const interval = options.intervalMs ?? 5 * 60_000;
  let slept = 0;
  // Elapsed time is the clock's, or the intervals slept when a test's sleep returns at once.
  const elapsed = () => Math.max(Date.now() - started, slept);
  for (;;) {
    const states = await Promise.all(keys.map((k) => headArchiveState(s3, bucket, k)));
    options.onPoll?.(states, elapsed());
    if (states.every((s) => s.readable)) return { complete: true, states };
    if (options.signal?.aborted) return { complete: false, states };
    if (options.timeoutMs !== undefined && elapsed() >= options.timeoutMs) return { complete: false, states };
    await sleep(interval, options.signal);
    slept += interval;
  }
}
