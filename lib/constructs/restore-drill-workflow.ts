/**
 * The drill's Step Functions definition: select → provision → wait (bounded rounds) → restore and
 * check → cleanup → report, with every task caught into `CleanupOnError`, which deletes whatever
 * was created and writes a FAILED report. The actions and the retried cleanup error are the
 * handler's contract (lambda/core/drill-workflow.ts). Built inside the `RestoreDrill` construct, so
 * the state ids are its own.
 */
import { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { DRILL_STEP_TIMEOUT_MINUTES } from '../../lambda/core/drill-settings';
import { DRILL_ACTIONS, DRILL_CLEANUP_ERROR, type DrillTaskName } from '../../lambda/core/drill-workflow';
import { runnerStep, type StepRunner } from './runner-step';
import {
  addLambdaRetries,
  suppressStateMachineRoleFindings,
  workflowLogGroup,
  workflowObservability,
} from '../workflows';

export interface DrillStateMachineProps {
  readonly databaseId: string;
  /** The drill function: every task invokes it with its action. */
  readonly fn: lambda.IFunction;
  /** Minutes the wait loop allows the instance to become available (one round a minute). */
  readonly maxWaitForInstanceMinutes: number;
  readonly logRetention?: logs.RetentionDays;
  readonly logEncryptionKey?: kms.IKey;
  /**
   * The Select step's event (a shared fleet workflow passes its whole input, the Select event).
   * @default - `databaseId` and `drill` of the execution input
   */
  readonly selectPayload?: sfn.TaskInput;

  /**
   * Where the restore-and-check step runs (the one step that needs the archive on disk and the
   * restore's time).
   * @default - the drill function, as every other step
   */
  readonly restoreRunner?: StepRunner;
}

/**
 * The drill state machine (`Resource` under `scope`). There is no execution timeout (it would end
 * the execution without running any Catch): tasks have timeouts and the wait loop a bounded number
 * of rounds instead.
 */
export function buildDrillStateMachine(scope: Construct, props: DrillStateMachineProps): sfn.StateMachine {
  const { databaseId, fn } = props;
  const stepTimeout = sfn.Timeout.duration(Duration.minutes(DRILL_STEP_TIMEOUT_MINUTES));
  const invoke = (
    name: DrillTaskName,
    payload: Record<string, unknown>,
    resultPath: string,
    override?: sfn.TaskInput,
  ) =>
    new tasks.LambdaInvoke(scope, `${name}Task`, {
      stateName: name,
      lambdaFunction: fn,
      payload: override ?? sfn.TaskInput.fromObject({ action: DRILL_ACTIONS[name], ...payload }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath,
      taskTimeout: stepTimeout,
    });

  const select = invoke(
    'Select',
    { 'databaseId.$': '$.databaseId', 'drill.$': '$.drill' },
    '$.state',
    props.selectPayload,
  );
  const provision = invoke('Provision', { 'state.$': '$.state' }, '$.state');
  const status = invoke('Status', { 'state.$': '$.state' }, '$.availability');
  // On Fargate for big databases (runner-step.ts): same event, same result, same Catch.
  const restoreAndCheck = runnerStep(scope, props.restoreRunner ?? { kind: 'lambda', fn }, {
    name: 'RestoreAndCheck',
    payload: { action: DRILL_ACTIONS.RestoreAndCheck, 'state.$': '$.state' },
    resultPath: '$.state',
    lambdaTimeout: Duration.minutes(DRILL_STEP_TIMEOUT_MINUTES),
  });
  const cleanup = invoke('Cleanup', { 'state.$': '$.state' }, '$.state');
  const report = invoke('Report', { 'state.$': '$.state' }, '$.report');

  // The failure path: delete whatever exists, write the FAILED report, fail the execution.
  const cleanupOnError = new tasks.LambdaInvoke(scope, 'CleanupOnErrorTask', {
    stateName: 'CleanupOnError',
    comment: 'Deletes the drill instance (if any), writes a FAILED report and emits DrillFailure',
    lambdaFunction: fn,
    payload: sfn.TaskInput.fromObject({
      action: DRILL_ACTIONS.Cleanup,
      'state.$': '$',
      'error.$': '$.error',
    }),
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    resultPath: '$.cleanup',
    taskTimeout: stepTimeout,
  });
  const drillFailed = new sfn.Fail(scope, 'DrillFailed', {
    stateName: 'DrillFailed',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  for (const task of [cleanup, cleanupOnError]) {
    // The instance may still be busy (e.g. backing up right after creation): keep trying for
    // ~30 minutes; after that the sweeper deletes it once it expires, and alarms.
    task.addRetry({
      errors: [DRILL_CLEANUP_ERROR],
      interval: Duration.minutes(1),
      maxAttempts: 6,
      backoffRate: 2,
      maxDelay: Duration.minutes(10),
    });
  }
  addLambdaRetries(cleanupOnError);
  // Even a cleanup that cannot run ends the execution as failed (the sweeper is the backstop).
  cleanupOnError.addCatch(drillFailed, { errors: [sfn.Errors.ALL], resultPath: '$.cleanupError' });
  cleanupOnError.next(drillFailed);

  for (const task of [select, provision, status, cleanup, report]) addLambdaRetries(task);
  for (const task of [select, provision, status, restoreAndCheck.task, cleanup, report]) {
    task.addCatch(cleanupOnError, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  }

  // The wait loop, bounded: count rounds (a minute each), give up (into cleanup) after the last.
  const maxRounds = Math.max(1, Math.ceil(props.maxWaitForInstanceMinutes));
  const startWaiting = new sfn.Pass(scope, 'StartWaiting', {
    stateName: 'StartWaiting',
    result: sfn.Result.fromObject({ rounds: 0 }),
    resultPath: '$.wait',
  });
  const wait = new sfn.Wait(scope, 'WaitForInstance', {
    stateName: 'WaitForInstance',
    time: sfn.WaitTime.duration(Duration.seconds(60)),
  });
  const countRound = new sfn.Pass(scope, 'CountRound', {
    stateName: 'CountRound',
    parameters: { 'rounds.$': 'States.MathAdd($.wait.rounds, 1)' },
    resultPath: '$.wait',
  });
  const notReady = new sfn.Pass(scope, 'InstanceNotReady', {
    stateName: 'InstanceNotReady',
    result: sfn.Result.fromObject({
      Error: 'DrillInstanceNotReady',
      Cause: `wait: the drill instance was not available after ${maxRounds} minutes`,
    }),
    resultPath: '$.error',
  });
  notReady.next(cleanupOnError);

  const passed = new sfn.Choice(scope, 'DidTheDrillPass', { stateName: 'DidTheDrillPass' })
    .when(
      sfn.Condition.stringEquals('$.report.status', 'PASSED'),
      new sfn.Succeed(scope, 'DrillPassed', { stateName: 'DrillPassed' }),
    )
    .otherwise(
      new sfn.Fail(scope, 'DrillReportedFailure', {
        stateName: 'DrillReportedFailure',
        error: 'DrillFailed',
        cause: 'The drill report says FAILED (checks, RTO or cleanup); see the report in drills/.',
      }),
    );

  const afterStatus = new sfn.Choice(scope, 'IsInstanceAvailable', { stateName: 'IsInstanceAvailable' })
    .when(
      sfn.Condition.stringEquals('$.availability.status', 'available'),
      restoreAndCheck.chain.next(cleanup).next(report).next(passed),
    )
    .when(sfn.Condition.numberGreaterThanEquals('$.wait.rounds', maxRounds), notReady)
    .otherwise(wait);

  const definition = select
    .next(provision)
    .next(startWaiting)
    .next(wait)
    .next(status)
    .next(countRound)
    .next(afterStatus);

  const logGroup = workflowLogGroup(scope, 'LogGroup', {
    name: `${databaseId}-drill`,
    retention: props.logRetention,
    encryptionKey: props.logEncryptionKey,
  });
  const stateMachine = new sfn.StateMachine(scope, 'Resource', {
    comment: `Restorable restore drill of ${databaseId}; the drill instance is deleted on every path`,
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    ...workflowObservability(logGroup),
    // No execution timeout: it would end the execution without running the Catch (cleanup).
  });
  suppressStateMachineRoleFindings(stateMachine);
  return stateMachine;
}
