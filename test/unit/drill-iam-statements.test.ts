/**
 * Every statement lib/drill-iam.ts builds, resolved on a bare stack and compared whole: the ARNs,
 * conditions and caps the drill and the sweeper roles get (drill-iam.test.ts checks the Denies on
 * the synthesized drill role). No construct is synthesized, so the mutation run
 * (jest.stryker.config.js) can afford to run it for every mutant of lib/drill-iam.ts.
 */
import { Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import {
  createDrillInstanceStatements,
  deleteDrillInstanceStatement,
  deleteDrillSecretStatement,
  DRILL_INSTANCE_PREFIX,
  DRILL_TAG_KEYS,
  drillInstanceArns,
  drillSecretsCondition,
  drillTagLockStatements,
  rdsArn,
  rdsManagedSecretArns,
  TAG_DRILL,
  TAG_EXPIRES_AT,
} from '../../lib/drill-iam';
import { flatten } from './workflow-support';

const DRILL_KEYS = [
  'restorable:drill',
  'restorable:expires-at',
  'restorable:database',
  'restorable:drill-id',
];

describe('every drill-iam statement, exactly', () => {
  const env = { account: '123456789012', region: 'eu-west-1' };
  /** Sid, effect, actions, resources (tokens as `${AWS::Partition}`) and conditions of a statement. */
  const json = (stack: Stack, statement: iam.PolicyStatement) => {
    const s = stack.resolve(statement.toStatementJson()) as Record<string, unknown>;
    const list = (v: unknown) => (Array.isArray(v) ? v : [v]).map(flatten);
    return { ...s, Action: list(s.Action), Resource: list(s.Resource) } as Record<string, unknown> & {
      Action: string[];
      Resource: string[];
    };
  };
  const DRILL_DBS = 'arn:${AWS::Partition}:rds:eu-west-1:123456789012:db:restorable-drill-*';
  const TAGS = {
    StringEquals: { 'aws:RequestTag/restorable:drill': 'true' },
    Null: { 'aws:RequestTag/restorable:expires-at': 'false' },
    'ForAllValues:StringEquals': { 'aws:TagKeys': DRILL_KEYS },
  };

  test('ARNs: drill instances by name prefix, RDS-managed secrets, any RDS resource of the stack', () => {
    const stack = new Stack(undefined, 'S', { env });
    expect(flatten(stack.resolve(drillInstanceArns(stack)))).toBe(DRILL_DBS);
    expect(flatten(stack.resolve(rdsArn(stack, 'pg', 'x')))).toBe(
      'arn:${AWS::Partition}:rds:eu-west-1:123456789012:pg:x',
    );
    expect(flatten(stack.resolve(rdsManagedSecretArns(stack)))).toBe(
      'arn:${AWS::Partition}:secretsmanager:eu-west-1:123456789012:secret:rds!db-*',
    );
    expect(DRILL_INSTANCE_PREFIX).toBe('restorable-drill-');
    expect([TAG_DRILL, TAG_EXPIRES_AT]).toEqual(DRILL_KEYS.slice(0, 2));
    expect([...DRILL_TAG_KEYS].sort()).toEqual([...DRILL_KEYS].sort());
  });

  test('delete: tagged drill instances only, and their managed secrets only through RDS', () => {
    const stack = new Stack(undefined, 'S', { env });
    expect(json(stack, deleteDrillInstanceStatement(stack))).toEqual({
      Sid: 'DeleteTaggedDrillInstancesOnly',
      Effect: 'Allow',
      Action: ['rds:DeleteDBInstance'],
      Resource: [DRILL_DBS],
      Condition: { StringEquals: { 'rds:db-tag/restorable:drill': 'true' } },
    });
    const secrets = json(stack, deleteDrillSecretStatement(stack));
    expect({ ...secrets, Condition: undefined }).toEqual({
      Sid: 'DeleteDrillInstanceSecretsThroughRds',
      Effect: 'Allow',
      Action: ['secretsmanager:DeleteSecret'],
      Resource: ['arn:${AWS::Partition}:secretsmanager:eu-west-1:123456789012:secret:rds!db-*'],
      Condition: undefined,
    });
    const condition = secrets.Condition as Record<string, Record<string, unknown>>;
    expect(Object.keys(condition).sort()).toEqual(['Bool', 'StringLike']);
    expect(condition.Bool).toEqual({ 'aws:ViaAWSService': 'true' });
    expect(flatten(condition.StringLike['secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn'])).toBe(
      DRILL_DBS,
    );
    expect(Object.keys(drillSecretsCondition(stack))).toEqual(['StringLike']);
  });

  test('create: encrypted single-AZ postgres of the class, tagged with an expiry, within the caps', () => {
    const stack = new Stack(undefined, 'S', { env });
    const statements = createDrillInstanceStatements(stack, {
      instanceClass: 'db.t4g.medium',
      subnetGroupName: 'restorable-drill-orders',
      parameterGroupNames: ['restorable-drill-pg16'],
    }).map((s) => json(stack, s));
    const pg = (name: string) => `arn:\${AWS::Partition}:rds:eu-west-1:123456789012:${name}`;
    expect(statements).toEqual([
      {
        Sid: 'CreateTaggedDrillInstancesOnly',
        Effect: 'Allow',
        Action: ['rds:CreateDBInstance'],
        Resource: [DRILL_DBS],
        Condition: {
          ...TAGS,
          StringEquals: {
            'aws:RequestTag/restorable:drill': 'true',
            'rds:DatabaseEngine': 'postgres',
            'rds:DatabaseClass': 'db.t4g.medium',
          },
          Bool: {
            'rds:StorageEncrypted': 'true',
            'rds:MultiAz': 'false',
            'rds:ManageMasterUserPassword': 'true',
          },
        },
      },
      {
        Sid: 'DenyDrillStorageOverCap',
        Effect: 'Deny',
        Action: ['rds:CreateDBInstance'],
        Resource: ['*'],
        Condition: { NumericGreaterThan: { 'rds:StorageSize': '4096' } },
      },
      {
        Sid: 'DenyUnmanagedMasterPassword',
        Effect: 'Deny',
        Action: ['rds:CreateDBInstance'],
        Resource: ['*'],
        Condition: { BoolIfExists: { 'rds:ManageMasterUserPassword': 'false' } },
      },
      {
        Sid: 'UseDrillSubnetGroupAndDefaultGroups',
        Effect: 'Allow',
        Action: ['rds:CreateDBInstance'],
        Resource: [
          pg('subgrp:restorable-drill-orders'),
          pg('og:default:postgres-*'),
          pg('pg:default.postgres*'),
          pg('pg:restorable-drill-pg16'),
        ],
      },
      {
        Sid: 'TagDrillInstancesAtCreation',
        Effect: 'Allow',
        Action: ['rds:AddTagsToResource'],
        Resource: [DRILL_DBS],
        Condition: TAGS,
      },
      {
        Sid: 'DenyRewritingDrillTags',
        Effect: 'Deny',
        Action: ['rds:AddTagsToResource'],
        Resource: ['*'],
        Condition: {
          'ForAnyValue:StringEquals': { 'aws:TagKeys': DRILL_KEYS },
          Null: { 'rds:db-tag/restorable:drill': 'false' },
        },
      },
      {
        Sid: 'DenyRemovingDrillTags',
        Effect: 'Deny',
        Action: ['rds:RemoveTagsFromResource'],
        Resource: ['*'],
        Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': DRILL_KEYS } },
      },
    ]);
    // The same tag locks on their own (the sweeper's role has no create).
    expect(drillTagLockStatements().map((s) => json(stack, s))).toEqual(statements.slice(-2));
    // Without drill parameter groups: PostgreSQL's defaults only.
    const [, , , groups] = createDrillInstanceStatements(stack, {
      instanceClass: 'db.t4g.medium',
      subnetGroupName: 'g',
    }).map((s) => json(stack, s));
    expect(groups.Resource).toEqual([
      pg('subgrp:g'),
      pg('og:default:postgres-*'),
      pg('pg:default.postgres*'),
    ]);
  });

  test('create: a fleet drill group may create any of its classes, and only those', () => {
    const stack = new Stack(undefined, 'S', { env });
    const classes = ['db.r6g.large', 'db.t4g.medium'];
    const [create] = createDrillInstanceStatements(stack, {
      instanceClass: classes,
      subnetGroupName: 'g',
    }).map((s) => json(stack, s));
    expect(
      (create.Condition as Record<string, Record<string, unknown>>).StringEquals['rds:DatabaseClass'],
    ).toEqual(classes);
  });

  test('the storage cap accepts the whole gp3 range, ends included', () => {
    const stack = new Stack();
    for (const ok of [20, 65_536]) {
      const [, cap] = createDrillInstanceStatements(stack, {
        instanceClass: 'db.t4g.medium',
        subnetGroupName: 'g',
        maxStorageGiB: ok,
      });
      expect(stack.resolve(cap.toStatementJson()).Condition).toEqual({
        NumericGreaterThan: { 'rds:StorageSize': String(ok) },
      });
    }
    for (const bad of [19, 65_537]) {
      expect(() =>
        createDrillInstanceStatements(stack, {
          instanceClass: 'x',
          subnetGroupName: 'g',
          maxStorageGiB: bad,
        }),
      ).toThrow(/maxStorageGiB must be an integer from 20 to 65536/);
    }
  });
});
