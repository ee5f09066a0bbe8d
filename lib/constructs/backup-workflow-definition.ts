/**
 * The Dump → Verify state machine of a {@link BackupWorkflow}: its states, retries, the failure
 * path that pages on-call, and its log group. Built in the workflow's scope, so construct ids
 * (and the template's logical ids) are the workflow's own.
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { MetricNames } from '../../lambda/core/metric-names';
import { suppressStateMachineRoleFindings, workflowLogGroup, workflowObservability } from '../workflows';
import type { BackupWorkflowProps } from './backup-workflow';
import { recordUnreportedFailures, runnerStep, type RunnerStepProps, type StepRunner } from './runner-step';

/** The error the verify handler throws while the replica copy is still being replicated. */
export const REPLICATION_PENDING_ERROR = 'ReplicationPending';

/**
 * Where the states run each handler: the workflow's Lambda functions, or its Fargate tasks
 * (runner-step.ts says why those wait for a task token).
 */
export interface BackupWorkflowRunners {
  readonly dump: StepRunner;
  readonly verify: StepRunner;
}

/** What a shared (fleet) workflow changes: the database comes from the execution input. */
export interface BackupStateMachineOptions {
  /**
   * The dump's event (`WHOLE_INPUT`: the execution input as it is, for a shared fleet workflow).
   * @default - the six fields of a per-database execution input, by path
   */
  readonly dumpPayload?: RunnerStepProps['payload'];
  /**
   * Name the database of the page from the execution input (a shared workflow backs up many).
   * @default false - the page names `databaseId`
   */
  readonly databaseFromInput?: boolean;
}

/** Builds the state machine (`Resource` of `scope`) and lets it publish to the on-call topic. */
export function buildBackupStateMachine(
  scope: Construct,
  props: Pick<
    BackupWorkflowProps,
    'databaseId' | 'dumpTimeout' | 'alarmTopic' | 'logRetention' | 'logEncryptionKey'
  >,
  runners: BackupWorkflowRunners,
  options: BackupStateMachineOptions = {},
): sfn.StateMachine {
  const { databaseId } = props;
  const dumpTimeout = props.dumpTimeout ?? Duration.minutes(15);

  const dump = runnerStep(scope, runners.dump, {
    name: 'Dump',
    comment: 'pg_dump streamed to S3; the manifest is written last',
    payload: options.dumpPayload ?? {
      'databaseId.$': '$.databaseId',
      'secretArn.$': '$.secretArn',
      'schemas.$': '$.schemas',
      'sslMode.$': '$.sslMode',
      'tier.$': '$.tier',
      'reason.$': '$.reason',
    },
    resultPath: '$.dump',
    // The function's own deadline handling aborts the upload first; this only catches a lost invocation.
    lambdaTimeout: dumpTimeout.plus(Duration.minutes(2)),
  });
  const verify = runnerStep(scope, runners.verify, {
    name: 'Verify',
    comment: 'Checksum, size, table of contents and replica of the new backup',
    payload: {
      'databaseId.$': '$.databaseId',
      'manifestKey.$': '$.dump.manifestKey',
    },
    resultPath: '$.verify',
    lambdaTimeout: Duration.minutes(17),
  });

  const notify = new tasks.SnsPublish(scope, 'NotifyFailureTask', {
    stateName: 'NotifyFailure',
    topic: props.alarmTopic,
    subject: options.databaseFromInput
      ? sfn.JsonPath.format('Restorable: backup of {} failed', sfn.JsonPath.stringAt('$.databaseId'))
      : `Restorable: backup of ${databaseId} failed`,
    message: sfn.TaskInput.fromText(
      sfn.JsonPath.format(
        options.databaseFromInput
          ? `The backup of {} (fleet workflow ${databaseId}) failed in execution {}.\nError: {}\nCause: {}`
          : `The backup workflow of ${databaseId} failed in execution {}.\nError: {}\nCause: {}`,
        ...(options.databaseFromInput ? [sfn.JsonPath.stringAt('$.databaseId')] : []),
        sfn.JsonPath.executionId,
        sfn.JsonPath.stringAt('$.error.Error'),
        sfn.JsonPath.stringAt('$.error.Cause'),
      ),
    ),
    resultPath: sfn.JsonPath.DISCARD,
  });
  notify.addRetry({
    errors: [sfn.Errors.ALL],
    interval: Duration.seconds(5),
    maxAttempts: 3,
    backoffRate: 2,
  });
  const failed = new sfn.Fail(scope, 'BackupFailed', {
    stateName: 'BackupFailed',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  const onFailure = notify.next(failed);

  // Verify throws ReplicationPending while S3 still reports the replica copy PENDING. RTC
  // replicates within 15 minutes, so retrying for ~25 minutes covers it; past that it pages.
  verify.task.addRetry({
    errors: [REPLICATION_PENDING_ERROR],
    interval: Duration.minutes(1),
    maxAttempts: 7,
    backoffRate: 2,
    maxDelay: Duration.minutes(5),
  });
  // A Fargate task that never answered emitted no failure metric: record it, then page as usual.
  // A shared (fleet) workflow records it for the run's database, as its handler would have.
  const metricDatabase = options.databaseFromInput ? sfn.JsonPath.stringAt('$.databaseId') : databaseId;
  recordUnreportedFailures(scope, dump, runners.dump, {
    databaseId: metricDatabase,
    metric: MetricNames.backupFailure,
    next: onFailure,
  });
  recordUnreportedFailures(scope, verify, runners.verify, {
    databaseId: metricDatabase,
    metric: MetricNames.verifyFailure,
    next: onFailure,
  });
  for (const step of [dump, verify]) {
    step.task.addCatch(onFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  }

  const logGroup = workflowLogGroup(scope, 'LogGroup', {
    name: `${databaseId}-backup`,
    retention: props.logRetention,
    encryptionKey: props.logEncryptionKey,
  });
  const stateMachine = new sfn.StateMachine(scope, 'Resource', {
    comment: `Restorable backup of ${databaseId}: Dump -> Verify, failures page on-call`,
    definitionBody: sfn.DefinitionBody.fromChainable(
      dump.chain
        .next(verify.chain)
        .next(new sfn.Succeed(scope, 'BackupVerified', { stateName: 'BackupVerified' })),
    ),
    ...workflowObservability(logGroup),
    // No execution timeout: it would end the execution without running the Catch (no page).
    // Every task has its own timeout, so executions are bounded anyway.
  });
  props.alarmTopic.grantPublish(stateMachine);
  suppressStateMachineRoleFindings(stateMachine);
  return stateMachine;
}
