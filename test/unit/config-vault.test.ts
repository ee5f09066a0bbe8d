/**
 * The vault part of the config (lib/config/vault.ts) and S3's lifecycle rules
 * (lib/config/lifecycle.ts): one row per rule AWS documents, each failing for its own reason.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
 */
import { ConfigError, parseConfig } from '../../lib/config';
import { defaultTierPlan, lifecycleProblems, type TierPlan } from '../../lib/config/lifecycle';
import { RetentionTiers } from '../../lib/constructs/retention-tiers';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/app-AbC123';
const KEY_ARN = 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function minimal(): Record<string, unknown> {
  return {
    account: '123456789012',
    primaryRegion: 'eu-west-1',
    replicaRegion: 'eu-central-1',
    databases: [{ id: 'app', secretArn: SECRET }],
  };
}

function problemsOf(change: (config: Record<string, unknown>) => void): string {
  const config = minimal();
  change(config);
  try {
    parseConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.join('\n');
    throw err;
  }
  throw new Error('expected the config to be rejected');
}

const plan = (expiryDays: number, ...transitions: [string, number][]): TierPlan => ({
  expiryDays,
  transitions: transitions.map(([storageClass, days]) => ({ storageClass, days })),
});

describe("S3's lifecycle rules", () => {
  test.each<[string, TierPlan, 'hard' | 'early-deletion', RegExp]>([
    [
      'Standard → Standard-IA only once objects are 30 days old',
      plan(400, ['STANDARD_IA', 29]),
      'hard',
      /Standard-IA after 29 days is too early: .* at least 30 days old/,
    ],
    [
      'Standard → One Zone-IA only once objects are 30 days old',
      plan(400, ['ONEZONE_IA', 10]),
      'hard',
      /One Zone-IA after 10 days is too early/,
    ],
    [
      'Standard-IA at least 30 days before the next transition',
      plan(400, ['STANDARD_IA', 30], ['GLACIER', 59]),
      'hard',
      /must be at least 30 days after the transition to Standard-IA \(30 days\)/,
    ],
    [
      'One Zone-IA at least 30 days before the next transition',
      plan(400, ['ONEZONE_IA', 30], ['DEEP_ARCHIVE', 40]),
      'hard',
      /at least 30 days after the transition to One Zone-IA/,
    ],
    [
      'transitions only go down the waterfall (no Glacier IR → Standard-IA)',
      plan(400, ['GLACIER_IR', 30], ['STANDARD_IA', 200]),
      'hard',
      /from Glacier Instant Retrieval to Standard-IA is not supported/,
    ],
    [
      'no One Zone-IA → Standard-IA',
      plan(400, ['ONEZONE_IA', 30], ['STANDARD_IA', 90]),
      'hard',
      /from One Zone-IA to Standard-IA is not supported/,
    ],
    [
      'nothing leaves Deep Archive',
      plan(900, ['DEEP_ARCHIVE', 0], ['GLACIER', 300]),
      'hard',
      /from Glacier Deep Archive to Glacier Flexible Retrieval is not supported/,
    ],
    [
      'transition days strictly increase',
      plan(400, ['GLACIER_IR', 90], ['GLACIER', 90]),
      'hard',
      /\(90 days\) must come after the transition to Glacier Instant Retrieval \(90 days\)/,
    ],
    [
      'expiration comes after every transition',
      plan(60, ['GLACIER_IR', 60]),
      'hard',
      /\(60 days\) must come before the tier expires \(60 days\)/,
    ],
    ['a known storage class', plan(400, ['REDUCED_REDUNDANCY', 30]), 'hard', /not a storage class/],
    [
      'Standard-IA: 30-day minimum storage duration',
      plan(45, ['STANDARD_IA', 30]),
      'early-deletion',
      /15 days in Standard-IA .* 30-day minimum storage duration/,
    ],
    [
      'One Zone-IA: 30-day minimum storage duration',
      plan(50, ['ONEZONE_IA', 30]),
      'early-deletion',
      /20 days in One Zone-IA/,
    ],
    [
      'Glacier Instant Retrieval: 90-day minimum storage duration (the old yearly default: Deep Archive at 90)',
      plan(2555, ['GLACIER_IR', 30], ['DEEP_ARCHIVE', 90]),
      'early-deletion',
      /60 days in Glacier Instant Retrieval \(from 30 days to the transition after 90 days at 90\), less than its 90-day/,
    ],
    [
      'Glacier Flexible Retrieval: 90-day minimum storage duration',
      plan(100, ['GLACIER', 30]),
      'early-deletion',
      /70 days in Glacier Flexible Retrieval/,
    ],
    [
      'Glacier Deep Archive: 180-day minimum storage duration',
      plan(250, ['GLACIER', 0], ['DEEP_ARCHIVE', 90]),
      'early-deletion',
      /160 days in Glacier Deep Archive .* less than its 180-day minimum storage duration/,
    ],
  ])('%s', (_rule, tierPlan, kind, message) => {
    const problems = lifecycleProblems(tierPlan);
    expect(problems.filter((p) => p.kind === kind).map((p) => p.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(message)]),
    );
  });

  test('accepts the plans that respect every rule', () => {
    expect(lifecycleProblems(plan(300, ['GLACIER_IR', 30], ['DEEP_ARCHIVE', 120]))).toEqual([]);
    expect(
      lifecycleProblems(plan(400, ['STANDARD_IA', 30], ['INTELLIGENT_TIERING', 60], ['GLACIER', 90])),
    ).toEqual([]);
    expect(lifecycleProblems(plan(2, ['INTELLIGENT_TIERING', 0]))).toEqual([]);
  });

  test.each([
    ['daily', 30],
    ['weekly', 90],
    ['monthly', 365],
    ['yearly', 2555],
  ] as const)('the default %s tier pays no early-deletion charge and breaks no rule', (tier, days) => {
    expect(lifecycleProblems(defaultTierPlan(tier, days))).toEqual([]);
  });

  test('RetentionTiers enforces the same rules, with the opt-in for early deletion', () => {
    const days = { daily: 7, weekly: 45, monthly: 365, yearly: 2555 };
    expect(() => RetentionTiers.fromDays(days)).toThrow(
      /weekly objects spend 15 days in Standard-IA .* \(set allowEarlyDeletionCharges to accept it\)/,
    );
    expect(
      RetentionTiers.fromDays(days, { allowEarlyDeletionCharges: true }).weekly.expiration.toDays(),
    ).toBe(45);
  });
});

describe('config: retention within S3 minimum durations', () => {
  test('rejects an expiry that leaves Glacier Instant Retrieval early, naming the field', () => {
    expect(problemsOf((c) => (c.retention = { monthlyDays: 100 }))).toMatch(
      /^retention\.monthlyDays \(100\): monthly objects spend 70 days in Glacier Instant Retrieval .* set retention\.allowEarlyDeletionCharges$/m,
    );
  });

  test('rejects a yearly tier too short for Deep Archive', () => {
    expect(problemsOf((c) => (c.retention = { yearlyDays: 200 }))).toMatch(
      /retention\.yearlyDays \(200\): yearly objects spend 80 days in Glacier Deep Archive/,
    );
  });

  test('accepts it with allowEarlyDeletionCharges', () => {
    const config = parseConfig({
      ...minimal(),
      retention: { monthlyDays: 100, allowEarlyDeletionCharges: true },
    });
    expect(config.retention.monthlyDays).toBe(100);
  });
});

describe('config: object lock', () => {
  test('defaults to COMPLIANCE', () => {
    expect(parseConfig(minimal()).objectLock.mode).toBe('COMPLIANCE');
  });

  test('GOVERNANCE requires a reason', () => {
    expect(problemsOf((c) => (c.objectLock = { mode: 'GOVERNANCE' }))).toMatch(
      /objectLock\.governanceReason is required with mode GOVERNANCE/,
    );
    expect(
      parseConfig({
        ...minimal(),
        objectLock: { mode: 'GOVERNANCE', governanceReason: 'test account: backups are disposable fixtures' },
      }).objectLock.mode,
    ).toBe('GOVERNANCE');
  });

  test('a reason must say something', () => {
    expect(problemsOf((c) => (c.objectLock = { mode: 'GOVERNANCE', governanceReason: 'because' }))).toMatch(
      /objectLock\.governanceReason must be at least 20 characters/,
    );
  });
});

describe('config: replica in a backup account', () => {
  test('takes an account and its key ARN', () => {
    const config = parseConfig({ ...minimal(), replica: { account: '111122223333', keyArn: KEY_ARN } });
    expect(config.replica).toEqual({ account: '111122223333', keyArn: KEY_ARN });
  });

  test('requires the key ARN with an account', () => {
    expect(problemsOf((c) => (c.replica = { account: '111122223333' }))).toMatch(
      /replica\.keyArn is required with replica\.account/,
    );
  });

  test('refuses the primary account as the backup account', () => {
    expect(problemsOf((c) => (c.replica = { account: '123456789012', keyArn: KEY_ARN }))).toMatch(
      /replica\.account \("123456789012"\) is the primary account/,
    );
  });

  test('refuses a key in another account or region', () => {
    expect(
      problemsOf(
        (c) =>
          (c.replica = { account: '111122223333', keyArn: KEY_ARN.replace('eu-central-1', 'us-east-1') }),
      ),
    ).toMatch(/replica\.keyArn .* must be a key in replica\.account \(111122223333\) and replicaRegion/);
  });

  test('refuses a key ARN without an account', () => {
    expect(problemsOf((c) => (c.replica = { keyArn: KEY_ARN }))).toMatch(
      /replica\.keyArn is only used with replica\.account/,
    );
  });
});

describe('config: vault and functions', () => {
  test('takes one break-glass role, no wildcards', () => {
    expect(problemsOf((c) => (c.vault = { breakGlassRoleArn: 'arn:aws:iam::123456789012:role/*' }))).toMatch(
      /vault\.breakGlassRoleArn .*\(one IAM role ARN, no wildcards\)/,
    );
  });

  test('reserved concurrency is off unless set, and at least 1', () => {
    expect(parseConfig(minimal()).functions.reservedConcurrency).toBeUndefined();
    expect(problemsOf((c) => (c.functions = { reservedConcurrency: 0 }))).toMatch(
      /functions\.reservedConcurrency \(0\) must be at least 1/,
    );
  });
});
