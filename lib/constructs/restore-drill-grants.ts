/**
 * The drill function's permissions: read the source bucket's backups of its database, write its
 * reports, and create, describe and delete only drill instances — encrypted, single-AZ PostgreSQL
 * of the configured class, named `restorable-drill-*`, tagged `restorable:drill=true` with an
 * expiry — with their RDS-managed master secrets. Shared statements (delete, secrets, ARNs) come
 * from lib/drill-iam.ts, which the sweeper uses too.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import {
  DRILL_INSTANCE_PREFIX,
  createDrillInstanceStatements,
  deleteDrillInstanceStatement,
  deleteDrillSecretStatement,
  drillInstanceArns,
  drillSecretsCondition,
  rdsManagedSecretArns,
} from '../drill-iam';
import type { IBackupBucket } from './backup-bucket';

export interface DrillGrantProps {
  readonly databaseId: string;
  /**
   * The bucket the drill restores from (primary or replica).
   * @default - no backup access: a fleet drill reads through its data-access role
   */
  readonly sourceBucket?: IBackupBucket;
  /**
   * The bucket the drill writes its reports to (the primary).
   * @default - no report access: a fleet drill writes through its data-access role
   */
  readonly reportBucket?: IBackupBucket;
  /** The only instance class(es) the role may create. */
  readonly instanceClass: string | readonly string[];
  /** The only DB subnet group the role may create instances in. */
  readonly subnetGroup: rds.ISubnetGroup;
  /** The drill's own DB parameter groups the role may create instances with. */
  readonly parameterGroupNames?: readonly string[];
}

/** Adds the drill's permissions to `role`; `scope` (the RestoreDrill) places the ARNs. */
export function grantDrill(scope: Construct, role: iam.Role, props: DrillGrantProps): void {
  const add = (statement: iam.PolicyStatement) => role.addToPrincipalPolicy(statement);

  // Read backups of this database from the source bucket (selection checks each candidate's
  // dump exists, so it lists the bucket: see readBackups), write its reports to the primary.
  props.sourceBucket?.grants.readBackups(role, props.databaseId);
  props.reportBucket?.grants.writeDrillReports(role, props.databaseId);

  // Create and tag only drill instances, within the caps (drill-iam.ts says which and why).
  createDrillInstanceStatements(scope, {
    instanceClass: props.instanceClass,
    subnetGroupName: props.subnetGroup.subnetGroupName,
    parameterGroupNames: props.parameterGroupNames,
  }).forEach(add);
  add(
    new iam.PolicyStatement({
      sid: 'DescribeDrillInstances',
      actions: ['rds:DescribeDBInstances'],
      resources: [drillInstanceArns(scope)],
    }),
  );
  add(deleteDrillInstanceStatement(scope));

  // The managed master password: RDS creates the secret with the caller's permissions (only
  // through RDS: aws:ViaAWSService), and the drill reads it only for drill instances.
  add(
    new iam.PolicyStatement({
      sid: 'LetRdsCreateManagedMasterSecrets',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      resources: [rdsManagedSecretArns(scope)],
      conditions: { Bool: { 'aws:ViaAWSService': 'true' } },
    }),
  );
  add(
    new iam.PolicyStatement({
      sid: 'ReadDrillInstanceMasterSecretsOnly',
      actions: ['secretsmanager:GetSecretValue'],
      resources: [rdsManagedSecretArns(scope)],
      conditions: drillSecretsCondition(scope),
    }),
  );
  add(deleteDrillSecretStatement(scope));
  // The first RDS instance of an account creates RDS's service-linked role.
  add(
    new iam.PolicyStatement({
      sid: 'CreateRdsServiceLinkedRole',
      actions: ['iam:CreateServiceLinkedRole'],
      resources: [
        Stack.of(scope).formatArn({
          service: 'iam',
          region: '',
          resource: 'role',
          resourceName: 'aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS',
        }),
      ],
      conditions: { StringEquals: { 'iam:AWSServiceName': 'rds.amazonaws.com' } },
    }),
  );

  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Drill instances have generated names under the restorable-drill- prefix; create is further limited by request tags, ' +
          'engine, class and encryption, delete by the restorable:drill resource tag.',
        appliesTo: [{ regex: `/^Resource::arn:.*:rds:.*:db:${DRILL_INSTANCE_PREFIX}\\*$/` }],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'PostgreSQL default option/parameter groups are named per major version (default:postgres-16, default.postgres16); ' +
          'the drill picks the backup source major at run time.',
        appliesTo: [
          { regex: '/^Resource::arn:.*:rds:.*:og:default:postgres-\\*$/' },
          { regex: '/^Resource::arn:.*:rds:.*:pg:default\\.postgres\\*$/' },
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'RDS names managed master secrets rds!db-<uuid>; reading is limited to secrets tagged with a drill instance ARN, ' +
          "creating and deleting to requests RDS makes on the role's behalf.",
        appliesTo: [{ regex: '/^Resource::arn:.*:secretsmanager:.*:secret:rds!db-\\*$/' }],
      },
    ],
    true,
  );
}
