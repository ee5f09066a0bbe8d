/**
 * Retention per grandfather-father-son tier: each tier's expiry (also every object's Object Lock
 * retain-until) and storage-class transitions, validated against S3's own lifecycle rules.
 */
import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DEFAULT_RETENTION_DAYS, type RetentionDays, type Tier, TIERS } from '../../lambda/core/tiers';

/** A lifecycle transition of one tier's objects to a colder storage class. */
export interface TierTransition {
  readonly storageClass: s3.StorageClass;
  /** Age of the object (since it was written) at which it moves. */
  readonly transitionAfter: Duration;
}

/** How long one tier's objects live and where they live meanwhile. */
export interface TierLifecycle {
  /** Age at which current versions expire; also the Object Lock retain-until the dump sets. */
  readonly expiration: Duration;
  /**
   * @default - objects stay in S3 Standard until they expire
   */
  readonly transitions?: TierTransition[];
}

export interface RetentionTiersProps {
  readonly daily: TierLifecycle;
  readonly weekly: TierLifecycle;
  readonly monthly: TierLifecycle;
  readonly yearly: TierLifecycle;
}

/**
 * Lifecycle per grandfather-father-son tier, validated against the rules S3 itself enforces so a
 * bad combination fails at synth rather than at deploy.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 */
export class RetentionTiers {
  /** DESIGN.md "Storage": daily 30 d; weekly 90 d (IA at 30); monthly 365 d (Glacier IR at 30); yearly 2555 d (Glacier IR at 30, Deep Archive at 90). */
  public static standard(): RetentionTiers {
    return RetentionTiers.fromDays(DEFAULT_RETENTION_DAYS);
  }

  /**
   * The standard storage classes with the given expiries. A transition is kept only when it
   * happens before the tier expires (S3 rejects a rule whose expiration is not after its
   * transitions), so short tiers simply stay in S3 Standard.
   */
  public static fromDays(days: RetentionDays): RetentionTiers {
    const tier = (expiryDays: number, transitions: [s3.StorageClass, number][]): TierLifecycle => ({
      expiration: Duration.days(expiryDays),
      transitions: transitions
        .filter(([, after]) => after < expiryDays)
        .map(([storageClass, after]) => ({ storageClass, transitionAfter: Duration.days(after) })),
    });
    return new RetentionTiers({
      daily: tier(days.daily, []),
      weekly: tier(days.weekly, [[s3.StorageClass.INFREQUENT_ACCESS, 30]]),
      monthly: tier(days.monthly, [[s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30]]),
      yearly: tier(days.yearly, [
        [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30],
        [s3.StorageClass.DEEP_ARCHIVE, 90],
      ]),
    });
  }

  public readonly daily: TierLifecycle;
  public readonly weekly: TierLifecycle;
  public readonly monthly: TierLifecycle;
  public readonly yearly: TierLifecycle;

  constructor(props: RetentionTiersProps) {
    this.daily = props.daily;
    this.weekly = props.weekly;
    this.monthly = props.monthly;
    this.yearly = props.yearly;
    this.validate();
  }

  /** The lifecycle of one tier. */
  public tier(tier: Tier): TierLifecycle {
    return this[tier];
  }

  /** The shortest expiry of any tier: the longest any bucket-default Object Lock may be. */
  public get shortestExpiration(): Duration {
    return this.daily.expiration;
  }

  /** Expiry days per tier, as `lambda/core/tiers.ts` takes them for Object Lock retain-until. */
  public toRetentionDays(): RetentionDays {
    return {
      daily: this.daily.expiration.toDays(),
      weekly: this.weekly.expiration.toDays(),
      monthly: this.monthly.expiration.toDays(),
      yearly: this.yearly.expiration.toDays(),
    };
  }

  private validate(): void {
    const ordered = [...TIERS].reverse(); // daily, weekly, monthly, yearly
    let previous: { tier: Tier; days: number } | undefined;
    for (const tier of ordered) {
      const lifecycle = this[tier];
      if (lifecycle.expiration.isUnresolved()) {
        previous = undefined;
        continue;
      }
      const expiry = wholeDays(lifecycle.expiration, `${tier} expiration`);
      if (expiry < 1)
        throw new Error(`RetentionTiers: ${tier} expiration must be at least 1 day, got ${expiry}`);
      if (previous && expiry <= previous.days) {
        throw new Error(
          `RetentionTiers: ${tier} expiration (${expiry} days) must be greater than ${previous.tier} expiration (${previous.days} days)`,
        );
      }
      previous = { tier, days: expiry };

      let last: { storageClass: string; days: number } | undefined;
      for (const transition of lifecycle.transitions ?? []) {
        if (transition.transitionAfter.isUnresolved()) continue;
        const at = wholeDays(transition.transitionAfter, `${tier} transition`);
        const storageClass = transition.storageClass.value;
        // S3 does not move objects to Standard-IA or One Zone-IA before they are 30 days old.
        if (isInfrequentAccess(storageClass) && at < 30) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} after ${at} days is too early: S3 requires at least 30 days`,
          );
        }
        if (last && at <= last.days) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must come after the transition to ${last.storageClass} (${last.days} days)`,
          );
        }
        // S3 keeps objects at least 30 days in Standard-IA / One Zone-IA before the next transition.
        if (last && isInfrequentAccess(last.storageClass) && at - last.days < 30) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must be at least 30 days after the transition to ${last.storageClass} (${last.days} days)`,
          );
        }
        if (at >= expiry) {
          throw new Error(
            `RetentionTiers: ${tier} transition to ${storageClass} (${at} days) must come before the tier expires (${expiry} days)`,
          );
        }
        last = { storageClass, days: at };
      }
    }
  }
}

const isInfrequentAccess = (storageClass: string): boolean =>
  storageClass === s3.StorageClass.INFREQUENT_ACCESS.value ||
  storageClass === s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS.value;

function wholeDays(duration: Duration, what: string): number {
  const value = duration.toDays({ integral: false });
  if (!Number.isInteger(value))
    throw new Error(`RetentionTiers: ${what} must be a whole number of days, got ${value}`);
  return value;
}
