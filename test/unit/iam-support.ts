/**
 * Exact IAM assertions: every permission a role has, as one flat, comparable map. A test that says
 * "the drill may only read its backups" compares the whole map with `toEqual`, so a missing
 * action fails it as surely as an extra one; and the map is never empty (reading it throws
 * instead), so no assertion over it can pass vacuously the way `[].every(...)` does.
 */
import type { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { flatten, statementsOf } from './workflow-support';

/**
 * `action → sorted list of "<resource>"` or `"<resource> if <conditions>"`, over every Allow
 * statement of every inline and managed policy attached to `role`, with tokens written as
 * `${LogicalId.Arn}` / `${AWS::URLSuffix}`. Statement boundaries (how CDK merged them) do not
 * matter; what each action is allowed on, and under which conditions, does.
 *
 * Deny statements are left to `deniesOf` (a cap on what the allows grant, asserted on its own).
 * Throws when the role has no statement at all, and on NotAction or NotResource (none of our roles
 * has them; a test meeting one should say what it means).
 */
export function permissionsOf(template: Template, stack: Stack, role: iam.IRole): Record<string, string[]> {
  const statements = statementsOf(template, stack, role);
  if (statements.length === 0) {
    throw new Error(`role ${role.node.path} has no policy statements: nothing to assert on`);
  }
  const permissions: Record<string, string[]> = {};
  for (const statement of statements) {
    const raw = statement as unknown as Record<string, unknown>;
    if (statement.Effect === 'Deny' && raw.NotAction === undefined && raw.NotResource === undefined) continue;
    if (statement.Effect !== 'Allow' || raw.NotAction !== undefined || raw.NotResource !== undefined) {
      throw new Error(`role ${role.node.path}: unexpected statement ${JSON.stringify(statement)}`);
    }
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    const resources = (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(
      flatten,
    );
    const condition = statement.Condition ? ` if ${stableJson(statement.Condition)}` : '';
    for (const action of actions) {
      for (const resource of resources) (permissions[action] ??= []).push(`${resource}${condition}`);
    }
  }
  for (const list of Object.values(permissions)) list.sort();
  return permissions;
}

/** The role's Deny statements by Sid: `{ actions, resources, condition }` each. */
export function deniesOf(
  template: Template,
  stack: Stack,
  role: iam.IRole,
): Record<string, { actions: string[]; resources: string[]; condition: unknown }> {
  const out: Record<string, { actions: string[]; resources: string[]; condition: unknown }> = {};
  for (const statement of statementsOf(template, stack, role)) {
    if (statement.Effect !== 'Deny') continue;
    const list = (v: unknown) => (Array.isArray(v) ? v : [v]) as string[];
    out[String((statement as { Sid?: string }).Sid)] = {
      actions: list(statement.Action),
      resources: list(statement.Resource).map(flatten),
      condition: normalize(statement.Condition),
    };
  }
  return out;
}

/** JSON with sorted keys and tokens flattened, so conditions compare as text. */
function stableJson(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('Fn::Join' in record || 'Ref' in record || 'Fn::GetAtt' in record) return flatten(value);
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((key) => [key, normalize(record[key])]),
    );
  }
  return value;
}

const ENI_ACTIONS = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
];

/**
 * What every RunnerFunction role holds besides its work (asserted in detail in
 * runner-function.test.ts): its own log group, X-Ray, and in a VPC its network interfaces.
 */
export function runnerBaseline(options: { vpc?: boolean } = {}): Record<string, unknown[]> {
  const logGroup = [expect.stringMatching(/^\$\{\w+LogGroup\w+\.Arn\}$/)];
  return {
    'logs:CreateLogStream': logGroup,
    'logs:PutLogEvents': logGroup,
    'xray:PutTelemetryRecords': ['*'],
    'xray:PutTraceSegments': ['*'],
    ...(options.vpc ? Object.fromEntries(ENI_ACTIONS.map((action) => [action, ['*']])) : {}),
  };
}

/**
 * Object ARNs `<bucket ARN>/<tier>/<databaseId>/<suffix>` for every prefix a backup is stored
 * under (the GFS tiers and adhoc), sorted like {@link permissionsOf} sorts.
 */
export function tierObjects(bucketArn: string, databaseId: string, suffix = '*'): string[] {
  return ['adhoc', 'daily', 'monthly', 'weekly', 'yearly'].map(
    (tier) => `${bucketArn}/${tier}/${databaseId}/${suffix}`,
  );
}

/** `" if {"StringEquals":{"kms:ViaService":"s3.<region>.${AWS::URLSuffix}"}}"` as permissionsOf writes it. */
export function viaS3(region: string): string {
  return ` if {"StringEquals":{"kms:ViaService":"s3.${region}.\${AWS::URLSuffix}"}}`;
}

/** The condition on a key known by alias, used through S3 in its region. */
export function aliasViaS3(region: string, alias: string): string {
  return ` if {"ForAnyValue:StringEquals":{"kms:ResourceAliases":"${alias}"},"StringEquals":{"kms:ViaService":"s3.${region}.\${AWS::URLSuffix}"}}`;
}
