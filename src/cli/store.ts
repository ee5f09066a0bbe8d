/**
 * The bucket a command works on: the flags every bucket command shares (`--db`, `--bucket` or
 * `--stack`, `--region`, `--json`, progress), finding the bucket (and its replica) from them, and
 * picking a backup in it by id or `latest`.
 */
import type { Command } from 'commander';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackupEntry } from '../../lambda/core/catalog';
import { Failure, UsageError } from './errors';
import { core } from './load-core';
import { readStackOutputs } from './stack-outputs';

export interface StoreOptions {
  db: string;
  bucket?: string;
  stack?: string;
  region?: string;
  json?: boolean;
  progress?: boolean;
}

export interface Store {
  s3: S3Client;
  bucket: string;
  replicaBucket?: string;
  replicaRegion?: string;
}

/** Adds the flags every command working on a database's backups takes. */
export function storeOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--db <id>', 'database id (as in the config)')
    .option('--bucket <name>', 'backup bucket')
    .option('--stack <name>', 'read the bucket names from this deployed BackupStack')
    .option('--region <region>', 'AWS region of the bucket (default: AWS_REGION)')
    .option('--json', 'machine-readable output')
    .option('--progress', 'show progress on stderr (default: when stderr is a terminal)')
    .option('--no-progress', 'never show progress');
}

/** The bucket from `--bucket`, or from the deployed BackupStack's outputs with `--stack`. */
export async function resolveStore(
  o: StoreOptions & { replicaBucket?: string; replicaRegion?: string },
): Promise<Store> {
  let bucket = o.bucket;
  let replicaBucket = o.replicaBucket;
  let replicaRegion = o.replicaRegion;
  if (!bucket && o.stack) {
    const outputs = await readStackOutputs(o.stack, o.region);
    bucket = outputs.get('BackupBucketName');
    replicaBucket ??= outputs.get('ReplicaBucketName');
    replicaRegion ??= outputs.get('ReplicaRegion');
    if (!bucket) throw new Failure(`stack ${o.stack} has no BackupBucketName output`);
    if (replicaBucket && !replicaRegion) {
      // The stack names the replica bucket but not its region: ask S3 where the bucket lives.
      const located = await core()
        .makeS3Client(o.region)
        .send(new (core().GetBucketLocationCommand)({ Bucket: replicaBucket }))
        .catch((e: Error) => {
          throw new Failure(
            `cannot find the region of replica bucket ${replicaBucket}: ${e.name}: ${e.message}`,
          );
        });
      // us-east-1 buckets report no LocationConstraint.
      replicaRegion = located.LocationConstraint || 'us-east-1';
    }
  }
  if (!bucket) throw new UsageError('give --bucket <name> or --stack <name>');
  const { makeS3Client, HeadBucketCommand, isNotFound } = core();
  const s3 = makeS3Client(o.region);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (e) {
    const where = process.env.AWS_ENDPOINT_URL_S3 ?? `S3 (${await s3.config.region()})`;
    if (isNotFound(e)) throw new Failure(`bucket ${bucket} does not exist at ${where}`);
    throw new Failure(
      `bucket ${bucket} is not reachable at ${where}: ${(e as Error).name}: ${(e as Error).message}`,
    );
  }
  return { s3, bucket, replicaBucket, replicaRegion };
}

/** A valid backup to restore from: by id, or `latest` (the newest valid one). */
export async function findBackup(store: Store, db: string, backup: string): Promise<BackupEntry> {
  if (backup === 'latest') {
    const latest = await core().latestValidBackup(store.s3, store.bucket, db);
    if (!latest) throw new Failure(`no valid backup of ${db} in bucket ${store.bucket}`);
    return latest;
  }
  const all = await core().listBackups(store.s3, store.bucket, db, { includeInvalid: true });
  const found = all.find((b) => b.backupId === backup);
  if (!found) throw new Failure(`backup ${backup} not found for database ${db} in bucket ${store.bucket}`);
  if (!found.valid) throw new Failure(`backup ${backup} is not valid: ${found.problem}`);
  return found;
}

/**
 * The backup to verify. Unlike restore, verify also takes a backup the listing already marks
 * invalid (a dump whose size changed, say): finding out exactly what is wrong with it is the point.
 * `latest` is the newest backup with a readable manifest, valid or not, so a damaged newest backup
 * is reported rather than silently passed over for an older good one.
 */
export async function findBackupToVerify(store: Store, db: string, backup: string): Promise<BackupEntry> {
  const all = await core().listBackups(store.s3, store.bucket, db, { includeInvalid: true });
  const withManifest = all.filter((b) => b.manifest !== undefined);
  if (backup === 'latest') {
    if (withManifest.length === 0) throw new Failure(`no backups of ${db} in bucket ${store.bucket}`);
    return withManifest[0];
  }
  const found = all.find((b) => b.backupId === backup);
  if (!found) throw new Failure(`backup ${backup} not found for database ${db} in bucket ${store.bucket}`);
  if (!found.manifest) throw new Failure(`backup ${backup} cannot be verified: ${found.problem}`);
  return found;
}
