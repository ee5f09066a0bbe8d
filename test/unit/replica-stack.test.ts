import { Match, Template } from 'aws-cdk-lib/assertions';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { BACKUP_KEY_ALIAS, backupBucketName, ReplicaStack } from '../../lib/stacks/replica-stack';
import { exampleConfig, newApp } from './cdk-support';

function synth() {
  const stack = new ReplicaStack(newApp(), 'RestorableReplica', { config: exampleConfig() });
  return { stack, template: Template.fromStack(stack) };
}

describe('ReplicaStack', () => {
  test('deploys to the configured account and replica region', () => {
    const { stack } = synth();
    expect(stack.account).toBe('123456789012');
    expect(stack.region).toBe('eu-central-1');
  });

  test('creates its own retained, rotating key under the shared alias', () => {
    const { template } = synth();
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: {
        EnableKeyRotation: true,
        PendingWindowInDays: 30,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({ Sid: 'DenyKeyDestructionExceptAdmins', Effect: 'Deny' }),
          ]),
        },
      },
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/restorable/backups' });
  });

  test('creates the replica bucket under its stable name with Object Lock, versioning and its key', () => {
    const { template } = synth();
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketName: 'restorable-123456789012-eu-central-1-backups',
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupKey'), 'Arn'] },
              },
            }),
          ],
        },
      },
    });
  });

  test('applies the same tier lifecycle as the primary, so replicas expire with their originals', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'daily-tier', Prefix: 'daily/', ExpirationInDays: 30 }),
          Match.objectLike({ Id: 'yearly-tier', ExpirationInDays: 2555 }),
          Match.objectLike({
            Id: 'yearly-archive-transitions',
            Transitions: [
              { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
              { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 120 },
            ],
          }),
        ]),
      },
    });
  });

  test('has the same guards as the primary: TLS only and wrong-key uploads denied', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Sid: 'DenyWrongKmsKey', Effect: 'Deny' }),
        ]),
      },
    });
  });

  test('does not replicate further; its only role forwards vault events to the primary region', () => {
    const { template } = synth();
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(bucket.Properties.ReplicationConfiguration).toBeUndefined();
    }
    template.resourceCountIs('AWS::IAM::Role', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: { 'aws:SourceArn': 'arn:aws:events:eu-central-1:123456789012:rule/*' },
            },
          }),
        ],
      },
    });
  });

  test('outputs the bucket name and key ARN', () => {
    const { stack, template } = synth();
    template.hasOutput('BackupBucketName', { Value: stack.resolve(stack.backups.bucket.bucketName) });
    template.hasOutput('BackupKeyArn', { Value: stack.resolve(stack.key.key.keyArn) });
    expect(stack.resolve(stack.backups.bucket.bucketName)).toEqual({
      Ref: expect.stringMatching(/^Backups/),
    });
    expect(stack.resolve(stack.key.key.keyArn)).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'],
    });
  });

  test('uses the very bucket name and key alias the primary stack replicates to', () => {
    const config = exampleConfig();
    const app = newApp();
    const replica = new ReplicaStack(app, 'RestorableReplica', { config });
    const backup = new BackupStack(app, 'RestorableBackup', { config });
    expect(replica.backups.bucket.bucketName).not.toBe(backup.replica.bucket.bucketName); // a token vs a literal
    expect(Template.fromStack(replica).toJSON().Resources).toEqual(
      expect.objectContaining({
        [replica.getLogicalId(replica.backups.bucket.node.defaultChild as never)]: expect.objectContaining({
          Properties: expect.objectContaining({ BucketName: backup.replica.bucket.bucketName }),
        }),
      }),
    );
    expect(backup.replica.bucket.bucketName).toBe(backupBucketName(config.account, config.replicaRegion));
    expect(backup.replica.keyId).toBe(`arn:aws:kms:eu-central-1:123456789012:${BACKUP_KEY_ALIAS}`);
  });
});
