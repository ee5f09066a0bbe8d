// @ts-nocheck
import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { BackupKey } from '../../lib/constructs/backup-key';
import { newStack } from './cdk-support';

const DESTRUCTIVE = [
  'kms:DeleteAlias',
  'kms:DisableKey',
  'kms:DisableKeyRotation',
  'kms:PutKeyPolicy',
  'kms:ScheduleKeyDeletion',
  'kms:UpdateAlias',
];

function denyStatement(template: Template): Record<string, unknown> {
  const keys = template.findResources('AWS::KMS::Key');
  const [key] = Object.values(keys) as {
    Properties: { KeyPolicy: { Statement: Record<string, unknown>[] } };
  }[];
  const deny = key.Properties.KeyPolicy.Statement.find((s) => s.Effect === 'Deny');
  if (!deny) throw new Error('no Deny statement in the key policy');
  return deny;
}

describe('BackupKey', () => {
  test('creates a retained key with rotation and a 30-day deletion window', () => {
    const stack = newStack();
    new BackupKey(stack, 'Key', { alias: 'alias/restorable/backups' });
    const template = Template.fromStack(stack);
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { EnableKeyRotation: true, PendingWindowInDays: 30 },
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/restorable/backups' });
  });

  test('keeps the account root as key administrator (IAM delegation)', () => {
    const stack = newStack();
    new BackupKey(stack, 'Key');
    Template.fromStack(stack).hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 'kms:*',
            Principal: { AWS: 'arn:aws:iam::123456789012:root' },
          }),
        ]),
      },
    });
  });

  test('denies disable, deletion, policy and alias changes to everyone but root and the deployment role', () => {
    const stack = newStack();
    new BackupKey(stack, 'Key');
    const deny = denyStatement(Template.fromStack(stack));
    expect(deny).toEqual({
      Sid: 'DenyKeyDestructionExceptAdmins',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: DESTRUCTIVE,
      Resource: '*',
      Condition: {
        ArnNotLike: {
          'aws:PrincipalArn': [
            'arn:aws:iam::123456789012:root',
            {
              'Fn::Sub':
                'arn:${AWS::Partition}:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1',
            },
          ],
        },
      },
    });
  });

  test('does not deny encrypt, decrypt or data keys, so granted workload roles keep working', () => {
    const stack = newStack();
    new BackupKey(stack, 'Key');
    const actions = denyStatement(Template.fromStack(stack)).Action as string[];
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncrypt*', 'kms:*']) {
      expect(actions).not.toContain(action);
    }
  });

  test('adds configured admins and an explicit deployment role to the exemption list', () => {
    const stack = newStack();
    new BackupKey(stack, 'Key', {
      adminPrincipalArns: ['arn:aws:iam::123456789012:role/BreakGlass'],
      deploymentRoleArn: 'arn:aws:iam::123456789012:role/Deployer',
    });
    const condition = denyStatement(Template.fromStack(stack)).Condition as Record<
      string,
      Record<string, unknown>
    >;
    expect(condition.ArnNotLike['aws:PrincipalArn']).toEqual([
      'arn:aws:iam::123456789012:root',
      'arn:aws:iam::123456789012:role/Deployer',
      'arn:aws:iam::123456789012:role/BreakGlass',
    ]);
  });

  test('grantEncryptDecrypt puts the key actions in the grantee policy', () => {
    const stack = newStack();
    const key = new BackupKey(stack, 'Key');
    const role = new iam.Role(stack, 'Worker', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    key.grantEncryptDecrypt(role);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: Match.arrayWith(['kms:Decrypt', 'kms:Encrypt']),
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
          }),
        ]),
      },
    });
  });

  test.each([5, 31])('rejects a pending window of %p days (KMS allows 7-30)', (days) => {
    const stack = newStack();
    expect(() => new BackupKey(stack, 'Key', { pendingWindow: Duration.days(days) })).toThrow(
      /pendingWindow must be 7-30 days .* got \d+ days/,
    );
  });

  test('rejects an admin that is not an IAM principal ARN', () => {
    const stack = newStack();
    expect(() => new BackupKey(stack, 'Key', { adminPrincipalArns: ['BreakGlass'] })).toThrow(
      /adminPrincipalArns must be IAM root, role or user ARNs, got "BreakGlass"/,
    );
  });

  test('works in an environment-agnostic stack (the deployment role ARN keeps its placeholders)', () => {
    const stack = new Stack();
    new BackupKey(stack, 'Key');
    const condition = denyStatement(Template.fromStack(stack)).Condition as Record<
      string,
      Record<string, unknown[]>
    >;
    expect(JSON.stringify(condition.ArnNotLike['aws:PrincipalArn'][1])).toContain('cfn-exec-role');
  });
});
