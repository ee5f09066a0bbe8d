/**
 * Retention per grandfather-father-son tier: each tier's expiry (also every object's Object Lock
 * retain-until) and storage-class transitions, validated against S3's own lifecycle rules and
 * minimum storage durations.
 */
import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DEFAULT_RETENTION_DAYS, type RetentionDays, type Tier, TIERS } from '../../lambda/core/tiers';
import { defaultTierPlan, lifecycleProblems } from '../config/lifecycle';

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
  /**
   * Accept transitions and expiries that take objects out of a storage class before its minimum
   * storage duration (S3 bills the remainder as an early-deletion charge).
   *
   * @default false - such a lifecycle is an error
   */
  readonly allowEarlyDeletionCharges?: boolean;
}

/** Options of {@link RetentionTiers.fromDays}. */
export interface RetentionTiersFromDaysOptions {
  /**
   * @default false - see {@link RetentionTiersProps.allowEarlyDeletionCharges}
   */
  readonly allowEarlyDeletionCharges?: boolean;
}

/**
 * Lifecycle per grandfather-father-son tier, validated against the rules S3 itself enforces and
 * against each storage class's minimum storage duration (`lib/config/lifecycle.ts`), so a bad
 * combination fails at synth rather than at deploy or on the bill.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 */
export class RetentionTiers {
  /**
   * DESIGN.md "Storage": daily 30 d; weekly 90 d (IA at 30); monthly 365 d (Glacier IR at 30);
   * yearly 2555 d (Glacier IR at 30, Deep Archive at 120, after Glacier IR's 90-day minimum).
   */
  public static standard(): RetentionTiers {
    return RetentionTiers.fromDays(DEFAULT_RETENTION_DAYS);
  }

  /**
   * The standard storage classes (`DEFAULT_TIER_TRANSITIONS` in lib/config/lifecycle.ts) with the given expiries. A
   * transition is kept only when it happens before the tier expires (S3 rejects a rule whose
   * expiration is not after its transitions), so short tiers simply stay in S3 Standard.
   */
  public static fromDays(days: RetentionDays, options: RetentionTiersFromDaysOptions = {}): RetentionTiers {
    const tier = (name: Tier): TierLifecycle => {
      const plan = defaultTierPlan(name, days[name]);
      return {
        expiration: Duration.days(plan.expiryDays),
        transitions: plan.transitions.map((t) => ({
          storageClass: new s3.StorageClass(t.storageClass),
          transitionAfter: Duration.days(t.days),
        })),
      };
    };
    return new RetentionTiers({
      daily: tier('daily'),
      weekly: tier('weekly'),
      monthly: tier('monthly'),
      yearly: tier('yearly'),
      allowEarlyDeletionCharges: options.allowEarlyDeletionCharges,
    });
  }

  public readonly daily: TierLifecycle;
  public readonly weekly: TierLifecycle;
  public readonly monthly: TierLifecycle;
  public readonly yearly: TierLifecycle;
  public readonly allowEarlyDeletionCharges: boolean;

  constructor(props: RetentionTiersProps) {
    this.daily = props.daily;
    this.weekly = props.weekly;
    this.monthly = props.monthly;
    this.yearly = props.yearly;
    this.allowEarlyDeletionCharges = props.allowEarlyDeletionCharges ?? false;
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

  /** Every broken rule of every tier in one error, so one synth shows them all. */
  private validate(): void {
    const ordered = [...TIERS].reverse(); // daily, weekly, monthly, yearly
    const problems: string[] = [];
    let previous: { tier: Tier; days: number } | undefined;
    for (const tier of ordered) {
      const lifecycle = this[tier];
      if (lifecycle.expiration.isUnresolved()) {
        previous = undefined;
        continue;
      }
      const expiry = wholeDays(lifecycle.expiration, `${tier} expiration`);
      if (expiry < 1) problems.push(`${tier} expiration must be at least 1 day, got ${expiry}`);
      if (previous && expiry <= previous.days) {
        problems.push(
          `${tier} expiration (${expiry} days) must be greater than ${previous.tier} expiration (${previous.days} days)`,
        );
      }
      previous = { tier, days: expiry };
      const transitions = (lifecycle.transitions ?? [])
        .filter((t) => !t.transitionAfter.isUnresolved())
        .map((t) => ({
          storageClass: t.storageClass.value,
          days: wholeDays(t.transitionAfter, `${tier} transition`),
        }));
      for (const problem of lifecycleProblems({ expiryDays: expiry, transitions })) {
        if (problem.kind === 'early-deletion' && this.allowEarlyDeletionCharges) continue;
        problems.push(
          `${tier} ${problem.message}` +
            (problem.kind === 'early-deletion' ? ' (set allowEarlyDeletionCharges to accept it)' : ''),
        );
      }
    }
    if (problems.length > 0) throw new Error(`RetentionTiers: ${problems.join('; ')}`);
  }
}

function wholeDays(duration: Duration, what: string): number {
  const value = duration.toDays({ integral: false });
  if (!Number.isInteger(value))
    throw new Error(`RetentionTiers: ${what} must be a whole number of days, got ${value}`);
  return value;
}
