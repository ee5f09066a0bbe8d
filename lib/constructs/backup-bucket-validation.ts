/**
 * Constructor-time checks of {@link BackupBucket}'s props: they say what was received and what is
 * allowed, and skip unresolved tokens (a token's value is only known at deploy time).
 */
import type { Duration } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { RetentionTiers } from './retention-tiers';

/**
 * The bucket-default Object Lock must not outlast the shortest expiry it applies to, or objects
 * would stay locked (and billed) after their lifecycle rule expired them.
 */
export function validateObjectLock(
  objectLockRetention: s3.ObjectLockRetention,
  retention: RetentionTiers,
  drillReportExpiration: Duration,
): void {
  const lock = objectLockRetention.duration;
  if (lock.isUnresolved()) return;
  const lockDays = lock.toDays();
  const limits: [string, Duration][] = [
    ['the daily tier expiration', retention.shortestExpiration],
    ['drillReportExpiration', drillReportExpiration],
  ];
  for (const [what, limit] of limits) {
    if (!limit.isUnresolved() && lockDays > limit.toDays()) {
      throw new Error(
        `BackupBucket objectLockRetention (${lockDays} days) must not exceed ${what} (${limit.toDays()} days): objects would stay locked after they expire`,
      );
    }
  }
}

/** S3's bucket naming rules, checked at synth instead of failing the deployment. */
export function validateBucketName(name: string): void {
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..')) {
    throw new Error(
      `BackupBucket bucketName must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, got "${name}"`,
    );
  }
}
