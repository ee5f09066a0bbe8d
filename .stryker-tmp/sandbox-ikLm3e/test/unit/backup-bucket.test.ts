// @ts-nocheck
import { Duration, Lazy, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupBucket, RetentionTiers, type TierLifecycle } from '../../lib/constructs/backup-bucket';
import { newStack } from './cdk-support';

/** The backup bucket (the one with Object Lock), not its access-log bucket. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation JSON, navigated by tests
type CfnJson = Record<string, any>;

function backupBucket(template: Template): { id: string; resource: CfnJson } {
  const found = Object.entries(
    template.findResources('AWS::S3::Bucket', { Properties: { ObjectLockEnabled: true } }),
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
      ['DEEP_ARCHIVE', 90],
    ]);
    expect(tiers.shortestExpiration.toDays()).toBe(30);
  });

  test('fromDays drops transitions that would not happen before the tier expires', () => {
    const tiers = RetentionTiers.fromDays({ daily: 7, weekly: 30, monthly: 60, yearly: 90 });
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
      /weekly transition to STANDARD_IA after 14 days is too early: S3 requires at least 30 days/,
    );
  });

  test('rejects a transition at or after the tier expiry', () => {
    expect(() => withWeekly(tier(60, [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 60]))).toThrow(
      /weekly transition to GLACIER_IR \(60 days\) must come before the tier expires \(60 days\)/,
    );
  });

  test('rejects transitions out of order', () => {
    expect(() =>
      withWeekly(
        tier(300, [s3.StorageClass.DEEP_ARCHIVE, 90], [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 30]),
      ),
    ).toThrow(
      /transition to GLACIER_IR \(30 days\) must come after the transition to DEEP_ARCHIVE \(90 days\)/,
    );
  });

  test('rejects leaving Standard-IA less than 30 days after entering it (an S3 rule)', () => {
    expect(() =>
      withWeekly(
        tier(300, [s3.StorageClass.INFREQUENT_ACCESS, 30], [s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, 45]),
      ),
    ).toThrow(/must be at least 30 days after the transition to STANDARD_IA \(30 days\)/);
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
        { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 90 },
      ],
    ],
  ])(
    'expires %s/ after %p days with its transitions and cleans up versions and uploads',
    (tier, days, transitions) => {
      const rule = lifecycleRule(synth().template, `${tier}-tier`);
      expect(rule).toEqual({
        Id: `${tier}-tier`,
        Prefix: `${tier}/`,
        Status: 'Enabled',
        ExpirationInDays: days,
        ...(transitions.length ? { Transitions: transitions } : {}),
        ...CLEANUP,
      });
    },
  );

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
      retention: RetentionTiers.fromDays({ daily: 7, weekly: 35, monthly: 180, yearly: 730 }),
      objectLockRetention: s3.ObjectLockRetention.governance(Duration.days(7)),
      drillReportExpiration: Duration.days(200),
    });
    expect(lifecycleRule(template, 'daily-tier').ExpirationInDays).toBe(7);
    expect(lifecycleRule(template, 'weekly-tier')).toMatchObject({
      ExpirationInDays: 35,
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
      Properties: { ObjectLockEnabled: Match.absent() },
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
        ObjectLockEnabled: Match.absent(),
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
    function granted(grant: (construct: BackupBucket, role: iam.Role) => void) {
      const stack = newStack();
      const construct = new BackupBucket(stack, 'Backups');
      const role = new iam.Role(stack, 'Worker', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      grant(construct, role);
      const template = Template.fromStack(stack);
      const policies = Object.values(template.findResources('AWS::IAM::Policy'));
      expect(policies).toHaveLength(1);
      const statements = policies[0].Properties.PolicyDocument.Statement as Record<string, unknown>[];
      return { template, statements, bucketId: backupBucket(template).id };
    }
    const objects = (bucketId: string, suffix: string) => ({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, suffix]],
    });

    test('grantWriteBackups allows put, per-object retention and abort on the tier prefixes only, never delete', () => {
      const { statements, bucketId } = granted((c, role) => c.grantWriteBackups(role));
      const tierPrefixes = ['daily', 'weekly', 'monthly', 'yearly'].map((t) => objects(bucketId, `/${t}/*`));
      expect(statements).toContainEqual({
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:PutObject', 's3:PutObjectRetention'],
        Resource: expect.arrayContaining(tierPrefixes),
      });
      const s3Statement = statements.find((st) => JSON.stringify(st.Action).includes('s3:PutObject'));
      expect(s3Statement?.Resource).toHaveLength(4);
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Effect: 'Allow' }),
      );
      expect(JSON.stringify(statements)).not.toMatch(/Delete|BypassGovernanceRetention|s3:\*|drills/);
    });

    test('grantReadBackups allows listing and reading backups and decrypting', () => {
      const { statements, bucketId } = granted((c, role) => c.grantReadBackups(role));
      expect(statements).toContainEqual({
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
      });
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: ['s3:GetObject', 's3:GetObjectAttributes', 's3:GetObjectRetention', 's3:GetObjectVersion'],
        }),
      );
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'kms:Decrypt' }));
      expect(JSON.stringify(statements)).not.toMatch(/Put|Delete/);
    });

    test('grantWriteDrillReports allows put under drills/ only', () => {
      const { statements, bucketId } = granted((c, role) => c.grantWriteDrillReports(role));
      expect(statements).toContainEqual({
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: objects(bucketId, '/drills/*'),
      });
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'kms:GenerateDataKey' }));
      expect(JSON.stringify(statements)).not.toMatch(/daily|weekly|monthly|yearly|Delete/);
    });
  });

  describe('replication', () => {
    test('requires exactly one of destinationKey and destinationKeyAlias', () => {
      const stack = newStack();
      const destination = s3.Bucket.fromBucketAttributes(stack, 'Dest', {
        bucketName: 'replica-bucket',
        region: 'eu-central-1',
        account: '123456789012',
      });
      expect(() => new BackupBucket(stack, 'Backups', { replication: { destination } })).toThrow(
        /exactly one of destinationKey and destinationKeyAlias/,
      );
    });

    test('rejects a malformed key alias', () => {
      const stack = newStack();
      const destination = s3.Bucket.fromBucketAttributes(stack, 'Dest', {
        bucketName: 'replica',
        region: 'eu-central-1',
      });
      expect(
        () =>
          new BackupBucket(stack, 'Backups', {
            replication: { destination, destinationKeyAlias: 'restorable' },
          }),
      ).toThrow(/destinationKeyAlias must look like alias\/<name>, got "restorable"/);
    });

    test('with a known destination key, uses its ARN for ReplicaKmsKeyID and for the role', () => {
      const stack = newStack();
      const destinationKey = new kms.Key(stack, 'ReplicaKey', { enableKeyRotation: true });
      const destination = new s3.Bucket(stack, 'Replica', {
        versioned: true,
        objectLockEnabled: true,
        encryptionKey: destinationKey,
      });
      new BackupBucket(stack, 'Backups', { replication: { destination, destinationKey } });
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
