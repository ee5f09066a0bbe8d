/**
 * `RunnerEndpoints`: the VPC endpoints the functions placed in a database's VPC (the dump, the
 * drill) need when their subnets have no NAT route: one interface endpoint per service of
 * VPC_FUNCTION_ENDPOINTS (private DNS on, so the SDK's default endpoints resolve to them) and the
 * S3 gateway endpoint on the subnets' route tables. Created only when the config asks
 * (`databases[].vpc.provisionEndpoints`); otherwise synth warns with the same list.
 * @see https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html
 * @see https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html
 */
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { VPC_FUNCTION_ENDPOINTS } from '../vpc-import';

export interface RunnerEndpointsProps {
  /** The VPC the functions run in. */
  readonly vpc: ec2.IVpc;
  /** The functions' subnets: each interface endpoint gets a network interface in them. */
  readonly subnets: ec2.SubnetSelection;
  /** The subnets' route tables, which the S3 gateway endpoint is added to. */
  readonly routeTableIds: readonly string[];
}

export class RunnerEndpoints extends Construct {
  /** The endpoints' own security group: HTTPS in from the functions given to `allowFrom`. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Interface endpoints by service name suffix (`secretsmanager`, `rds`, ...). */
  public readonly interfaceEndpoints: Readonly<Record<string, ec2.InterfaceVpcEndpoint>>;
  /** The S3 gateway endpoint. */
  public readonly s3Gateway: ec2.CfnVPCEndpoint;

  constructor(scope: Construct, id: string, props: RunnerEndpointsProps) {
    super(scope, id);
    if (props.routeTableIds.length === 0) {
      throw new Error('RunnerEndpoints needs the route tables of the subnets for the S3 gateway endpoint');
    }
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Restorable VPC endpoints: HTTPS from the functions placed in this VPC',
      allowAllOutbound: false,
    });
    const endpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};
    for (const name of VPC_FUNCTION_ENDPOINTS.interface) {
      endpoints[name] = new ec2.InterfaceVpcEndpoint(this, pascal(name), {
        vpc: props.vpc,
        service: new ec2.InterfaceVpcEndpointAwsService(name),
        subnets: props.subnets,
        securityGroups: [this.securityGroup],
        privateDnsEnabled: true,
        // Ingress comes from allowFrom only, never from the whole VPC.
        open: false,
      });
    }
    this.interfaceEndpoints = endpoints;
    // L1: imported subnets carry no route table ids, so the route tables come from the config.
    this.s3Gateway = new ec2.CfnVPCEndpoint(this, 'S3', {
      vpcId: props.vpc.vpcId,
      serviceName: `com.amazonaws.${Stack.of(this).region}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [...props.routeTableIds],
    });
  }

  /** Lets `peer` (a function's security group) reach every interface endpoint on 443. */
  public allowFrom(peer: ec2.IPeer, description: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(443), description);
  }
}

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
