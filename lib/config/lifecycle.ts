/**
 * S3's lifecycle rules and minimum storage durations as data, and the check of one tier's plan
 * (transitions + expiry) against them. Pure, so the config reports problems by path and
 * `RetentionTiers` throws them, from the same rules.
 *
 * Hard rules are ones S3 itself rejects at deploy; early-deletion rules are ones S3 accepts and
 * bills for (a prorated charge for the rest of the class's minimum storage duration), so a plan
 * that breaks them is an error unless the caller opts in to the charge.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 * @see https://aws.amazon.com/s3/storage-classes/ (minimum storage durations)
 */

/** Storage classes lifecycle rules transition to, by their API names (`s3.StorageClass.value`). */
export type TransitionClass =
  'STANDARD_IA' | 'INTELLIGENT_TIERING' | 'ONEZONE_IA' | 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE';

interface ClassRule {
  readonly label: string;
  /** Position in S3's transition waterfall: a transition only goes to a higher position. */
  readonly order: number;
  /** Billed at least this many days once an object enters the class. */
  readonly minimumStorageDays: number;
  /** S3 refuses a transition into the class before objects are this old. */
  readonly minimumAgeDays: number;
  /** S3 refuses a transition out of the class less than this many days after the one into it. */
  readonly minimumDaysBeforeNextTransition: number;
}

/**
 * The waterfall, from the documented supported transitions: Standard → Standard-IA →
 * Intelligent-Tiering → One Zone-IA → Glacier Instant Retrieval → Glacier Flexible Retrieval →
 * Deep Archive, never upwards.
 */
export const STORAGE_CLASS_RULES: Readonly<Record<TransitionClass, ClassRule>> = {
  STANDARD_IA: {
    label: 'Standard-IA',
    order: 1,
    minimumStorageDays: 30,
    minimumAgeDays: 30,
    minimumDaysBeforeNextTransition: 30,
  },
  INTELLIGENT_TIERING: {
    label: 'Intelligent-Tiering',
    order: 2,
    minimumStorageDays: 0,
    minimumAgeDays: 0,
    minimumDaysBeforeNextTransition: 0,
  },
  ONEZONE_IA: {
    label: 'One Zone-IA',
    order: 3,
    minimumStorageDays: 30,
    minimumAgeDays: 30,
    minimumDaysBeforeNextTransition: 30,
  },
  GLACIER_IR: {
    label: 'Glacier Instant Retrieval',
    order: 4,
    minimumStorageDays: 90,
    minimumAgeDays: 0,
    minimumDaysBeforeNextTransition: 0,
  },
  GLACIER: {
    label: 'Glacier Flexible Retrieval',
    order: 5,
    minimumStorageDays: 90,
    minimumAgeDays: 0,
    minimumDaysBeforeNextTransition: 0,
  },
  DEEP_ARCHIVE: {
    label: 'Glacier Deep Archive',
    order: 6,
    minimumStorageDays: 180,
    minimumAgeDays: 0,
    minimumDaysBeforeNextTransition: 0,
  },
};

export const isTransitionClass = (value: string): value is TransitionClass => value in STORAGE_CLASS_RULES;

/** One tier's lifecycle as plain numbers: age in days at each transition, and at expiry. */
export interface TierPlan {
  readonly expiryDays: number;
  readonly transitions: readonly { readonly storageClass: string; readonly days: number }[];
}

export interface LifecycleProblem {
  /** `hard`: S3 rejects the configuration; `early-deletion`: S3 accepts it and bills early deletion. */
  readonly kind: 'hard' | 'early-deletion';
  readonly message: string;
}

/** Every rule `plan` breaks, in the order of its transitions; empty when it is within S3's rules. */
export function lifecycleProblems(plan: TierPlan): LifecycleProblem[] {
  const problems: LifecycleProblem[] = [];
  const hard = (message: string) => problems.push({ kind: 'hard', message });
  let previous: { storageClass: TransitionClass; days: number } | undefined;
  const steps = plan.transitions;
  steps.forEach((step, i) => {
    const { storageClass, days } = step;
    if (!isTransitionClass(storageClass)) {
      hard(`transition to ${storageClass}: not a storage class lifecycle rules can transition to`);
      return;
    }
    const rule = STORAGE_CLASS_RULES[storageClass];
    if (!Number.isInteger(days) || days < 0) {
      hard(`transition to ${rule.label} after ${days} days: must be a whole number of days, 0 or more`);
      return;
    }
    if (days < rule.minimumAgeDays) {
      hard(
        `transition to ${rule.label} after ${days} days is too early: S3 moves objects to ${rule.label} only once they are at least ${rule.minimumAgeDays} days old`,
      );
    }
    if (previous) {
      const from = STORAGE_CLASS_RULES[previous.storageClass];
      if (rule.order <= from.order) {
        hard(
          `transition from ${from.label} to ${rule.label} is not supported: S3 transitions only down the waterfall (Standard, Standard-IA, Intelligent-Tiering, One Zone-IA, Glacier Instant Retrieval, Glacier Flexible Retrieval, Deep Archive)`,
        );
      }
      if (days <= previous.days) {
        hard(
          `transition to ${rule.label} (${days} days) must come after the transition to ${from.label} (${previous.days} days)`,
        );
      } else if (days - previous.days < from.minimumDaysBeforeNextTransition) {
        hard(
          `transition to ${rule.label} (${days} days) must be at least ${from.minimumDaysBeforeNextTransition} days after the transition to ${from.label} (${previous.days} days): S3 keeps objects that long in ${from.label} before the next transition`,
        );
      }
    }
    if (days >= plan.expiryDays) {
      hard(
        `transition to ${rule.label} (${days} days) must come before the tier expires (${plan.expiryDays} days)`,
      );
    } else {
      // Time in this class: until the next transition, else until expiry.
      const next = steps[i + 1];
      const leavesAt = next && next.days > days ? next.days : plan.expiryDays;
      const leavesBy = next && next.days > days ? `the transition after ${next.days} days` : 'expiry';
      if (leavesAt - days < rule.minimumStorageDays) {
        problems.push({
          kind: 'early-deletion',
          message: `objects spend ${leavesAt - days} days in ${rule.label} (from ${days} days to ${leavesBy} at ${leavesAt}), less than its ${rule.minimumStorageDays}-day minimum storage duration: S3 bills the remaining ${rule.minimumStorageDays - (leavesAt - days)} days as an early-deletion charge`,
        });
      }
    }
    previous = { storageClass, days };
  });
  return problems;
}

/**
 * The storage classes each tier moves through by default, as [class, age in days]. Every class is
 * kept past its minimum storage duration with the default expiries (weekly 90: 60 days in IA;
 * monthly 365: 335 in GIR; yearly 2555: 90 in GIR, then Deep Archive from 120).
 */
export const DEFAULT_TIER_TRANSITIONS = {
  daily: [],
  weekly: [['STANDARD_IA', 30]],
  monthly: [['GLACIER_IR', 30]],
  yearly: [
    ['GLACIER_IR', 30],
    ['DEEP_ARCHIVE', 120],
  ],
} as const satisfies Record<string, readonly (readonly [TransitionClass, number])[]>;

/**
 * The default transitions of a tier that expires after `expiryDays`: those that happen before
 * expiry (S3 rejects a rule whose expiration is not after its transitions), so short tiers stay
 * in S3 Standard.
 */
export function defaultTierPlan(tier: keyof typeof DEFAULT_TIER_TRANSITIONS, expiryDays: number): TierPlan {
  return {
    expiryDays,
    transitions: DEFAULT_TIER_TRANSITIONS[tier]
      .filter(([, days]) => days < expiryDays)
      .map(([storageClass, days]) => ({ storageClass, days })),
  };
}
