/**
 * The vault part of the config: how long each tier is kept and where it lives meanwhile
 * (`retention`), how every object is locked (`objectLock`), where the second copy lives
 * (`replica`), and who may change the vault (`vault`). The rules that span these fields are here
 * too, with the S3 rules they come from.
 */
import { z } from 'zod';
import { DEFAULT_DRILL_REPORT_DAYS } from '../../lambda/core/drill-settings';
import { DEFAULT_ADHOC_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, type Tier } from '../../lambda/core/tiers';
import { ACCOUNT, asRecord, days, IAM_ROLE_ARN, isNumber, KMS_KEY_ARN, regexField } from './fields';
import { defaultTierPlan, lifecycleProblems } from './lifecycle';

export const RetentionSchema = z.strictObject({
  dailyDays: days('Daily backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.daily),
  weeklyDays: days('Weekly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.weekly),
  monthlyDays: days('Monthly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.monthly),
  yearlyDays: days('Yearly backups expire after this many days.').default(DEFAULT_RETENTION_DAYS.yearly),
  drillReportDays: days('Drill reports expire after this many days.').default(DEFAULT_DRILL_REPORT_DAYS),
  adhocDays: days(
    'On-demand backups (restorable backup --reason, under adhoc/) expire, and are locked, this many days.',
  ).default(DEFAULT_ADHOC_RETENTION_DAYS),
  allowEarlyDeletionCharges: z
    .boolean()
    .default(false)
    .describe(
      'Accept expiries that leave a storage class before its minimum storage duration (S3 bills the rest as early deletion); otherwise such a config is an error.',
    ),
});

/** Bucket-default Object Lock when the config names none (capped at the daily tier's expiry). */
export const DEFAULT_OBJECT_LOCK_DAYS = 30;

export const ObjectLockSchema = z.strictObject({
  mode: z
    .enum(['GOVERNANCE', 'COMPLIANCE'])
    .default('COMPLIANCE')
    .describe(
      "Lock mode of every backup object, and so of both copies (replication carries each object's retention to its replica). " +
        'COMPLIANCE cannot be shortened by anyone, including the root user; GOVERNANCE needs governanceReason.',
    ),
  governanceReason: z
    .string()
    .min(20)
    .optional()
    .describe(
      'Why GOVERNANCE instead of COMPLIANCE (required with mode GOVERNANCE): who may bypass it and when. It is recorded in the template.',
    ),
  defaultRetentionDays: days(
    'Bucket-default lock for objects written without their own retain-until; must not exceed any tier expiry. Default: 30, or retention.dailyDays if shorter.',
  ).optional(),
});

export const ReplicaSchema = z.strictObject({
  account: regexField(ACCOUNT, 'a 12-digit AWS account id')
    .optional()
    .describe(
      'A separate backup account for the replica (ownership of replicas passes to it). Default: the same account.',
    ),
  keyArn: regexField(KMS_KEY_ARN, 'a KMS key ARN such as arn:aws:kms:eu-central-1:111122223333:key/<uuid>')
    .optional()
    .describe(
      "The replica key's ARN, output BackupKeyArn of the replica stack in the backup account (required with account: KMS aliases do not resolve across accounts).",
    ),
});

export const VaultSchema = z.strictObject({
  breakGlassRoleArn: regexField(IAM_ROLE_ARN, 'one IAM role ARN, no wildcards')
    .optional()
    .describe(
      'The only principal allowed to delete object versions, bypass governance retention or change bucket policy, lifecycle, replication, versioning or Object Lock configuration. Default: none besides the account root user.',
    ),
  deploymentRoleMayUpdatePolicies: z
    .boolean()
    .default(false)
    .describe(
      'Let the CDK deployment role (cfn-exec) update the bucket policy and lifecycle rules, so cdk deploy can change retention without the break-glass role. Default: such changes are deployed with the break-glass role.',
    ),
  auditManagementEvents: z
    .boolean()
    .default(true)
    .describe(
      "The vault trail also records write management events (policy changes, KMS key disable/deletion). Turn off only where an organization trail already delivers them to this account's EventBridge: a second copy of management events is billed.",
    ),
});

export const FunctionsSchema = z.strictObject({
  reservedConcurrency: z
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe(
      "Reserved concurrency for every runner function. Default: none (a new account's quota of 10 cannot reserve for eight functions); overlapping runs are kept apart by the workflow and unique backup ids.",
    ),
});

/** Tier → the retention key that holds its expiry, in increasing order. */
export const TIER_RETENTION_KEYS = {
  daily: 'dailyDays',
  weekly: 'weeklyDays',
  monthly: 'monthlyDays',
  yearly: 'yearlyDays',
} as const satisfies Record<Tier, keyof z.output<typeof RetentionSchema>>;

const RETENTION_ORDER = ['dailyDays', 'weeklyDays', 'monthlyDays', 'yearlyDays', 'drillReportDays'] as const;

/** The rules across retention, Object Lock, the replica and the vault, on a possibly half-parsed config. */
export function checkVaultRules(config: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const retention = asRecord(config.retention);
  for (let i = 1; i < 4; i++) {
    const shorter = RETENTION_ORDER[i - 1];
    const longer = RETENTION_ORDER[i];
    const a = retention[shorter];
    const b = retention[longer];
    if (isNumber(a) && isNumber(b) && b <= a) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention', longer],
        message: `(${b}) must be greater than ${shorter} (${a})`,
      });
    }
  }

  const allowEarly = retention.allowEarlyDeletionCharges === true;
  for (const [tier, key] of Object.entries(TIER_RETENTION_KEYS) as [Tier, string][]) {
    const expiry = retention[key];
    if (!isNumber(expiry)) continue;
    for (const problem of lifecycleProblems(defaultTierPlan(tier, expiry))) {
      if (problem.kind === 'early-deletion' && allowEarly) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['retention', key],
        message:
          `(${expiry}): ${tier} ${problem.message}` +
          (problem.kind === 'early-deletion'
            ? '; choose a longer expiry or set retention.allowEarlyDeletionCharges'
            : ''),
      });
    }
  }

  const objectLock = asRecord(config.objectLock);
  const lockDays = objectLock.defaultRetentionDays;
  if (isNumber(lockDays)) {
    const exceeded = RETENTION_ORDER.filter((key) => isNumber(retention[key]) && lockDays > retention[key])
      .map((key) => ({ key, days: retention[key] as number }))
      .sort((x, y) => x.days - y.days)[0];
    if (exceeded) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectLock', 'defaultRetentionDays'],
        message: `(${lockDays}) must not exceed retention.${exceeded.key} (${exceeded.days}): objects would stay locked after they expire`,
      });
    }
  }
  if (objectLock.mode === 'GOVERNANCE' && objectLock.governanceReason === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['objectLock', 'governanceReason'],
      message:
        'is required with mode GOVERNANCE: anyone allowed s3:BypassGovernanceRetention can delete GOVERNANCE-locked backups, so say why COMPLIANCE does not fit',
    });
  }

  const replica = asRecord(config.replica);
  if (typeof replica.account === 'string') {
    if (replica.account === config.account) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'account'],
        message: `(${JSON.stringify(replica.account)}) is the primary account: omit replica.account for a same-account replica`,
      });
    }
    if (replica.keyArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'keyArn'],
        message:
          'is required with replica.account: deploy the replica stack into the backup account first and copy its BackupKeyArn output (KMS aliases do not resolve across accounts)',
      });
    }
  } else if (replica.keyArn !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['replica', 'keyArn'],
      message: 'is only used with replica.account: a same-account replica key is found by its alias',
    });
  }
  if (typeof replica.keyArn === 'string' && typeof replica.account === 'string') {
    const [, , , region, account] = replica.keyArn.split(':');
    if (
      account !== replica.account ||
      (typeof config.replicaRegion === 'string' && region !== config.replicaRegion)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'keyArn'],
        message: `(${JSON.stringify(replica.keyArn)}) must be a key in replica.account (${replica.account}) and replicaRegion (${String(config.replicaRegion)})`,
      });
    }
  }
}
