/**
 * On-demand (pre-migration) backups: the `adhoc/` tier, kept apart from grandfather-father-son
 * placement, with its own retention, lock and lifecycle rule; and the stack outputs
 * `restorable backup --stack` reads.
 */
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { BackupBucket } from '../../lib/constructs/backup-bucket';
import {
  backupInputOutputKey,
  backupStateMachineOutputKey,
  FLEET_BACKUP_ORCHESTRATOR_OUTPUT,
  FLEET_DRILL_ORCHESTRATOR_OUTPUT,
} from '../../lib/outputs';
import { ManifestSchema } from '../../lambda/core/manifest';
import {
  candidatePeriods,
  DEFAULT_ADHOC_RETENTION_DAYS,
  parseManifestKey,
  placeBackup,
  retentionOf,
  STORED_TIERS,
} from '../../lambda/core/tiers';
import { newStack, synthBackupStack } from './cdk-support';

const at = new Date('2026-11-22T14:30:00Z');

describe('placement', () => {
  test('an adhoc backup is filed by day under adhoc/, locked for 30 days, whatever GFS periods are free', () => {
    const p = placeBackup({ databaseId: 'orders', at, occupied: new Set(), tier: 'adhoc' });
    expect(p.tier).toBe('adhoc');
    expect(p.keys.manifest).toBe('adhoc/orders/2026-11-22/orders-20261122T143000Z.manifest.json');
    expect(p.retainUntil.toISOString()).toBe('2026-12-22T14:30:00.000Z');
    expect(DEFAULT_ADHOC_RETENTION_DAYS).toBe(30);
  });

  test('its retention is configurable and does not touch the GFS tiers', () => {
    const retention = { daily: 30, weekly: 90, monthly: 365, yearly: 2555, adhoc: 7 };
    expect(retentionOf('adhoc', retention)).toBe(7);
    expect(
      placeBackup({
        databaseId: 'orders',
        at,
        occupied: new Set(),
        tier: 'adhoc',
        retentionDays: retention,
      }).retainUntil.toISOString(),
    ).toBe('2026-11-29T14:30:00.000Z');
    // Automatic placement never picks adhoc, and adhoc never occupies a GFS period.
    expect(placeBackup({ databaseId: 'orders', at, occupied: new Set() }).tier).toBe('yearly');
    expect(candidatePeriods(at).some((p) => p.startsWith('adhoc/'))).toBe(false);
  });

  test('adhoc manifests are parsed like the others and may carry a reason', () => {
    expect(STORED_TIERS).toContain('adhoc');
    expect(parseManifestKey('adhoc/orders/2026-11-22/orders-20261122T143000Z.manifest.json')).toEqual({
      tier: 'adhoc',
      databaseId: 'orders',
      period: '2026-11-22',
      backupId: 'orders-20261122T143000Z',
    });
    expect(ManifestSchema.shape.reason.safeParse('before migration 0042').success).toBe(true);
    expect(ManifestSchema.shape.reason.safeParse('x'.repeat(501)).success).toBe(false);
  });
});

describe('bucket lifecycle', () => {
  const ruleOf = (template: Template) => {
    // The backup bucket: Object Lock on and tier rules (the access-log bucket has Object Lock too).
    const buckets = template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } });
    const rules = Object.values(buckets).flatMap(
      (b) => (b.Properties.LifecycleConfiguration?.Rules ?? []) as Record<string, unknown>[],
    );
    return rules.find((r) => r.Id === 'adhoc-backups');
  };

  test('adhoc/ expires after 30 days by default, never transitioned', () => {
    const stack = newStack();
    new BackupBucket(stack, 'Backups');
    expect(ruleOf(Template.fromStack(stack))).toEqual({
      Id: 'adhoc-backups',
      Prefix: 'adhoc/',
      Status: 'Enabled',
      ExpirationInDays: 30,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
  });

  test('takes the configured expiry', () => {
    const stack = newStack();
    new BackupBucket(stack, 'Backups', { adhocExpiration: Duration.days(14) });
    expect(ruleOf(Template.fromStack(stack))).toMatchObject({ ExpirationInDays: 14 });
  });
});

test('the stack outputs each database backup state machine and its scheduled input for the CLI', () => {
  const { stack, template } = synthBackupStack();
  const id = stack.config.databases[0].id;
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
  const ref = (outputs[backupStateMachineOutputKey(id)].Value as { Ref: string }).Ref;
  const resources = template.toJSON().Resources as Record<string, { Type: string }>;
  expect(resources[ref].Type).toBe('AWS::StepFunctions::StateMachine');
  const input = JSON.stringify(outputs[backupInputOutputKey(id)].Value);
  expect(input).toContain(`\\"databaseId\\":\\"${id}\\"`);
  expect(input).toContain('\\"tier\\":\\"auto\\"');
  expect(input).not.toMatch(/password|SecretString|resolve:secretsmanager/i);
  // The fleet's orchestrator outputs belong to the fleet shape (fleet-stack.test.ts): with both,
  // which one `backup --stack` starts would depend on the CLI's order of lookups.
  expect(Object.keys(outputs)).not.toContain(FLEET_BACKUP_ORCHESTRATOR_OUTPUT);
  expect(Object.keys(outputs)).not.toContain(FLEET_DRILL_ORCHESTRATOR_OUTPUT);
});
