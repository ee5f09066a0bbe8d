/**
 * The durable record of a verification: `<tier>/<db>/<period>/<backupId>.verify-<yyyymmddThhmmssZ>-<4 hex>.json`,
 * written next to the manifest with the backup's own Object Lock retain-until, so an evidence
 * report rebuilds "this backup was verified, on this day, with these checks" from the bucket alone
 * (verify results otherwise live only in Step Functions history and CloudWatch, which expire).
 *
 * One object per verification, never an overwrite: the vault's bucket policy only allows
 * conditional creates, and a later re-verification that finds bit rot must not erase the earlier
 * pass (both are evidence). Readers take the newest record per backup.
 */
import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { DEFAULT_OBJECT_LOCK_MODE, type ObjectLockMode } from './handler-env';
import { parseManifest, type Manifest } from './manifest';
import { readText } from './s3';
import { compactTimestamp } from './tiers';
import type { VerifyResult } from './verify';

export const VerificationRecordSchema = z.object({
  formatVersion: z.literal(1),
  backupId: z.string(),
  databaseId: z.string(),
  manifestKey: z.string(),
  verifiedAt: z.iso.datetime({ offset: true }),
  /** Who verified: the backup workflow's verify state, or an operator's `restorable verify`. */
  by: z.enum(['workflow', 'cli']),
  ok: z.boolean(),
  /** Codes of the failed checks (SIZE_MISMATCH, REPLICA_MISSING, ...). */
  failed: z.array(z.string()),
  /** Whether the replica copy was checked and found present with the right sizes. */
  replica: z.enum(['present', 'missing', 'not-checked']),
  checks: z.array(
    z.object({
      name: z.string(),
      status: z.string(),
      code: z.string().optional(),
      detail: z.string(),
    }),
  ),
});
export type VerificationRecord = z.infer<typeof VerificationRecordSchema>;

/** The key prefix shared by every verification record of one backup. */
export function verificationPrefix(manifestKey: string): string {
  if (!manifestKey.endsWith('.manifest.json')) throw new Error(`${manifestKey} is not a manifest key`);
  return `${manifestKey.slice(0, -'.manifest.json'.length)}.verify-`;
}

/**
 * `<prefix><yyyymmddThhmmssZ>-<4 hex>.json`: sorts by time, and two verifications in one second
 * (a rerun) still get keys of their own, so the conditional create never refuses a verdict.
 */
export function verificationKey(manifestKey: string, at: Date): string {
  return `${verificationPrefix(manifestKey)}${compactTimestamp(at)}-${randomBytes(2).toString('hex')}.json`;
}

/** True for keys written by recordVerification. */
export const isVerificationKey = (key: string): boolean =>
  /\.verify-\d{8}T\d{6}Z-[0-9a-f]{4}\.json$/.test(key);

export interface RecordVerificationOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** A verdict (not a pending result: pending proves nothing yet). */
  readonly result: VerifyResult;
  readonly by: VerificationRecord['by'];
  /** The backup's manifest, for its retain-until. @default - read from `result.manifestKey` */
  readonly manifest?: Manifest;
  /** @default DEFAULT_OBJECT_LOCK_MODE (as the dump) */
  readonly objectLockMode?: ObjectLockMode;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Builds the record a verification leaves (pure; exported for tests). */
export function verificationRecord(
  result: VerifyResult,
  by: VerificationRecord['by'],
  at: Date,
): VerificationRecord {
  if (!result.manifestKey || !result.backupId || !result.databaseId) {
    throw new Error('cannot record a verification that found no manifest');
  }
  const replica = result.checks.find((c) => c.name === 'replica');
  return {
    formatVersion: 1,
    backupId: result.backupId,
    databaseId: result.databaseId,
    manifestKey: result.manifestKey,
    verifiedAt: at.toISOString(),
    by,
    ok: result.ok,
    failed: result.checks.filter((c) => c.status === 'fail').map((c) => c.code ?? c.name),
    replica: !replica || replica.status === 'skipped' ? 'not-checked' : replica.ok ? 'present' : 'missing',
    checks: result.checks.map((c) => ({
      name: c.name,
      status: c.status,
      ...(c.code ? { code: c.code } : {}),
      detail: c.detail,
    })),
  };
}

/**
 * Writes the record with the backup's Object Lock retain-until (a conditional create). Returns its
 * key, or undefined for a pending result (nothing decided, nothing to record) and for a missing or
 * unreadable manifest (no backup to attach a record to, nor a retain-until to lock it with; the
 * verdict itself still fails the run).
 */
export async function recordVerification(options: RecordVerificationOptions): Promise<string | undefined> {
  const { result } = options;
  if (result.pending || !result.backupId) return undefined;
  const at = (options.now ?? (() => new Date()))();
  const record = verificationRecord(result, options.by, at);
  const manifest =
    options.manifest ?? parseManifest(await readText(options.s3, options.bucket, record.manifestKey));
  const mode = options.objectLockMode ?? DEFAULT_OBJECT_LOCK_MODE;
  const key = verificationKey(record.manifestKey, at);
  await options.s3.send(
    new PutObjectCommand({
      Bucket: options.bucket,
      Key: key,
      Body: `${JSON.stringify(record, null, 2)}\n`,
      ContentType: 'application/json',
      IfNoneMatch: '*',
      // The backup's key when the manifest names one; otherwise the bucket default (the bucket
      // policy denies aws:kms without a key id).
      ...(manifest.encryption.kmsKeyId
        ? {
            ServerSideEncryption: 'aws:kms',
            SSEKMSKeyId: manifest.encryption.kmsKeyId,
            BucketKeyEnabled: true,
          }
        : {}),
      // The record lives and is locked exactly as long as the backup it describes.
      ...(mode === 'NONE'
        ? {}
        : { ObjectLockMode: mode, ObjectLockRetainUntilDate: new Date(manifest.retainUntil) }),
    }),
  );
  return key;
}

/** Every readable verification record of one backup, oldest first (unreadable ones are skipped). */
export async function readVerifications(
  s3: S3Client,
  bucket: string,
  manifestKey: string,
): Promise<VerificationRecord[]> {
  const out = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: verificationPrefix(manifestKey) }),
  );
  const keys = (out.Contents ?? [])
    .map((o) => o.Key!)
    .filter(isVerificationKey)
    .sort();
  const records: VerificationRecord[] = [];
  for (const key of keys) {
    try {
      records.push(VerificationRecordSchema.parse(JSON.parse(await readText(s3, bucket, key))));
    } catch {
      // A damaged record proves nothing; the report shows the backup as unverified.
    }
  }
  return records;
}
