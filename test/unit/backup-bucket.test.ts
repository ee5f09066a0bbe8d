import { Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupBucket, RetentionTiers, type TierLifecycle } from '../../lib/constructs/backup-bucket';
import { ARCHIVE_TAG } from '../../lambda/core/tiers';
import { BackupBucketGrants } from '../../lib/constructs/backup-bucket-grants';
import { newStack } from './cdk-support';
import { permissionsOf, tierObjects, viaS3 } from './iam-support';

/** The backup bucket (the one with a default Object Lock retention), not its access-log bucket. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation JSON, navigated by tests
type CfnJson = Record<string, any>;

function backupBucket(template: Template): { id: string; resource: CfnJson } {
  const found = Object.entries(
    template.findResources('AWS::S3::Bucket', {
      Properties: { ObjectLockConfiguration: Match.objectLike({ Rule: Match.anyValue() }) },
    }),
  );
  expect(found).toHaveLength(1);
  return { id: found[0][0], resource: found[0][1] };
}

function lifecycleRule(template: Template, id: string): Record<string, unknown> {
  const rules = backupBucket(template).resource.Properties.LifecycleConfiguration.Rules as Record<
    string,
    unknown
  >[];
  const rule = rules.find((r) => r.Id === id);
  if (!rule) throw new Error(`no lifecycle rule ${id}`);
  return rule;
}

function synth(props: ConstructorParameters<typeof BackupBucket>[2] = {}): {
  stack: Stack;
  construct: BackupBucket;
  template: Template;
} {
  const stack = newStack();
  const construct = new BackupBucket(stack, 'Backups', props);
  return { stack, construct, template: Template.fromStack(stack) };
}

const CLEANUP = {
  NoncurrentVersionExpiration: { NoncurrentDays: 1 },
  AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
};

describe('RetentionTiers', () => {
  test('standard() holds the DESIGN.md expiries and storage classes', () => {
    const tiers = RetentionTiers.standard();
    expect(tiers.toRetentionDays()).toEqual({ daily: 30, weekly: 90, monthly: 365, yearly: 2555 });
    const classes = (t: 'daily' | 'weekly' | 'monthly' | 'yearly') =>
      tiers.tier(t).transitions?.map((x) => [x.storageClass.value, x.transitionAfter.toDays()]);
    expect(classes('daily')).toEqual([]);
    expect(classes('weekly')).toEqual([['STANDARD_IA', 30]]);
    expect(classes('monthly')).toEqual([['GLACIER_IR', 30]]);
    expect(classes('yearly')).toEqual([
      ['GLACIER_IR', 30],
      ['DEEP_ARCHIVE', 120],
    ]);
    expect(tiers.shortestExpiration.toDays()).toBe(30);
  });

  test('fromDays drops transitions that would not happen before the tier expires', () => {
    const tiers = RetentionTiers.fromDays(
      { daily: 7, weekly: 30, monthly: 60, yearly: 90 },
      { allowEarlyDeletionCharges: true },
    );
    expect(tiers.weekly.transitions).toEqual([]);
    expect(tiers.monthly.transitions?.map((t) => t.storageClass.value)).toEqual(['GLACIER_IR']);
    expect(tiers.yearly.transitions?.map((t) => t.storageClass.value)).toEqual(['GLACIER_IR']);
  });

  test('rejects expiries that are not strictly increasing', () => {
    expect(() => RetentionTiers.fromDays({ daily: 30, weekly: 20, monthly: 365, yearly: 2555 })).toThrow(
      /weekly expiration \(20 days\) must be greater than daily expiration \(30 days\)/,
    );
    expect(() => RetentionTiers.fromDays({ daily: 30, weekly: 90, monthly: 90, yearly: 2555 })).toThrow(
      /monthly expiration \(90 days\) must be greater than weekly expiration \(90 days\)/,
    );
  });

  const tier = (expiration: number, ...transitions: [s3.StorageClass, number][]): TierLifecycle => ({
    expiration: Duration.days(expiration),
    transitions: transitions.map(([storageClass, days]) => ({
      storageClass,
      transitionAfter: Duration.days(days),
    })),
  });
  const withWeekly = (weekly: TierLifecycle) =>
    new RetentionTiers({ daily: tier(7), weekly, monthly: tier(365), yearly: tier(2555) });

  test('rejects a Standard-IA transition before 30 days (an S3 rule)', () => {
    expect(() => withWeekly(tier(90, [s3.StorageClass.INFREQUENT_ACCESS, 14]))).toThrow(
      /weekly transition to Standard-IA after 14 days is too early: S3 moves objects to Standard-IA only once they are at least 30 days old/,
    );
  });

  test('rejects a transition at or after the tier expiry', () => {
    expect(() => withWeekly(tier(60, [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 60]))).toThrow(
      /weekly transition to Glacier Instant Retrieval \(60 days\) must come before the tier expires \(60 days\)/,
    );
  });

  test('rejects transitions out of order', () => {
    expect(() =>
      withWeekly(
        tier(300, [s3.StorageClass.DEEP_ARCHIVE, 90], [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30]),
      ),
    ).toThrow(
      /transition from Glacier Deep Archive to Glacier Instant Retrieval is not supported: S3 transitions only down the waterfall[\s\S]*transition to Glacier Instant Retrieval \(30 days\) must come after the transition to Glacier Deep Archive \(90 days\)/,
    );
  });

  test('rejects leaving Standard-IA less than 30 days after entering it (an S3 rule)', () => {
    expect(() =>
      withWeekly(
        tier(300, [s3.StorageClass.INFREQUENT_ACCESS, 30], [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 45]),
      ),
    ).toThrow(/must be at least 30 days after the transition to Standard-IA \(30 days\)/);
  });

  test('rejects fractional days', () => {
    expect(() => withWeekly({ expiration: Duration.hours(36) })).toThrow(
      /weekly expiration must be a whole number of days/,
    );
  });
});

describe('BackupBucket', () => {
  test('is versioned, blocks all public access and disables ACLs', () => {
    const { template } = synth();
    expect(backupBucket(template).resource.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
  });

  test('enables Object Lock with a 30-day GOVERNANCE default retention', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } },
      },
    });
  });

  test('takes the Object Lock mode and days from props', () => {
    const { template } = synth({ objectLockRetention: s3.ObjectLockRetention.compliance(Duration.days(7)) });
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 7 } } },
    });
  });

  test('encrypts with its own customer-managed KMS key and S3 Bucket Keys', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsKey'), 'Arn'] },
            },
          },
        ],
      },
    });
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 },
    });
  });

  test('uses a given key instead of creating one', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Given', { enableKeyRotation: true });
    const construct = new BackupBucket(stack, 'Backups', { encryptionKey: key });
    expect(construct.encryptionKey).toBe(key);
    expect(construct.backupKey).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::KMS::Key', 1);
  });

  test('keeps both buckets when the stack is deleted or the bucket replaced', () => {
    const { template } = synth();
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(2);
    for (const bucket of buckets) {
      expect(bucket).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  test.each([
    ['daily', 30, []],
    ['weekly', 90, [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }]],
    ['monthly', 365, [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }]],
    [
      'yearly',
      2555,
      [
        { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
        { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 120 },
      ],
    ],
  ])(
    'expires everything under %s/ after %p days; only tagged archives transition, manifests stay instant',
    (tier, days, transitions) => {
      const { template } = synth();
      expect(lifecycleRule(template, `${tier}-tier`)).toEqual({
        Id: `${tier}-tier`,
        Prefix: `${tier}/`,
        Status: 'Enabled',
        ExpirationInDays: days,
        ...CLEANUP,
      });
      const rules = backupBucket(template).resource.Properties.LifecycleConfiguration.Rules as CfnJson[];
      const transitionRules = rules.filter((r) => r.Transitions && r.Prefix === `${tier}/`);
      if (transitions.length === 0) {
        expect(transitionRules).toEqual([]);
      } else {
        expect(transitionRules).toEqual([
          {
            Id: `${tier}-archive-transitions`,
            Prefix: `${tier}/`,
            Status: 'Enabled',
            // Written by the dump on archives only (ARCHIVE_TAGGING); manifests carry no tags.
            TagFilters: [{ Key: ARCHIVE_TAG.key, Value: ARCHIVE_TAG.value }],
            Transitions: transitions,
          },
        ]);
      }
    },
  );

  test('no rule with transitions can match an untagged object', () => {
    const rules = backupBucket(synth().template).resource.Properties.LifecycleConfiguration
      .Rules as CfnJson[];
    for (const rule of rules.filter((r) => r.Transitions)) {
      expect(rule.TagFilters).toEqual([{ Key: 'restorable:kind', Value: 'archive' }]);
    }
  });

  test('expires drill reports under drills/ after 400 days', () => {
    expect(lifecycleRule(synth().template, 'drill-reports')).toEqual({
      Id: 'drill-reports',
      Prefix: 'drills/',
      Status: 'Enabled',
      ExpirationInDays: 400,
      ...CLEANUP,
    });
  });

  test('removes expired delete markers in a rule of its own, bucket-wide', () => {
    expect(lifecycleRule(synth().template, 'remove-expired-delete-markers')).toEqual({
      Id: 'remove-expired-delete-markers',
      Status: 'Enabled',
      ExpiredObjectDeleteMarker: true,
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
  });

  test('takes tier expiries from RetentionTiers.fromDays', () => {
    const { template } = synth({
      retention: RetentionTiers.fromDays({ daily: 7, weekly: 60, monthly: 180, yearly: 730 }),
      objectLockRetention: s3.ObjectLockRetention.governance(Duration.days(7)),
      drillReportExpiration: Duration.days(200),
    });
    expect(lifecycleRule(template, 'daily-tier').ExpirationInDays).toBe(7);
    expect(lifecycleRule(template, 'weekly-tier')).toMatchObject({ ExpirationInDays: 60 });
    expect(lifecycleRule(template, 'weekly-archive-transitions')).toMatchObject({
      Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
    });
    expect(lifecycleRule(template, 'monthly-tier').ExpirationInDays).toBe(180);
    expect(lifecycleRule(template, 'yearly-tier').ExpirationInDays).toBe(730);
    expect(lifecycleRule(template, 'drill-reports').ExpirationInDays).toBe(200);
  });

  test('denies any request without TLS, and TLS below 1.2', () => {
    const { template } = synth();
    const bucketArn = { 'Fn::GetAtt': [backupBucket(template).id, 'Arn'] };
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: backupBucket(template).id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Resource: Match.arrayWith([bucketArn]),
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      },
    });
  });

  test('denies uploads that name any KMS key other than its own', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyWrongKmsKey',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:PutObject',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [backupBucket(template).id, 'Arn'] }, '/*']] },
            Condition: {
              StringNotEquals: {
                's3:x-amz-server-side-encryption-aws-kms-key-id': {
                  'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsKey'), 'Arn'],
                },
              },
              Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
            },
          },
        ]),
      },
    });
  });

  test('denies uploads that ask for non-KMS encryption, the AWS managed key, or customer-provided keys', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyNonKmsEncryption',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
              Null: { 's3:x-amz-server-side-encryption': 'false' },
            },
          }),
          Match.objectLike({
            Sid: 'DenyKmsWithoutKeyId',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
              Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'true' },
            },
          }),
          Match.objectLike({
            Sid: 'DenyCustomerProvidedKeys',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } },
          }),
        ]),
      },
    });
  });

  test('sends server access logs to a separate log bucket', () => {
    const { template } = synth();
    const logBuckets = template.findResources('AWS::S3::Bucket', {
      Properties: { ObjectLockConfiguration: Match.absent() },
    });
    const [logBucketId] = Object.keys(logBuckets);
    expect(backupBucket(template).resource.Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logBucketId },
      LogFilePrefix: 'backup-bucket/',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: {
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [backupBucket(template).id, 'Arn'] } },
              StringEquals: { 'aws:SourceAccount': '123456789012' },
            },
          }),
        ]),
      },
    });
  });

  test('keeps the log bucket SSE-S3 encrypted, private, versioned and expiring', () => {
    const { template } = synth({ accessLogsExpiration: Duration.days(90) });
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        // Object Lock on (Control Tower CT.S3.PR.9), with no default retention: that would stop log delivery.
        ObjectLockEnabled: true,
        ObjectLockConfiguration: Match.absent(),
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Id: 'expire-access-logs', ExpirationInDays: 90, ...CLEANUP }),
            Match.objectLike({ ExpiredObjectDeleteMarker: true }),
          ]),
        },
      },
    });
  });

  test('honours an explicit removal policy for both buckets', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY });
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.DeletionPolicy).toBe('Delete');
    }
  });

  test('rejects an Object Lock default longer than the daily tier', () => {
    const stack = newStack();
    expect(
      () =>
        new BackupBucket(stack, 'Backups', {
          objectLockRetention: s3.ObjectLockRetention.governance(Duration.days(31)),
        }),
    ).toThrow(/objectLockRetention \(31 days\) must not exceed the daily tier expiration \(30 days\)/);
  });

  test('rejects an Object Lock default longer than the drill report expiry', () => {
    const stack = newStack();
    expect(
      () =>
        new BackupBucket(stack, 'Backups', {
          retention: RetentionTiers.fromDays({ daily: 60, weekly: 90, monthly: 365, yearly: 2555 }),
          objectLockRetention: s3.ObjectLockRetention.governance(Duration.days(45)),
          drillReportExpiration: Duration.days(40),
        }),
    ).toThrow(/objectLockRetention \(45 days\) must not exceed drillReportExpiration \(40 days\)/);
  });

  test('rejects an invalid bucket name but skips unresolved tokens', () => {
    expect(() => new BackupBucket(newStack(), 'Backups', { bucketName: 'Restorable_Backups' })).toThrow(
      /bucketName must be 3-63 lowercase .* got "Restorable_Backups"/,
    );
    expect(
      () =>
        new BackupBucket(newStack(), 'Backups', {
          bucketName: Lazy.string({ produce: () => 'later-bucket' }),
        }),
    ).not.toThrow();
  });

  describe('grants', () => {
    test('target its own bucket and key', () => {
      const stack = newStack();
      const bucket = new BackupBucket(stack, 'Backups');
      const role = new iam.Role(stack, 'Worker', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      bucket.grants.readBackups(role, 'orders');
      const template = Template.fromStack(stack);
      const arn = `\${${backupBucket(template).id}.Arn}`;
      const key = Object.keys(template.findResources('AWS::KMS::Key'))[0];
      expect(permissionsOf(template, stack, role)).toEqual({
        's3:GetObject': tierObjects(arn, 'orders'),
        's3:ListBucket': [arn],
        'kms:Decrypt': [`\${${key}.Arn}${viaS3('eu-west-1')}`],
      });
    });

    test('are the only access path: BackupBucket keeps no grant methods of its own', () => {
      const own = Object.getOwnPropertyNames(BackupBucket.prototype).filter((name) =>
        name.startsWith('grant'),
      );
      expect(own).toEqual([]);
      expect(new BackupBucket(newStack(), 'Backups').grants).toBeInstanceOf(BackupBucketGrants);
    });
  });

  describe('replication', () => {
    test('imports a bucket with exactly one of encryptionKey and encryptionKeyAlias', () => {
      const stack = newStack();
      expect(() =>
        BackupBucket.fromBucketAttributes(stack, 'Dest', {
          bucketName: 'replica-bucket',
          region: 'eu-central-1',
        }),
      ).toThrow(/fromBucketAttributes needs exactly one of encryptionKey and encryptionKeyAlias/);
      const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:eu-central-1:123456789012:key/abc');
      expect(() =>
        BackupBucket.fromBucketAttributes(stack, 'Both', {
          bucketName: 'replica-bucket',
          encryptionKey: key,
          encryptionKeyAlias: 'alias/restorable/backups',
        }),
      ).toThrow(/fromBucketAttributes needs exactly one of encryptionKey and encryptionKeyAlias/);
    });

    test('rejects a malformed key alias', () => {
      expect(() =>
        BackupBucket.fromBucketAttributes(newStack(), 'Dest', {
          bucketName: 'replica',
          region: 'eu-central-1',
          encryptionKeyAlias: 'restorable',
        }),
      ).toThrow(/key alias must look like alias\/<name>, got "restorable"/);
    });

    test('names the imported key by its alias ARN in the bucket region, for KMS calls and ReplicaKmsKeyID', () => {
      const replica = BackupBucket.fromBucketAttributes(newStack(), 'Dest', {
        bucketName: 'replica',
        region: 'eu-central-1',
        account: '123456789012',
        encryptionKeyAlias: 'alias/restorable/backups',
      });
      expect(replica.keyId).toBe('arn:aws:kms:eu-central-1:123456789012:alias/restorable/backups');
      expect(replica.encryptionKey).toBeUndefined();
      expect(replica.retention.toRetentionDays()).toEqual({
        daily: 30,
        weekly: 90,
        monthly: 365,
        yearly: 2555,
      });
    });

    /** A bucket replicating to the replica `replica` in eu-central-1, known by its key alias. */
    function replicatingBucket(): BackupBucket {
      const stack = newStack();
      const destination = BackupBucket.fromBucketAttributes(stack, 'Dest', {
        bucketName: 'replica',
        region: 'eu-central-1',
        encryptionKeyAlias: 'alias/restorable/backups',
      });
      return new BackupBucket(stack, 'Backups', { replication: { destination } });
    }

    test('exposes its replication rule id, and none without replication', () => {
      const source = replicatingBucket();
      const stack = Stack.of(source);
      expect(source.replicationRuleId).toBe('all-objects-to-replica');
      Template.fromStack(stack).hasResourceProperties('AWS::S3::Bucket', {
        ReplicationConfiguration: { Rules: [Match.objectLike({ Id: source.replicationRuleId })] },
      });
      expect(new BackupBucket(newStack(), 'Plain').replicationRuleId).toBeUndefined();
    });

    test('offers the S3 replication metrics of its rule, and refuses them without replication', () => {
      const source = replicatingBucket();
      const dimensions = {
        SourceBucket: source.bucket.bucketName,
        DestinationBucket: 'replica',
        RuleId: 'all-objects-to-replica',
      };
      const expected: [cloudwatch.Metric, string, string][] = [
        [source.metricReplicationLatency(), 'ReplicationLatency', 'Maximum'],
        [source.metricOperationsFailedReplication(), 'OperationsFailedReplication', 'Sum'],
        [source.metricOperationsPendingReplication(), 'OperationsPendingReplication', 'Maximum'],
      ];
      for (const [metric, name, statistic] of expected) {
        expect(metric).toMatchObject({ namespace: 'AWS/S3', metricName: name, statistic, dimensions });
      }
      expect(source.metricReplicationLatency({ period: Duration.minutes(15) }).period.toMinutes()).toBe(15);
      const plain = new BackupBucket(newStack(), 'Plain');
      expect(() => plain.metricReplicationLatency()).toThrow(/ReplicationLatency: .* does not replicate/);
    });

    test('with a known destination key, uses its ARN for ReplicaKmsKeyID and for the role', () => {
      const stack = newStack();
      const destinationKey = new kms.Key(stack, 'ReplicaKey', { enableKeyRotation: true });
      const destination = new BackupBucket(stack, 'Replica', { encryptionKey: destinationKey });
      new BackupBucket(stack, 'Backups', { replication: { destination } });
      const template = Template.fromStack(stack);
      const keyArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReplicaKey'), 'Arn'] };
      template.hasResourceProperties('AWS::S3::Bucket', {
        ReplicationConfiguration: {
          Rules: [
            Match.objectLike({
              Destination: Match.objectLike({ EncryptionConfiguration: { ReplicaKmsKeyID: keyArn } }),
            }),
          ],
        },
      });
      template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Sid: 'EncryptReplica',
              Effect: 'Allow',
              Action: 'kms:Encrypt',
              Resource: keyArn,
              Condition: {
                StringEquals: {
                  'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
                },
              },
            },
          ]),
        },
      });
    });
  });
});
