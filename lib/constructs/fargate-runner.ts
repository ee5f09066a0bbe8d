/**
 * The Fargate runner: the runner image (the same `RunnerImage` asset the Lambda functions run) as
 * ECS tasks, for databases past Lambda's limits (15 minutes, 10 GiB of /tmp). One task definition
 * per entry point (dump, verify, drill), each with its own task role, started from Step Functions
 * with `ecs:runTask.sync`. The container runs `node /var/task/runner.js <handler>`
 * (lambda/runner/main.ts), which calls the same handler the Lambda function calls.
 *
 * What stays the same as on Lambda, by construction:
 * - the environment is the handler's schema input (`HandlerEnvInput<H>`), serialised by the same
 *   `lambdaEnvironment`; never secrets (credentials come from Secrets Manager at run time);
 * - the task role starts empty and gets the work's permissions from the same grant function
 *   (`BackupBucketGrants`, `secret.grantRead`, the drill statements) the workflows apply to the
 *   function role; pulling the image and writing logs is the execution role's, not the task's.
 */
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import { METRIC_NAMESPACE } from '../../lambda/core/metric-names';
import {
  assertFargateSize,
  DEFAULT_FARGATE_SIZE,
  DEFAULT_FARGATE_TIMEOUT_HOURS,
  type DumpLayout,
  type FargateSize,
} from '../../lambda/core/runner-settings';
import { suppressControls } from '../control-tower';
import { lambdaEnvironment } from './runner-function';
import { RunnerImage } from './runner-image';

/** The entry points the Fargate runner runs (lambda/runner/main.ts's RUNNER_HANDLERS). */
export type FargateHandler = 'dump' | 'verify' | 'drill';

/** Where the image's build puts the runner entry point (lambda/Dockerfile). */
export const RUNNER_SCRIPT = '/var/task/runner.js';

/** The container's name in every task definition (container overrides address it by name). */
export const RUNNER_CONTAINER_NAME = 'runner';

/**
 * How long a run may take unless the caller says: Fargate has no 15-minute limit, but a run that
 * never ends must still fail and page. At the projected 20.7 h per TiB (BENCHMARKS.md), 12 hours
 * covers databases of several hundred GiB.
 */
export const DEFAULT_FARGATE_DEADLINE = Duration.hours(DEFAULT_FARGATE_TIMEOUT_HOURS);

/**
 * Added to the deadline for the state's timeout: the task's network interface and the image pull
 * (the image carries three PostgreSQL majors) come before the process starts its deadline clock.
 */
export const TASK_START_ALLOWANCE = Duration.minutes(10);

/**
 * Errors of a `runTask` state that mean the task never started: RunTask refused (capacity,
 * throttling, a stopped cluster). @see https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html
 */
export const FARGATE_START_ERRORS: readonly string[] = ['ECS.AmazonECSException'];

/**
 * Errors of a `runTask` state that the handler never saw, so it emitted no failure metric: the
 * task did not start, died without answering (heartbeat) or outlived its state. The workflows
 * record the failure metric themselves for these before paging.
 */
export const FARGATE_UNREPORTED_ERRORS: readonly string[] = [
  ...FARGATE_START_ERRORS,
  sfn.Errors.HEARTBEAT_TIMEOUT,
  sfn.Errors.TIMEOUT,
];

/**
 * How long ECS waits after SIGTERM before SIGKILL: the runner brings its deadline to now on
 * SIGTERM, so a dump aborts its multipart upload and a drill deletes its instance; 120 s is
 * Fargate's maximum.
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_timeout
 */
const STOP_TIMEOUT = Duration.seconds(120);

/** How a workflow runs its heavy steps on Fargate (the config's `runner: fargate` and `fargate`). */
export interface FargateWorkflowOptions {
  /**
   * The task size (CPU, memory, ephemeral storage).
   * @default DEFAULT_FARGATE_SIZE - 2 vCPU, 4 GiB, Fargate's 20 GiB of storage
   */
  readonly size?: FargateSize;

  /**
   * `directory`: `pg_dump -Fd -j jobs` to task storage, one object per file.
   * @default 'stream' - one archive streamed to S3, as on Lambda
   */
  readonly layout?: DumpLayout;

  /**
   * pg_dump -j (directory layout) and the drill's pg_restore -j.
   * @default - one per vCPU of `size`
   */
  readonly jobs?: number;

  /**
   * How long one run (a dump, a verify, a drill's restore) may take.
   * @default DEFAULT_FARGATE_DEADLINE - 12 hours
   */
  readonly timeout?: Duration;
}

export interface FargateRunnerProps {
  /** The VPC the tasks run in: the database's. */
  readonly vpc: ec2.IVpc;

  /**
   * The subnets of the tasks' network interfaces (no public IP: they need NAT or VPC endpoints
   * for ECR, S3, Secrets Manager and CloudWatch).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Security groups of the tasks: those the database accepts the runner from.
   * @default - a new security group allowing all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];

  /**
   * The cluster the tasks run in (Fargate clusters hold no capacity, so sharing one costs nothing).
   * @default - a new cluster in `vpc` with Container Insights
   */
  readonly cluster?: ecs.ICluster;

  /**
   * The image to run.
   * @default - the stack's shared `RunnerImage` (the asset the Lambda functions use)
   */
  readonly image?: RunnerImage;

  /**
   * Task size of every task unless `addTask` gives one.
   * @default DEFAULT_FARGATE_SIZE - 2 vCPU, 4 GiB, Fargate's 20 GiB of storage
   */
  readonly size?: FargateSize;

  /**
   * Customer-managed key for the log group; its key policy must allow the CloudWatch Logs service
   * principal of this region.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * How long the tasks' logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the log group when the runner is removed from the app.
   * @default RemovalPolicy.RETAIN - the logs are the audit trail of backup and drill runs
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * One entry point and its environment, typed by the handler's schema in lambda/core/handler-env.ts,
 * as for `RunnerFunction`.
 */
export type FargateEntryPoint = {
  [H in FargateHandler]: {
    readonly handler: H;
    /** The handler's environment variables (numbers and JSON values are serialised). */
    readonly environment: HandlerEnvInput<H>;
  };
}[FargateHandler];

export type FargateTaskProps = FargateEntryPoint & {
  /**
   * Gives the task role the work's permissions: the same function the workflow applies to the
   * Lambda function's role (e.g. `(role) => bucket.grants.writeBackups(role, databaseId)`), so
   * both runners get the same least privilege from one place. Called once, inside `addTask`, so
   * the role's nag suppressions cover the policy it creates.
   */
  readonly grant: (taskRole: iam.Role) => void;

  /**
   * This task's size.
   * @default - the runner's `size`
   */
  readonly size?: FargateSize;

  /**
   * IAM path of the task role (a fleet runner's: the workload's data-access role trusts the roles
   * under it, fleet-runners.ts).
   * @default '/'
   */
  readonly taskRolePath?: string;
};

/** One entry point's task definition and roles. */
export interface FargateRunnerTask {
  readonly handler: FargateHandler;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  /** The role the handler's code runs with: grant the work's permissions to this role. */
  readonly taskRole: iam.Role;
  /** The role ECS pulls the image and writes the logs with. */
  readonly executionRole: iam.Role;
}

export interface FargateRunTaskOptions {
  /** Which entry point (added with `addTask`) to run. */
  readonly handler: FargateHandler;

  /**
   * JsonPath of the event object in the state's input, e.g. `$` or `$.drill`: passed to the
   * container as RESTORABLE_EVENT (JSON text), the same object the Lambda handler gets.
   */
  readonly input: string;

  /**
   * How long the handler may run (DEADLINE_SECONDS); the state times out
   * `TASK_START_ALLOWANCE` later, which stops the task.
   * @default DEFAULT_FARGATE_DEADLINE
   */
  readonly deadline?: Duration;

  /**
   * `RUN_JOB` (`ecs:runTask.sync`): the state ends when the task stops and fails when the runner
   * exits non-zero; its output is the ECS task description, not the handler's result.
   * `WAIT_FOR_TASK_TOKEN`: the runner answers with SendTaskSuccess (the handler's result) or
   * SendTaskFailure (its errorType), so Catch and Retry on `BackupError` work as for Lambda; grant
   * it with `grantTaskResponse`.
   * @default sfn.IntegrationPattern.RUN_JOB
   */
  readonly integrationPattern?: sfn.IntegrationPattern;

  /**
   * With WAIT_FOR_TASK_TOKEN: how long the state waits for a heartbeat (the runner sends one at its
   * start and every minute) before failing with States.HeartbeatTimeout. A task that died without
   * answering (killed for memory, never started) then fails in minutes, not at the deadline.
   * @default TASK_START_ALLOWANCE - the first heartbeat comes after the image pull
   */
  readonly heartbeat?: Duration;

  /** @default - the construct id */
  readonly stateName?: string;

  /** @default - no comment */
  readonly comment?: string;

  /**
   * Where the state's result goes.
   * @default - discarded with RUN_JOB (a task description), `$` with WAIT_FOR_TASK_TOKEN
   */
  readonly resultPath?: string;
}

/**
 * An ECS cluster and Fargate task definitions running the runner image, and Step Functions states
 * that run them. ARM64 like the functions; logs through the awslogs driver to one log group.
 */
export class FargateRunner extends Construct {
  /** The cluster the tasks run in. */
  public readonly cluster: ecs.ICluster;

  /** The log group of every task (streams `<handler>/runner/<task id>`). */
  public readonly logGroup: logs.LogGroup;

  /** Security groups of the tasks' network interfaces. */
  public readonly securityGroups: ec2.ISecurityGroup[];

  private readonly image: RunnerImage;
  private readonly size: FargateSize;
  private readonly vpcSubnets: ec2.SubnetSelection;
  private readonly tasks = new Map<FargateHandler, FargateRunnerTask>();

  constructor(scope: Construct, id: string, props: FargateRunnerProps) {
    super(scope, id);
    this.size = props.size ?? DEFAULT_FARGATE_SIZE;
    assertFargateSize(this.size);
    this.image = props.image ?? RunnerImage.of(this);
    this.vpcSubnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    this.cluster =
      props.cluster ??
      new ecs.Cluster(this, 'Cluster', {
        vpc: props.vpc,
        containerInsightsV2: ecs.ContainerInsights.ENABLED,
      });
    this.securityGroups = props.securityGroups ?? [
      new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: 'Restorable Fargate runner',
        allowAllOutbound: true,
      }),
    ];
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      encryptionKey: props.logEncryptionKey,
    });
  }

  /** Adds the task definition of one entry point (once per handler). */
  public addTask(props: FargateTaskProps): FargateRunnerTask {
    const { handler } = props;
    if (this.tasks.has(handler)) throw new Error(`the ${handler} task is already added to ${this.node.path}`);
    const size = props.size ?? this.size;
    assertFargateSize(size);
    const name = handler.charAt(0).toUpperCase() + handler.slice(1);
    const stack = Stack.of(this);

    // Only ECS tasks of this account and region may assume it (confused deputy).
    // @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html#create_task_iam_policy_and_role
    const taskRole = new iam.Role(this, `${name}TaskRole`, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com').withConditions({
        ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'ecs', resource: '*' }) },
        StringEquals: { 'aws:SourceAccount': stack.account },
      }),
      description: `Restorable ${handler} task (Fargate runner)`,
      path: props.taskRolePath,
    });
    const executionRole = new iam.Role(this, `${name}ExecutionRole`, {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Restorable ${handler} task: pull the runner image, write its logs`,
    });

    const taskDefinition = new ecs.FargateTaskDefinition(this, `${name}TaskDefinition`, {
      cpu: size.cpu,
      memoryLimitMiB: size.memoryMiB,
      ephemeralStorageGiB: size.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole,
      executionRole,
    });
    const container = taskDefinition.addContainer('Runner', {
      containerName: RUNNER_CONTAINER_NAME,
      image: ecs.ContainerImage.fromDockerImageAsset(this.image.asset),
      // The Lambda base image's entrypoint starts the Lambda runtime interface; replace it.
      entryPoint: ['node'],
      command: [RUNNER_SCRIPT, handler],
      // RESTORABLE_METRICS: the runner sends the handlers' metrics with PutMetricData, because
      // EMF lines in awslogs make no metrics (lambda/runner/cloudwatch-metrics.ts).
      environment: { ...lambdaEnvironment(this, props.environment), RESTORABLE_METRICS: 'cloudwatch' },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: handler }),
      stopTimeout: STOP_TIMEOUT,
      essential: true,
      // The container's hard limit is the task's memory (Control Tower: memory hard limit).
      memoryLimitMiB: size.memoryMiB,
    });
    suppressControls(taskDefinition, {
      ecs_containers_readonly_access_check:
        'pg_dump -Fd writes the directory dump, and the drill the archive pg_restore -j reads, to task storage ' +
        '(/tmp, up to 200 GiB); a read-only root needs a bind-mount volume there, which Fargate creates owned by root.',
      ecs_task_definition_nonroot_user_check:
        'The runner image is the Lambda base image, run as on Lambda; running it under another uid (libpq and pg_dump ' +
        'look the user up) is not yet tested on Fargate. Follow-up: a non-root user baked into lambda/Dockerfile.',
    });

    const task: FargateRunnerTask = { handler, taskDefinition, container, taskRole, executionRole };
    this.tasks.set(handler, task);
    props.grant(taskRole);
    // The metrics the Lambda functions emit as EMF, in the Restorable namespace only.
    // PutMetricData has no resource-level permission; the namespace condition is the scope.
    // @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutRestorableMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    this.suppressNagFindings(task);
    return task;
  }

  /** The task of `handler`; throws when it was not added. */
  public task(handler: FargateHandler): FargateRunnerTask {
    const task = this.tasks.get(handler);
    if (!task)
      throw new Error(
        `no ${handler} task in ${this.node.path}: call addTask({ handler: '${handler}' }) first`,
      );
    return task;
  }

  /** A Step Functions state that runs `handler` in the database's subnets, without a public IP. */
  public runTask(scope: Construct, id: string, options: FargateRunTaskOptions): tasks.EcsRunTask {
    const task = this.task(options.handler);
    const pattern = options.integrationPattern ?? sfn.IntegrationPattern.RUN_JOB;
    if (pattern === sfn.IntegrationPattern.REQUEST_RESPONSE) {
      throw new Error(
        'runTask needs RUN_JOB or WAIT_FOR_TASK_TOKEN: REQUEST_RESPONSE would not wait for the run',
      );
    }
    if (!options.input.startsWith('$')) {
      throw new Error(
        `input must be a JsonPath to the event object (such as "$" or "$.drill"), got "${options.input}"`,
      );
    }
    const deadline = options.deadline ?? DEFAULT_FARGATE_DEADLINE;
    if (!Token.isUnresolved(deadline.toSeconds()) && deadline.toSeconds() < 60) {
      throw new Error(`deadline (${deadline.toHumanString()}) must be at least 1 minute`);
    }
    const environment: tasks.TaskEnvironmentVariable[] = [
      { name: 'RESTORABLE_EVENT', value: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt(options.input)) },
      { name: 'DEADLINE_SECONDS', value: String(deadline.toSeconds()) },
    ];
    if (pattern === sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN) {
      environment.push({ name: 'TASK_TOKEN', value: sfn.JsonPath.taskToken });
    }
    return new tasks.EcsRunTask(scope, id, {
      stateName: options.stateName,
      comment: options.comment,
      integrationPattern: pattern,
      cluster: this.cluster,
      taskDefinition: task.taskDefinition,
      launchTarget: new tasks.EcsFargateLaunchTarget({ platformVersion: ecs.FargatePlatformVersion.LATEST }),
      subnets: this.vpcSubnets,
      securityGroups: this.securityGroups,
      assignPublicIp: false,
      containerOverrides: [{ containerDefinition: task.container, environment }],
      propagatedTagSource: ecs.PropagatedTagSource.TASK_DEFINITION,
      taskTimeout: sfn.Timeout.duration(deadline.plus(TASK_START_ALLOWANCE)),
      heartbeatTimeout:
        pattern === sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN
          ? sfn.Timeout.duration(options.heartbeat ?? TASK_START_ALLOWANCE)
          : undefined,
      resultPath:
        options.resultPath ?? (pattern === sfn.IntegrationPattern.RUN_JOB ? sfn.JsonPath.DISCARD : undefined),
    });
  }

  /**
   * Lets the `handler` task answer `stateMachine`'s task tokens (WAIT_FOR_TASK_TOKEN): SendTaskSuccess,
   * SendTaskFailure and SendTaskHeartbeat on that state machine only.
   */
  public grantTaskResponse(handler: FargateHandler, stateMachine: sfn.IStateMachine): iam.Grant {
    return stateMachine.grantTaskResponse(this.task(handler).taskRole);
  }

  /**
   * Retries a `runTask` state whose task could not be started (ECS refused RunTask: capacity,
   * throttling). The handler never ran, so starting it again is safe; a handler's own failure and
   * a timeout are not retried (as for the Lambda tasks, lib/workflows.ts).
   */
  public static addStartRetries(state: sfn.TaskStateBase): void {
    state.addRetry({
      errors: [...FARGATE_START_ERRORS],
      interval: Duration.seconds(30),
      maxAttempts: 3,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
  }

  /** The tasks' security groups, e.g. to let them into the database. */
  public get connections(): ec2.Connections {
    return new ec2.Connections({ securityGroups: this.securityGroups });
  }

  /**
   * Findings of the state machine role a `runTask` state adds: call once the state machine exists
   * (suppressions attach to the policies that exist when they are added).
   */
  public static suppressStateMachineFindings(stateMachine: sfn.StateMachine): void {
    NagSuppressions.addResourceSuppressions(
      stateMachine.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecs:DescribeTasks and ecs:StopTask (how ecs:runTask.sync watches and stops the task it started; EcsRunTask ' +
            'adds them for every pattern) take a task ARN that is not known before the run; ecs:RunTask itself names the ' +
            'task definition. cloudwatch:PutMetricData (the failure metric of a task that could not send it, ' +
            'runner-step.ts) supports no resource-level permission.',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
  }

  private suppressNagFindings(task: FargateRunnerTask): void {
    NagSuppressions.addResourceSuppressions(task.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment is the handler schema (lambda/core/handler-env.ts): bucket names, key ARNs, retention and ' +
          'tuning only. Credentials are read from Secrets Manager at run time, never passed as variables.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(
      task.executionRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken supports no resource-level permission; pulling layers is limited to the asset ' +
            'repository and logging to the runner log group.',
          appliesTo: ['Resource::*'],
        },
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason: "The execution role's policy belongs to this one task definition and shares its lifecycle.",
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(
      task.taskRole,
      [
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            "The task role's policy holds the work's grants (BackupBucketGrants) for this one task and shares its lifecycle.",
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'cloudwatch:PutMetricData supports no resource-level permission; the cloudwatch:namespace condition limits it ' +
            'to the Restorable namespace (the metrics Lambda emits as EMF, which awslogs does not turn into metrics).',
          appliesTo: ['Resource::*'],
        },
      ],
      true,
    );
  }
}
