/**
 * The ABAC data-access role: exact ARNs and conditions, and an evaluation of its policy for a
 * session tagged for one database against requests for it and for another (IAM's substitution of
 * `${aws:PrincipalTag/...}`, `*` wildcards, StringEquals/StringLike/Null), so "a session for
 * orders cannot address billing" is shown, not only read off the JSON.
 */
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  DatabaseAccessRole,
  PRINCIPAL_DATABASE,
  SESSION_TAG_KEYS,
} from '../../lib/constructs/database-access-role';
import { allowed } from './iam-eval';
import { permissionsOf, tierObjects, viaS3 } from './iam-support';
import { statementsOf, PRIMARY_BUCKET, REPLICA_BUCKET, workflowFixture } from './workflow-support';

const RUNNER_ARN = 'arn:aws:iam::123456789012:role/restorable-runner';
const PRIMARY = `arn:aws:s3:::${PRIMARY_BUCKET}`;
const REPLICA = `arn:aws:s3:::${REPLICA_BUCKET}`;
const SECRETS = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:*';

function fixture() {
  const { stack, bucket, replicaBucket } = workflowFixture();
  const runner = iam.Role.fromRoleArn(stack, 'Runner', RUNNER_ARN, { mutable: false });
  const access = new DatabaseAccessRole(stack, 'DataAccess', { bucket, replicaBucket, runners: [runner] });
  const template = Template.fromStack(stack);
  return { stack, access, template, statements: statementsOf(template, stack, access.role) };
}

const session = (db: string, extra: Record<string, string> = {}) => ({
  'aws:PrincipalTag/restorable:database': db,
  ...extra,
});

describe('DatabaseAccessRole', () => {
  it('grants object access only under <tier>/${aws:PrincipalTag/restorable:database}/ in both buckets, exactly', () => {
    const { template, stack, access } = fixture();
    const permissions = permissionsOf(template, stack, access.role);
    const own = tierObjects(PRIMARY, PRINCIPAL_DATABASE);
    expect(permissions['s3:PutObject']).toEqual(own);
    expect(permissions['s3:PutObjectRetention']).toEqual(own);
    expect(permissions['s3:GetObject']).toEqual([...own, ...tierObjects(REPLICA, PRINCIPAL_DATABASE)].sort());
    expect(permissions['s3:ListBucket']).toEqual([
      REPLICA,
      `${PRIMARY} if {"StringLike":{"s3:prefix":["yearly/${PRINCIPAL_DATABASE}/*","monthly/${PRINCIPAL_DATABASE}/*","weekly/${PRINCIPAL_DATABASE}/*","daily/${PRINCIPAL_DATABASE}/*","adhoc/${PRINCIPAL_DATABASE}/*"]}}`,
    ]);
    expect(permissions['kms:GenerateDataKey']).toEqual([
      `arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555${viaS3('eu-west-1')}`,
    ]);
    expect(permissions).not.toHaveProperty('s3:DeleteObject');
    expect(permissions).not.toHaveProperty('s3:BypassGovernanceRetention');
  });

  it('reads only secrets tagged for the session database, or RDS own secret of the session resource', () => {
    const { template, stack, access } = fixture();
    expect(permissionsOf(template, stack, access.role)['secretsmanager:GetSecretValue']).toEqual([
      `${SECRETS} if {"Null":{"aws:PrincipalTag/restorable:rds-resource":"false"},"StringEquals":{"secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn":"\${aws:PrincipalTag/restorable:rds-resource}"}}`,
      `${SECRETS} if {"Null":{"aws:PrincipalTag/restorable:rds-resource":"false"},"StringEquals":{"secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn":"\${aws:PrincipalTag/restorable:rds-resource}"}}`,
      `${SECRETS} if {"StringEquals":{"secretsmanager:ResourceTag/restorable:database":"\${aws:PrincipalTag/restorable:database}"}}`,
    ]);
  });

  it('a session for orders reaches orders and never billing: objects, listings, secrets', () => {
    const { statements } = fixture();
    const orders = session('orders');
    const key = (bucket: string, tier: string, db: string) =>
      `${bucket}/${tier}/${db}/2026-11-27/${db}-20261127T020000Z.dump`;
    for (const tier of ['daily', 'weekly', 'monthly', 'yearly', 'adhoc']) {
      expect(
        allowed(statements, {
          action: 's3:PutObject',
          resource: key(PRIMARY, tier, 'orders'),
          context: orders,
        }),
      ).toBe(true);
      expect(
        allowed(statements, {
          action: 's3:PutObject',
          resource: key(PRIMARY, tier, 'billing'),
          context: orders,
        }),
      ).toBe(false);
      expect(
        allowed(statements, {
          action: 's3:GetObject',
          resource: key(REPLICA, tier, 'orders'),
          context: orders,
        }),
      ).toBe(true);
      expect(
        allowed(statements, {
          action: 's3:GetObject',
          resource: key(REPLICA, tier, 'billing'),
          context: orders,
        }),
      ).toBe(false);
    }
    // A prefix of another id that starts with this one's (orders-eu) is another database.
    expect(
      allowed(statements, {
        action: 's3:GetObject',
        resource: key(PRIMARY, 'daily', 'orders-eu'),
        context: orders,
      }),
    ).toBe(false);
    expect(
      allowed(statements, {
        action: 's3:ListBucket',
        resource: PRIMARY,
        context: { ...orders, 's3:prefix': 'daily/orders/' },
      }),
    ).toBe(true);
    expect(
      allowed(statements, {
        action: 's3:ListBucket',
        resource: PRIMARY,
        context: { ...orders, 's3:prefix': 'daily/billing/' },
      }),
    ).toBe(false);

    const secret = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/x-AbC123`;
    const tagged = (db: string) => ({ 'secretsmanager:ResourceTag/restorable:database': db });
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...orders, ...tagged('orders') },
      }),
    ).toBe(true);
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...orders, ...tagged('billing') },
      }),
    ).toBe(false);
    expect(
      allowed(statements, { action: 'secretsmanager:GetSecretValue', resource: secret, context: orders }),
    ).toBe(false);

    // RDS's own master secret: only the one of the resource the session names.
    const ordersDb = 'arn:aws:rds:eu-west-1:123456789012:db:orders';
    const managed = (arn: string) => ({ 'secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn': arn });
    const withResource = session('orders', { 'aws:PrincipalTag/restorable:rds-resource': ordersDb });
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...withResource, ...managed(ordersDb) },
      }),
    ).toBe(true);
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...withResource, ...managed('arn:aws:rds:eu-west-1:123456789012:db:billing') },
      }),
    ).toBe(false);
    expect(
      allowed(statements, {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { ...orders, ...managed(ordersDb) },
      }),
    ).toBe(false);
  });

  it('a session without a database tag can do nothing with data', () => {
    const { statements } = fixture();
    expect(
      allowed(statements, { action: 's3:PutObject', resource: `${PRIMARY}/daily//x`, context: {} }),
    ).toBe(false);
    expect(
      allowed(statements, { action: 's3:GetObject', resource: `${PRIMARY}/daily/orders/x`, context: {} }),
    ).toBe(false);
  });

  it('is assumable only by the runners, with TagSession, a database tag, and no other tag keys', () => {
    const { template, access, stack } = fixture();
    const role =
      template.toJSON().Resources[stack.getLogicalId(access.role.node.defaultChild as iam.CfnRole)];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Principal: { AWS: RUNNER_ARN },
        Condition: {
          Null: { 'aws:RequestTag/restorable:database': 'false' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [...SESSION_TAG_KEYS] },
        },
      },
    ]);
    expect(role.Properties.MaxSessionDuration).toBe(3600);
  });

  it('refuses to be built without a runner', () => {
    const { stack, bucket } = workflowFixture();
    expect(() => new DatabaseAccessRole(stack, 'X', { bucket, runners: [] })).toThrow(
      /runners must name at least one role/,
    );
  });
});
