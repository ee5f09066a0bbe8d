/**
 * Pieces the backup and drill workflows and the scheduled checks share: which Lambda errors are
 * worth retrying, the state machine log group, the role and schedule EventBridge Scheduler
 * starts executions and invocations with, and the role EventBridge rules reach their targets with.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * Errors of the Lambda service itself (not of our code): the invocation never ran or its result was
 * lost, so running it again is safe. Our handlers' own errors (a failed dump, a failed check) are
 * not retried: they page instead.
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 */
export const TRANSIENT_LAMBDA_ERRORS: readonly string[] = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
];

/**
 * Throttling. With reserved concurrency 1 this usually means another run of the same function is
 * still going (an overlapping backup): waiting for it with backoff, up to ~30 minutes, is better than
 * failing, and the unique backup ids mean the two runs never overwrite each other.
 */
export const THROTTLING_LAMBDA_ERRORS: readonly string[] = ['Lambda.TooManyRequestsException'];

/**
 * Retries for a task invoking one of our functions.
 *
 * `States.Timeout` is deliberately not retried: a task that ran into its timeout (a dump or restore
 * too big for Lambda) would run into it again, doubling the load on the source database, and the
 * failure should reach on-call now rather than an hour later.
 */
export function addLambdaRetries(task: sfn.TaskStateBase): void {
  task.addRetry({
    errors: [...TRANSIENT_LAMBDA_ERRORS],
    interval: Duration.seconds(10),
    maxAttempts: 3,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [...THROTTLING_LAMBDA_ERRORS],
    interval: Duration.minutes(1),
    maxAttempts: 6,
    backoffRate: 2,
    maxDelay: Duration.minutes(8),
    jitterStrategy: sfn.JitterType.FULL,
  });
}

export interface WorkflowLogGroupProps {
  /** Name suffix, e.g. `orders-backup`. */
  readonly name: string;
  /**
   * How long execution events are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly retention?: logs.RetentionDays;
  /**
   * Customer-managed key for the log group.
   * @default - CloudWatch Logs' own encryption
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The log group a state machine logs to. Its name starts with `/aws/vendedlogs/states/` so Step
 * Functions' log delivery does not grow the account's CloudWatch Logs resource policy per state
 * machine (that policy has a 5,120-character limit).
 *
 * DESTROY, unlike the functions' RETAINed log groups: execution events duplicate what the
 * function logs (kept) record, Step Functions keeps 90 days of execution history anyway, and a
 * fixed name that outlived the stack would make the next deployment of it fail.
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html
 */
export function workflowLogGroup(scope: Construct, id: string, props: WorkflowLogGroupProps): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: `/aws/vendedlogs/states/${Stack.of(scope).stackName}-${props.name}`,
    retention: props.retention ?? logs.RetentionDays.THREE_MONTHS,
    encryptionKey: props.encryptionKey,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/** Logging and tracing every Restorable state machine uses. */
export function workflowObservability(
  logGroup: logs.ILogGroup,
): Pick<sfn.StateMachineProps, 'logs' | 'tracingEnabled'> {
  return {
    // ALL events, but no input/output data: payloads stay out of the logs by construction.
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    tracingEnabled: true,
  };
}

/**
 * The role EventBridge Scheduler assumes to start an execution or invoke a function, trusted only
 * by schedules of this account. Created here rather than by the target so its policy lives in (and is reviewed with)
 * the workflow that owns it.
 * @see https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
 */
export function schedulerRole(scope: Construct, id: string, description: string): iam.Role {
  const role = new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
    description,
  });
  return role;
}

/**
 * The role an EventBridge rule target is reached with (an SNS topic, another region's bus), trusted
 * only by rules of this account and region. A role rather than a resource-policy grant to
 * `events.amazonaws.com`: EventBridge sends no `aws:SourceAccount`/`aws:SourceArn` to KMS when it
 * publishes to an encrypted topic itself, so a key-policy grant could not be bound to this account;
 * through a role, SNS calls KMS as the role and the key's IAM-delegating statement covers it.
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
 */
export function eventBridgeRole(scope: Construct, id: string, description: string): iam.Role {
  const stack = Stack.of(scope);
  return new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({ service: 'events', resource: 'rule', resourceName: '*' }),
        },
      },
    }),
    description,
  });
}

export interface ScheduledInvokeProps {
  /** When the function runs. */
  readonly schedule: scheduler.ScheduleExpression;
  /** Description of the schedule. */
  readonly description: string;
  /** Description of the role the schedule invokes the function with. */
  readonly roleDescription: string;
  /**
   * The event (e.g. a fleet's listed databases, too many for a Lambda environment's 4 KB).
   * @default {}
   */
  readonly input?: Readonly<Record<string, unknown>>;
}

/**
 * A schedule (`Schedule`) invoking `fn` with an empty event through its own role (`ScheduleRole`).
 * A run that could not start within 30 minutes is dropped: the next scheduled run supersedes it.
 */
export function scheduledInvoke(
  scope: Construct,
  fn: lambda.IFunction,
  props: ScheduledInvokeProps,
): scheduler.Schedule {
  const role = schedulerRole(scope, 'ScheduleRole', props.roleDescription);
  const schedule = new scheduler.Schedule(scope, 'Schedule', {
    description: props.description,
    schedule: props.schedule,
    target: new targets.LambdaInvoke(fn, {
      role,
      input: scheduler.ScheduleTargetInput.fromObject(props.input ?? {}),
      maxEventAge: Duration.minutes(30),
      retryAttempts: 3,
    }),
  });
  suppressSchedulerRoleFindings(role);
  return schedule;
}

/**
 * Nag findings of a scheduler role, applied once its target has added the role's only statement
 * (suppressions attach to the children that exist when they are added).
 */
export function suppressSchedulerRoleFindings(role: iam.Role): void {
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason:
          'One statement (start one state machine or invoke one function) for one role, sharing its lifecycle.',
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'lambda:InvokeFunction on `<function arn>:*` covers the versions and aliases of the one scheduled function.',
        appliesTo: [{ regex: '/^Resource::<.*\\.Arn>:\\*$/' }],
      },
    ],
    true,
  );
}

/**
 * Nag findings every state machine role has: Step Functions log delivery and X-Ray need `*`, and
 * invoking a function grants its versions (`<arn>:*`).
 */
export function suppressStateMachineRoleFindings(stateMachine: sfn.StateMachine): void {
  NagSuppressions.addResourceSuppressions(
    stateMachine.role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray actions used by Step Functions logging ' +
          'and tracing support no resource-level permissions.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'lambda:InvokeFunction on `<function arn>:*` covers the versions and aliases of our own functions only.',
        appliesTo: [{ regex: '/^Resource::<.*\\.Arn>:\\*$/' }],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Publishing to the KMS-encrypted on-call topic needs kms:GenerateDataKey* (SNS may call any GenerateDataKey ' +
          'variant), granted by the topic on its own key only.',
        appliesTo: ['Action::kms:GenerateDataKey*'],
      },
      {
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: "The state machine's policy belongs to its one role and shares its lifecycle.",
      },
    ],
    true,
  );
}
