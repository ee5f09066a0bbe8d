/**
 * One workflow step that runs a handler on the database's runner: a Lambda invoke, or the same
 * handler as a Fargate task (FargateRunner) for databases past Lambda's limits. The backup and
 * drill workflows build their heavy steps with it, so both runners get the same event, the same
 * result path, and the same Catch.
 *
 * Why the Fargate step waits for a task token rather than `ecs:runTask.sync`: the next state needs
 * the handler's result (the dump's manifest key, the drill's new state), and `.sync` returns the
 * ECS task description, not the program's output; a failure under `.sync` is `States.TaskFailed`
 * with an exit code, so a Catch or Retry on `BackupError` or `ReplicationPending` could not tell
 * the reasons apart. With `.waitForTaskToken` the runner (lambda/runner/main.ts) answers with
 * SendTaskSuccess (the handler's result, as Lambda's payload) or SendTaskFailure (the handler's
 * errorType and message, as Lambda reports them): the states after it and every Catch and Retry
 * stay the same for both runners. What `.sync` would add, noticing a task that died, comes from the
 * heartbeat timeout (the runner beats every minute); what it would stop at the state's timeout, the
 * runner stops itself: its deadline ends before the state's (DEADLINE_SECONDS). The alternative,
 * `.sync` plus a second step reading a result file from S3, needs a result object with its own
 * permissions and loses the error type.
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
 */
import type { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, type MetricName } from '../../lambda/core/metric-names';
import { addLambdaRetries } from '../workflows';
import { FARGATE_UNREPORTED_ERRORS, FargateRunner, type FargateHandler } from './fargate-runner';

/** Where a step's handler runs. */
export type StepRunner =
  | { readonly kind: 'lambda'; readonly fn: lambda.IFunction }
  | {
      readonly kind: 'fargate';
      readonly runner: FargateRunner;
      readonly handler: FargateHandler;
      /** How long the handler may run on Fargate (its DEADLINE_SECONDS). */
      readonly deadline: Duration;
    };

export interface RunnerStepProps {
  /** `stateName` of the task; construct ids are `<name>Task` (and `<name>Event` on Fargate). */
  readonly name: string;
  readonly comment?: string;
  /**
   * The handler's event: the Lambda payload, with `.$` paths into the state's input, or
   * `WHOLE_INPUT` for the state's input as it is (a shared workflow whose input is the event).
   */
  readonly payload: Record<string, unknown> | typeof WHOLE_INPUT;
  /** Where the handler's result goes. */
  readonly resultPath: string;
  /** The Lambda task's timeout (the Fargate task's is its deadline plus the start allowance). */
  readonly lambdaTimeout: Duration;
}

export interface RunnerStep {
  /** The step's `stateName`. */
  readonly name: string;
  /** The step's states, to chain into the workflow (its end is the task). */
  readonly chain: sfn.Chain;
  /** The state running the handler: add Catch and Retry here. */
  readonly task: sfn.TaskStateBase;
}

/** A step's payload that is the state's whole input (optional fields stay absent, not null). */
export const WHOLE_INPUT = '$';

/** Where the Fargate step puts the event it hands the container (overwritten by each step). */
const RUNNER_EVENT_PATH = '$.runnerEvent';

/** Builds the step: a Lambda invoke, or a Pass that shapes the event and the Fargate task. */
export function runnerStep(scope: Construct, runner: StepRunner, props: RunnerStepProps): RunnerStep {
  if (runner.kind === 'lambda') {
    const task = new tasks.LambdaInvoke(scope, `${props.name}Task`, {
      stateName: props.name,
      comment: props.comment,
      lambdaFunction: runner.fn,
      payload:
        props.payload === WHOLE_INPUT
          ? sfn.TaskInput.fromJsonPathAt(WHOLE_INPUT)
          : sfn.TaskInput.fromObject(props.payload),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath: props.resultPath,
      taskTimeout: sfn.Timeout.duration(props.lambdaTimeout),
    });
    addLambdaRetries(task);
    return { name: props.name, chain: sfn.Chain.start(task), task };
  }
  // The container takes one JSON object (RESTORABLE_EVENT): the same object the Lambda payload is.
  const event = new sfn.Pass(scope, `${props.name}Event`, {
    stateName: `${props.name}Event`,
    comment: `The ${props.name} event for the Fargate task`,
    // Without parameters a Pass passes its input on: the whole input is the event.
    ...(props.payload === WHOLE_INPUT ? {} : { parameters: props.payload }),
    resultPath: RUNNER_EVENT_PATH,
  });
  const task = runner.runner.runTask(scope, `${props.name}Task`, {
    handler: runner.handler,
    input: RUNNER_EVENT_PATH,
    deadline: runner.deadline,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    stateName: props.name,
    comment: props.comment,
    resultPath: props.resultPath,
  });
  FargateRunner.addStartRetries(task);
  return { name: props.name, chain: sfn.Chain.start(event).next(task), task };
}

/**
 * Catches on a Fargate step the errors its handler never saw (it did not start, died, or outlived
 * the state), records `metric` = 1 for the database as the handler would have, and goes on to
 * `next` (the failure path). Nothing for a Lambda step: there the function's Errors alarm covers
 * a crash, as before. Call before the step's catch-all, so this Catch is tried first.
 */
export function recordUnreportedFailures(
  scope: Construct,
  step: RunnerStep,
  runner: StepRunner,
  props: {
    /** The database's id, or a JsonPath to it in the state's input (a shared fleet workflow). */
    readonly databaseId: string;
    readonly metric: MetricName;
    readonly next: sfn.IChainable;
  },
): void {
  if (runner.kind !== 'fargate') return;
  const name = `${step.name}RecordFailure`;
  const record = new tasks.CallAwsService(scope, `${name}Task`, {
    stateName: name,
    comment: `${props.metric} for a task that could not report it`,
    service: 'cloudwatch',
    action: 'putMetricData',
    // PutMetricData has no resource-level permission (the Fargate task role's grant adds the
    // namespace condition; this one is the state machine's).
    iamResources: ['*'],
    iamAction: 'cloudwatch:PutMetricData',
    parameters: {
      Namespace: METRIC_NAMESPACE,
      MetricData: [
        {
          MetricName: props.metric,
          Dimensions: [{ Name: DIMENSION_DATABASE, Value: props.databaseId }],
          Value: 1,
          Unit: 'Count',
        },
      ],
    },
    resultPath: sfn.JsonPath.DISCARD,
  });
  // A metric that cannot be sent must not keep the page from going out.
  record.addCatch(props.next, { errors: [sfn.Errors.ALL], resultPath: sfn.JsonPath.DISCARD });
  record.next(props.next);
  step.task.addCatch(record, { errors: [...FARGATE_UNREPORTED_ERRORS], resultPath: '$.error' });
}
