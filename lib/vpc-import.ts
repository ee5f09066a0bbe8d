/**
 * A database's network from the config's ids, without lookups: synth needs no credentials and the
 * template never depends on what an account looked like when someone last ran `cdk synth`.
 */
import { Annotations, Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

/** The config's `vpc` block. */
export interface VpcIds {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/**
 * What a function in an imported VPC (the dump, the drill) must reach without a NAT route: the
 * interface endpoints (by service name suffix) and the S3 gateway endpoint. verify and the
 * freshness check run outside the VPC, so they need none of these.
 * @see https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html
 */
export const VPC_FUNCTION_ENDPOINTS = {
  interface: ['secretsmanager', 'rds', 'kms', 'sts', 'logs', 'monitoring'],
  gateway: ['s3'],
} as const;

/** The synth warning that names every endpoint the VPC's subnets need (or a NAT route). */
export function endpointsWarning(vpcId: string): string {
  return (
    `functions placed in ${vpcId} (dump, drill) need, from their subnets, a NAT route or these VPC ` +
    `endpoints: interface ${VPC_FUNCTION_ENDPOINTS.interface.map((e) => `com.amazonaws.<region>.${e}`).join(', ')}; ` +
    `gateway com.amazonaws.<region>.s3 on the subnets' route tables. Without them every run times out ` +
    `(see docs/RUNBOOK.md, "Networking").`
  );
}

/** A VPC, the subnets to use in it and the security groups the database accepts. */
export interface ImportedNetwork {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/**
 * Imports the VPC, its subnets and security groups by id under `scope/Network`. Subnets are used
 * by explicit selection only, so the VPC needs no availability zones or subnet lists of its own.
 */
export function importNetwork(
  scope: Construct,
  ids: VpcIds,
  options: { readonly endpointsProvisioned?: boolean } = {},
): ImportedNetwork {
  const network = new Construct(scope, 'Network');
  // The AZs are never read (subnets are selected explicitly); the attribute is required, and
  // Fn::GetAZs keeps it a deploy-time value instead of a lookup.
  const vpc = ec2.Vpc.fromVpcAttributes(network, 'Vpc', { vpcId: ids.vpcId, availabilityZones: Fn.getAzs() });
  Annotations.of(vpc).acknowledgeWarning(
    '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
    'Subnets are always selected explicitly by id, so the VPC never needs its AZ list at synth time.',
  );
  const subnets = ids.subnetIds.map((subnetId) => {
    const subnet = ec2.Subnet.fromSubnetId(network, subnetId, subnetId);
    // Route tables are never read: nothing here adds routes or endpoints.
    Annotations.of(subnet).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'Imported subnets are only used for placement; no routes or endpoints are added to them.',
    );
    return subnet;
  });
  const securityGroups = ids.securityGroupIds.map((id) =>
    ec2.SecurityGroup.fromSecurityGroupId(network, id, id, { mutable: false }),
  );
  // An imported VPC is never inspected at synth (no lookups), so whether it has NAT or endpoints
  // is unknown here: say exactly what it must provide, unless this app creates them (RunnerEndpoints).
  if (!options.endpointsProvisioned) {
    Annotations.of(network).addWarningV2('@restorable/vpc:endpoints', endpointsWarning(ids.vpcId));
  }
  return { vpc, subnets: { subnets }, securityGroups };
}
