/**
 * Shared by the workflow, drill, sweeper and monitoring tests: a stack with imported backup buckets
 * (the primary with its key and a non-default retention, the replica with its key by alias), a tiny
 * runner image (so tests do not fingerprint the repository), the orders backup workflow and restore drill on them, and
 * readers for the parts of a template that assertions cannot match directly (state machine
 * definitions, the statements of one role).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { BackupBucket, RetentionTiers } from '../../lib/constructs/backup-bucket';
import { BackupWorkflow, type BackupWorkflowProps } from '../../lib/constructs/backup-workflow';
import { RestoreDrill, type RestoreDrillProps } from '../../lib/constructs/restore-drill';
import { RunnerImage } from '../../lib/constructs/runner-image';
import { newStack } from './cdk-support';

let imageDir: string | undefined;

/** A build context holding only a Dockerfile: synth fingerprints it in microseconds. */
export function testImage(stack: Stack): RunnerImage {
  if (!imageDir) {
    imageDir = mkdtempSync(join(tmpdir(), 'restorable-image-'));
    mkdirSync(join(imageDir, 'lambda'));
    writeFileSync(join(imageDir, 'lambda', 'Dockerfile'), 'FROM public.ecr.aws/lambda/nodejs:22\n');
  }
  return new RunnerImage(stack, 'TestImage', { directory: imageDir });
}

export const ACCOUNT = '123456789012';
export const PRIMARY_BUCKET = 'restorable-123456789012-eu-west-1-backups';
export const REPLICA_BUCKET = 'restorable-123456789012-eu-central-1-backups';
export const REPLICA_REGION = 'eu-central-1';
export const REPLICA_KEY_ALIAS = 'alias/restorable/backups';
export const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/orders-AbC123';

/** What every workflow test needs: a stack in eu-west-1 with the buckets, keys, topic and image. */
export function workflowFixture() {
  const stack = newStack('eu-west-1');
  const key = kms.Key.fromKeyArn(
    stack,
    'BackupKey',
    `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`,
  );
  return {
    stack,
    key,
    bucket: BackupBucket.fromBucketAttributes(stack, 'Backups', {
      bucketName: PRIMARY_BUCKET,
      encryptionKey: key,
      retention: RetentionTiers.fromDays({ daily: 35, weekly: 100, monthly: 400, yearly: 3000 }),
    }),
    replicaBucket: BackupBucket.fromBucketAttributes(stack, 'Replica', {
      bucketName: REPLICA_BUCKET,
      account: ACCOUNT,
      region: REPLICA_REGION,
      encryptionKeyAlias: REPLICA_KEY_ALIAS,
    }),
    secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', SECRET_ARN),
    topic: sns.Topic.fromTopicArn(stack, 'Topic', `arn:aws:sns:eu-west-1:${ACCOUNT}:on-call`),
    image: testImage(stack),
  };
}

export type WorkflowFixture = ReturnType<typeof workflowFixture>;

/**
 * The orders database's backup workflow on the fixture's buckets, topic and image (Lambda runner,
 * no VPC), with `change` on top: a placement, `fargate`, a property under test.
 */
export function ordersBackupWorkflow(
  f: WorkflowFixture,
  change: Partial<BackupWorkflowProps> = {},
): BackupWorkflow {
  return new BackupWorkflow(f.stack, 'OrdersBackup', {
    databaseId: 'orders',
    secret: f.secret,
    bucket: f.bucket,
    replicaBucket: f.replicaBucket,
    alarmTopic: f.topic,
    image: f.image,
    ...change,
  });
}

/**
 * The orders database's restore drill on the fixture's buckets and image, in the imported VPC
 * (Lambda runner), with `change` on top.
 */
export function ordersRestoreDrill(
  f: WorkflowFixture,
  change: Partial<RestoreDrillProps> = {},
): RestoreDrill {
  return new RestoreDrill(f.stack, 'OrdersDrill', {
    databaseId: 'orders',
    bucket: f.bucket,
    replicaBucket: f.replicaBucket,
    vpc: importedPlacement(f.stack).vpc,
    image: f.image,
    ...change,
  });
}

/**
 * The event the backup state machine hands the dump (only the fields its event schema accepts) and
 * the verify (the manifest key the dump returned), the same on Lambda and on Fargate.
 */
export const DUMP_EVENT = {
  'databaseId.$': '$.databaseId',
  'secretArn.$': '$.secretArn',
  'schemas.$': '$.schemas',
  'sslMode.$': '$.sslMode',
  'tier.$': '$.tier',
  'reason.$': '$.reason',
};
export const VERIFY_EVENT = { 'databaseId.$': '$.databaseId', 'manifestKey.$': '$.dump.manifestKey' };

/** A VPC imported from ids, as the stack builds it from the config (no lookups). */
export function importedPlacement(stack: Stack) {
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
  });
  return {
    vpc,
    securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'DatabaseClients', 'sg-0123456789abcdef0')],
  };
}

export interface AslState {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Retry?: {
    ErrorEquals: string[];
    MaxAttempts?: number;
    IntervalSeconds?: number;
    BackoffRate?: number;
  }[];
  readonly Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  readonly Choices?: Record<string, unknown>[];
  readonly Default?: string;
  readonly Seconds?: number;
  readonly TimeoutSeconds?: number;
  readonly ResultPath?: string | null;
  readonly ErrorPath?: string;
  readonly CausePath?: string;
  readonly Comment?: string;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
}

/**
 * The state machine's definition as JSON. CloudFormation holds it as `Fn::Join` of strings and
 * tokens (function ARNs); each token becomes `<token>`, which keeps the JSON valid because tokens
 * only appear inside string values.
 */
export function definitionOf(stack: Stack, stateMachine: sfn.StateMachine): AslDefinition {
  const cfn = stateMachine.node.defaultChild as sfn.CfnStateMachine;
  const definition = stack.resolve(cfn.definitionString) as string | { 'Fn::Join': [string, unknown[]] };
  const text =
    typeof definition === 'string'
      ? definition
      : definition['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<token>')).join('');
  return JSON.parse(text) as AslDefinition;
}

export interface PolicyStatementJson {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every inline and managed policy attached to `role`. */
export function statementsOf(template: Template, stack: Stack, role: iam.IRole): PolicyStatementJson[] {
  const roleId = stack.getLogicalId(role.node.defaultChild as iam.CfnRole);
  const attached = (roles: unknown) =>
    Array.isArray(roles) && roles.some((r) => (r as { Ref?: string }).Ref === roleId);
  return [
    ...Object.values(template.findResources('AWS::IAM::Policy')),
    ...Object.values(template.findResources('AWS::IAM::ManagedPolicy')),
  ]
    .filter((p) => attached(p.Properties.Roles))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as PolicyStatementJson[]);
}

/** The actions of a statement as a list. */
export function actionsOf(statement: PolicyStatementJson): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** All actions a role is allowed. */
export function allowedActions(statements: PolicyStatementJson[]): string[] {
  return statements.filter((s) => s.Effect === 'Allow').flatMap(actionsOf);
}

/** Resources of a statement with tokens resolved to a readable string (for prefix checks). */
export function resourcesOf(statement: PolicyStatementJson): string[] {
  const list = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
  return list.map(flatten);
}

/** `{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::b/x/*']] }` → `arn:${AWS::Partition}:s3:::b/x/*` */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if (v.Ref) return `\${${String(v.Ref)}}`;
  if (v['Fn::GetAtt']) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  return JSON.stringify(value);
}
