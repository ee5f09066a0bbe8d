/**
 * `DrillInstanceNetwork`: what a restore drill's throwaway instances are created in and with, for
 * one database (`RestoreDrill`) or one fleet runner group (`FleetDrillRunners`): the drill
 * function's security group (PostgreSQL to the instances and HTTPS to AWS APIs, nothing else), the
 * instances' security group (PostgreSQL from the drill function only), the DB subnet group and the
 * parameter groups, named under `restorable-drill-<databaseId>` as the drill role's
 * CreateDBInstance permission names them (`grantDrill`).
 *
 * Not a construct of its own: it adds its resources to the drill construct it is given, under the
 * ids they always had there (`FunctionSecurityGroup`, `InstanceSecurityGroup`, `SubnetGroup`,
 * `ParameterGroups`). A construct level in between would change every logical id and so replace
 * the deployed groups (failing while a drill instance uses them); `Default`, the one id CDK leaves
 * out of logical ids, cannot be used because it would be the drill construct's default child next
 * to its state machine (`Resource`).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import type { Construct } from 'constructs';
import { DRILL_INSTANCE_PREFIX } from '../../lambda/core/drill-naming';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import { DrillParameterGroups, type DrillParameterGroupsProps } from './drill-parameter-groups';
import { grantDrill, type DrillGrantProps } from './restore-drill-grants';

/** PostgreSQL's port: the only way into a drill instance. */
export const POSTGRES_PORT = 5432;

export interface DrillInstanceNetworkProps {
  /** The VPC of the drill function and its instances. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the drill function and the instances' DB subnet group (two AZs at least).
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Names the subnet group and parameter groups (`restorable-drill-<databaseId>`): a database id,
   * or `fleet-<group>` for a fleet runner group.
   */
  readonly databaseId: string;
  /**
   * Whose drills, for the descriptions: `kind` "Restorable drill" and `of` "orders" give "Restorable
   * drill function of orders" and "Restorable drill instances of orders: PostgreSQL from the drill
   * function only". A security group's description cannot change without replacing the group.
   */
  readonly description: { readonly kind: string; readonly of: string };
  /** Parameters of the instances' parameter groups (`DrillParameterGroups`). @default - none */
  readonly parameters?: DrillParameterGroupsProps['parameters'];
}

/** The network part of the drill function's environment. */
export type DrillNetworkEnv = Pick<
  HandlerEnvInput<'drill'>,
  'DRILL_SUBNET_GROUP' | 'DRILL_SECURITY_GROUP_IDS' | 'DRILL_PARAMETER_GROUPS'
>;

export class DrillInstanceNetwork {
  /** Security group of the drill function (and of a Fargate restore task: the same client). */
  public readonly functionSecurityGroup: ec2.SecurityGroup;
  /** Security group of drill instances: PostgreSQL from the drill function only. */
  public readonly instanceSecurityGroup: ec2.SecurityGroup;
  /** DB subnet group of drill instances. */
  public readonly subnetGroup: rds.SubnetGroup;
  /** DB parameter groups of drill instances, one per major (max_locks_per_transaction raised). */
  public readonly parameterGroups: DrillParameterGroups;
  /** Where a drill client (the function, a Fargate task) runs: the VPC, subnets and its security group. */
  public readonly clientPlacement: {
    readonly vpc: ec2.IVpc;
    readonly vpcSubnets?: ec2.SubnetSelection;
    readonly securityGroups: ec2.ISecurityGroup[];
  };
  /** What the drill handler reads of this network (`DRILL_SUBNET_GROUP`, ...). */
  public readonly environment: DrillNetworkEnv;

  private readonly scope: Construct;
  private readonly databaseId: string;

  /** Adds the network's resources to `scope`, the drill construct (see above). */
  constructor(scope: Construct, props: DrillInstanceNetworkProps) {
    const { kind, of } = props.description;
    this.scope = scope;
    this.databaseId = props.databaseId;
    this.functionSecurityGroup = new ec2.SecurityGroup(scope, 'FunctionSecurityGroup', {
      vpc: props.vpc,
      description: `${kind} function of ${of}`,
      allowAllOutbound: false,
    });
    this.instanceSecurityGroup = new ec2.SecurityGroup(scope, 'InstanceSecurityGroup', {
      vpc: props.vpc,
      description: `${kind} instances of ${of}: PostgreSQL from the drill function only`,
      allowAllOutbound: false,
    });
    this.instanceSecurityGroup.addIngressRule(
      this.functionSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      'PostgreSQL from the drill function',
    );
    this.functionSecurityGroup.addEgressRule(
      this.instanceSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      'PostgreSQL to drill instances',
    );
    // S3 (the replica bucket is in another region), RDS, Secrets Manager, STS and CloudWatch APIs.
    this.functionSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');

    this.subnetGroup = new rds.SubnetGroup(scope, 'SubnetGroup', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      // A fixed lowercase name: the drill role's CreateDBInstance permission names it in an ARN.
      subnetGroupName: `${DRILL_INSTANCE_PREFIX}${props.databaseId}`,
      description: `${kind} instances of ${of}`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.parameterGroups = new DrillParameterGroups(scope, 'ParameterGroups', {
      databaseId: props.databaseId,
      parameters: props.parameters,
    });

    this.clientPlacement = {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [this.functionSecurityGroup],
    };
    this.environment = {
      DRILL_SUBNET_GROUP: this.subnetGroup.subnetGroupName,
      DRILL_SECURITY_GROUP_IDS: this.instanceSecurityGroup.securityGroupId,
      DRILL_PARAMETER_GROUPS: this.parameterGroups.namesByMajor,
    };
  }

  /**
   * Lets `role` create drill instances in this subnet group with these parameter groups (and of
   * `instanceClass`), describe and delete them, and read their managed master secrets; with
   * `sourceBucket`/`reportBucket`, read the database's backups and write its reports too.
   */
  public grantDrill(
    role: iam.Role,
    props: Omit<DrillGrantProps, 'databaseId' | 'subnetGroup' | 'parameterGroupNames'>,
  ): void {
    grantDrill(this.scope, role, {
      ...props,
      databaseId: this.databaseId,
      subnetGroup: this.subnetGroup,
      parameterGroupNames: Object.values(this.parameterGroups.namesByMajor),
    });
  }
}
