/**
 * The RunnerFunction construct: every Restorable Lambda function, built from the runner image
 * with one set of defaults (ARM64, tracing, log group, timeouts, memory), and the environment
 * serialisation the handler schemas (lambda/core/handler-env.ts) read back.
 */
import { Duration, RemovalPolicy, Size, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { HandlerEnvInput, HandlerName } from '../../lambda/core/handler-env';
import { RunnerImage, type RunnerHandler } from './runner-image';

/**
 * Per-entry-point defaults. Dumps, verifies and drills stream whole databases, so they get the
 * Lambda maximum and enough memory for multipart buffers; the scheduled checks only call AWS APIs.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (15 minute maximum)
 */
const HANDLER_DEFAULTS: Record<RunnerHandler, { timeout: Duration; memorySize: number }> = {
  dump: { timeout: Duration.minutes(15), memorySize: 2048 },
  verify: { timeout: Duration.minutes(15), memorySize: 1024 },
  drill: { timeout: Duration.minutes(15), memorySize: 2048 },
  freshness: { timeout: Duration.minutes(5), memorySize: 512 },
  sweeper: { timeout: Duration.minutes(5), memorySize: 256 },
  report: { timeout: Duration.minutes(10), memorySize: 1024 },
  discovery: { timeout: Duration.minutes(5), memorySize: 512 },
};

/** Lambda's limits, checked at synth so a bad value fails early with a clear message. */
const MIN_MEMORY_MB = 128;
const MAX_MEMORY_MB = 10240;
const MAX_TIMEOUT = Duration.minutes(15);
/**
 * A function's environment variables together: 4 KB.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
const MAX_ENVIRONMENT_BYTES = 4096;

/**
 * The settings every construct that runs runner functions passes on to them: which image, and how
 * their logs are kept.
 */
export interface RunnerCommonProps {
  /**
   * The runner image.
   * @default - the stack's shared `RunnerImage` (one asset for every function)
   */
  readonly image?: RunnerImage;

  /**
   * Customer-managed key for the log groups (functions, and the state machine where there is
   * one). Its key policy must allow the CloudWatch Logs service principal of this region.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * How long the logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** Everything but the entry point and its environment, which go together (RunnerFunctionProps). */
export interface RunnerFunctionOptions {
  /**
   * The image to run.
   * @default - the stack's shared `RunnerImage` (one asset for every function)
   */
  readonly image?: RunnerImage;

  /**
   * A description shown in the Lambda console.
   * @default - "Restorable <handler>"
   */
  readonly description?: string;

  /**
   * How long one invocation may run.
   * @default - 15 minutes for dump, verify and drill; 5 minutes for freshness and sweeper
   */
  readonly timeout?: Duration;

  /**
   * Memory in MB (CPU scales with it).
   * @default - 2048 for dump and drill, 1024 for verify, 512 for freshness, 256 for sweeper
   */
  readonly memorySize?: number;

  /**
   * Size of /tmp.
   * @default - 512 MiB (the streaming dump and verify write nothing to local disk)
   */
  readonly ephemeralStorageSize?: Size;

  /**
   * Reserved concurrency (config `functions.reservedConcurrency` sets it for every function).
   * @default - none: a new account's quota of 10 cannot reserve for eight functions; overlapping
   *   runs are kept apart by the workflow and by conditional creates of unique backup ids
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * The VPC to run in (needed to reach a private database).
   * @default - not in a VPC: the function reaches AWS APIs and public endpoints directly
   */
  readonly vpc?: ec2.IVpc;

  /**
   * The subnets in `vpc` to place the function's network interfaces in.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups for the function's network interfaces (only with `vpc`).
   * @default - a new security group allowing all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the log group when the function is removed from the app.
   * @default RemovalPolicy.RETAIN - the logs are the audit trail of backup and drill runs and must
   * outlive the function; the log group name is generated, so a redeploy never collides with it
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * Customer-managed key for the log group. Its key policy must allow the CloudWatch Logs service
   * principal of this region (see `Monitoring`, whose key does).
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * IAM path of the execution role. A fleet's data-access roles trust runner roles by path
   * (`DatabaseAccessRole.runnerRolePath`), so runners in other stacks need no reference back.
   * @default '/'
   */
  readonly rolePath?: string;
}

/**
 * A handler's environment type; a handler whose schema is not in HANDLER_ENV_SCHEMAS yet (the
 * fleet's `discovery`, added by the runtime side) takes a plain record until it is.
 */
type EnvInputOf<H extends RunnerHandler> = H extends HandlerName
  ? HandlerEnvInput<H>
  : Record<string, unknown>;

/**
 * An entry point and its environment, typed by the handler's schema in
 * lambda/core/handler-env.ts: a variable the handler does not read, a missing required one or a
 * value of the wrong kind is a compile error. Leave an optional variable out to get the schema's
 * default. Never secrets: credentials are read from Secrets Manager at run time.
 */
export type RunnerEntryPoint = {
  [H in RunnerHandler]: {
    /** Which entry point of the runner image this function runs. */
    readonly handler: H;
    /** The handler's environment variables (numbers and JSON values are serialised). */
    readonly environment: EnvInputOf<H>;
  };
}[RunnerHandler];

export type RunnerFunctionProps = RunnerFunctionOptions & RunnerEntryPoint;

/**
 * A handler environment as Lambda takes it: strings, unset variables left out, numbers as text and
 * JSON values as JSON (tokens inside are resolved at deploy time).
 */
export function lambdaEnvironment(scope: Construct, environment: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment) as [string, unknown][]) {
    if (value === undefined) continue;
    if (typeof value === 'string') out[name] = value;
    else if (typeof value === 'number')
      out[name] = Token.isUnresolved(value) ? Token.asString(value) : String(value);
    else out[name] = Stack.of(scope).toJsonString(value);
  }
  return out;
}

/**
 * The wrapper that gives every Restorable function the same defaults: the shared runner image,
 * ARM64, X-Ray active tracing, its own log group with retention, a timeout and memory size, reserved
 * concurrency, and optional VPC placement.
 *
 * The execution role is created here without AWS managed policies: log, X-Ray and (in a VPC)
 * network-interface permissions are spelled out, and callers add only what their work needs.
 */
export class RunnerFunction extends Construct {
  /** The Lambda function. */
  public readonly function: lambda.DockerImageFunction;

  /** The function's execution role. */
  public readonly role: iam.Role;

  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;

  /** Which entry point of the image this function runs. */
  public readonly handler: RunnerHandler;

  constructor(scope: Construct, id: string, props: RunnerFunctionProps) {
    super(scope, id);
    validate(props);
    this.handler = props.handler;
    const defaults = HANDLER_DEFAULTS[props.handler];

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      encryptionKey: props.logEncryptionKey,
    });

    this.role = new iam.Role(this, 'ServiceRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Restorable ${props.handler} function`,
      path: props.rolePath,
    });
    // What AWSLambdaBasicExecutionRole would grant, limited to this function's own log group.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    if (props.vpc) {
      // What AWSLambdaVPCAccessExecutionRole grants. Lambda checks these at create time and the
      // Describe actions support no resource-level permissions.
      // @see https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }

    const environment = lambdaEnvironment(this, props.environment);
    // Checked at synth (tokens counted as their CloudFormation text), so a list that outgrows the
    // environment fails here, not at deploy.
    const envBytes = Object.entries(environment).reduce(
      (n, [name, value]) =>
        n +
        name.length +
        (Token.isUnresolved(value) ? JSON.stringify(Stack.of(this).resolve(value)) : value).length,
      0,
    );
    if (envBytes > MAX_ENVIRONMENT_BYTES) {
      throw new Error(
        `the ${props.handler} function's environment is about ${envBytes} bytes; Lambda allows ${MAX_ENVIRONMENT_BYTES} in all ` +
          '(pass long lists in the event instead)',
      );
    }
    const image = props.image ?? RunnerImage.of(this);
    this.function = new lambda.DockerImageFunction(this, 'Resource', {
      code: image.code(props.handler),
      description: props.description ?? `Restorable ${props.handler}`,
      architecture: lambda.Architecture.ARM_64,
      tracing: lambda.Tracing.ACTIVE,
      timeout: props.timeout ?? defaults.timeout,
      memorySize: props.memorySize ?? defaults.memorySize,
      ephemeralStorageSize: props.ephemeralStorageSize,
      environment,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      securityGroups: props.vpc ? props.securityGroups : undefined,
      // Step Functions and the schedules own retries; a silent async retry would rerun a dump.
      retryAttempts: 0,
    });

    this.suppressNagFindings(props);
  }

  /** The security groups of the function's network interfaces (empty when not in a VPC). */
  public get connections(): ec2.Connections {
    return this.function.connections;
  }

  /** Lambda `Errors` for this function. @default - sum over 5 minutes */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricErrors(props);
  }

  /** Lambda `Throttles` for this function (a second overlapping run is throttled). @default - sum over 5 minutes */
  public metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricThrottles(props);
  }

  /** Lambda `Duration` for this function. @default - average over 5 minutes */
  public metricDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricDuration(props);
  }

  /** Lets `grantee` invoke this function. */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvoke(grantee);
  }

  private suppressNagFindings(props: RunnerFunctionProps): void {
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'X-Ray PutTraceSegments/PutTelemetryRecords and the EC2 network-interface actions Lambda needs in a VPC ' +
            'do not support resource-level permissions; every other statement names its resources.',
          appliesTo: ['Resource::*'],
        },
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            'The policy belongs to this one role and shares its lifecycle; a customer-managed policy would be a ' +
            'reusable object no other principal should attach.',
        },
      ],
      true,
    );
    const functionSuppressions = [
      {
        id: 'NIST.800.53.R5-LambdaDLQ',
        reason:
          'Invoked synchronously by Step Functions (errors reach the workflow Catch) or on a schedule whose next run ' +
          'repeats the work; failures page through the runner Errors alarm, so a DLQ would hold nothing to replay.',
      },
    ];
    if (!props.vpc) {
      functionSuppressions.push({
        id: 'NIST.800.53.R5-LambdaInsideVPC',
        reason:
          'This function only calls AWS APIs (and, for databases outside a VPC, a public TLS endpoint verified with ' +
          'verify-full); VPC placement would add NAT or endpoints without narrowing what it can reach.',
      });
    }
    NagSuppressions.addResourceSuppressions(this.function, functionSuppressions);
  }
}

function validate(props: RunnerFunctionProps): void {
  const { memorySize, timeout, reservedConcurrentExecutions } = props;
  if (memorySize !== undefined && !Token.isUnresolved(memorySize)) {
    if (!Number.isInteger(memorySize) || memorySize < MIN_MEMORY_MB || memorySize > MAX_MEMORY_MB) {
      throw new Error(
        `memorySize (${memorySize}) must be a whole number of MB between ${MIN_MEMORY_MB} and ${MAX_MEMORY_MB}`,
      );
    }
  }
  if (timeout !== undefined && !Token.isUnresolved(timeout.toSeconds())) {
    if (timeout.toSeconds() < 1 || timeout.toSeconds() > MAX_TIMEOUT.toSeconds()) {
      throw new Error(`timeout (${timeout.toHumanString()}) must be between 1 second and 15 minutes`);
    }
  }
  if (reservedConcurrentExecutions !== undefined && !Token.isUnresolved(reservedConcurrentExecutions)) {
    if (!Number.isInteger(reservedConcurrentExecutions) || reservedConcurrentExecutions < 1) {
      throw new Error(
        `reservedConcurrentExecutions (${reservedConcurrentExecutions}) must be a whole number of at least 1`,
      );
    }
  }
  if (!props.vpc && (props.vpcSubnets || props.securityGroups)) {
    throw new Error('vpcSubnets and securityGroups need a vpc: pass vpc as well, or neither');
  }
}
