/**
 * One schedule for a whole fleet: a Step Functions workflow that asks the discovery function which
 * databases to run, then starts the per-database workflow (backup or drill) for each, at most
 * `maxConcurrency` at a time, each after a random delay, so 300 databases never start at 02:00
 * against one NAT gateway, one Lambda concurrency quota or one RDS instance quota.
 *
 * One database never stops the others: a failed or unstartable run is caught and recorded, the
 * Map goes on, and only at the end does the execution fail (naming the databases), so the
 * orchestrator's own failure alarm pages once per night, while each run's workflow pages for its
 * database as it does today.
 *
 * With `targets` (one workflow per runner group, i.e. per network), each item is routed by its
 * execution input's `runnerGroup`, which is removed before the run starts.
 */
import { Duration, Token } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { RUNNER_GROUP_KEY } from '../fleet-plan';
import {
  FleetMetricNames,
  INLINE_MAP_MAX_CONCURRENCY,
  type FleetWorkload,
} from '../../lambda/core/fleet-settings';
import { DIMENSION_DATABASE, METRIC_NAMESPACE } from '../../lambda/core/metric-names';
import {
  addLambdaRetries,
  schedulerRole,
  suppressSchedulerRoleFindings,
  suppressStateMachineRoleFindings,
  workflowLogGroup,
  workflowObservability,
} from '../workflows';

export interface FleetOrchestratorProps {
  /** What each item runs: metric names, state names and descriptions follow it. */
  readonly workload: FleetWorkload;

  /**
   * The function that returns `{ items: FleetRunItem[], notFound: [{ id, reason }] }`
   * (lambda/core/fleet-settings.ts, lambda/handlers/discovery.ts): the listed and tag-selected
   * databases, each with its execution input and how long it may wait, and the databases the
   * execution input named (`databaseIds`) that have no item, with why; the execution's output
   * carries `notFound` on, so `restorable backup --stack` can say why nothing ran.
   */
  readonly discoveryFunction: lambda.IFunction;

  /**
   * The per-database workflow each item starts (`StartExecution.sync:2`); the only one it may start.
   * @default - give `targets`
   */
  readonly target?: sfn.IStateMachine;

  /**
   * One workflow per runner group, by group id: each item starts the one its execution input's
   * `runnerGroup` names (an unknown group is a failed run, not a failed fleet); the orchestrator may
   * start only these.
   * @default - give `target`
   */
  readonly targets?: Readonly<Record<string, sfn.IStateMachine>>;

  /**
   * The input the schedule starts the orchestrator with (the discovery function's event, e.g.
   * `{ excludeDatabaseIds: [...] }`).
   * @default {} - every listed and tag-selected database
   */
  readonly scheduleInput?: Readonly<Record<string, unknown>>;

  /**
   * Static fields of the discovery function's event (e.g. the listed databases, too many for a
   * Lambda environment's 4 KB); the execution input then arrives as the event's `filter`.
   * @default - the execution input is the event
   */
  readonly discoveryEvent?: Readonly<Record<string, unknown>>;

  /** When the fleet's runs start (UTC unless the expression says otherwise). */
  readonly schedule: scheduler.ScheduleExpression;

  /**
   * Runs at the same time (an Inline Map runs at most 40 iterations at once).
   * @default 10
   */
  readonly maxConcurrency?: number;

  /**
   * Each run first waits a random time from zero up to this.
   * @default Duration.minutes(30)
   */
  readonly startJitter?: Duration;

  /**
   * Longest a single run may take before the orchestrator stops waiting for it (the run's own
   * workflow bounds itself too).
   * @default Duration.hours(3)
   */
  readonly runTimeout?: Duration;

  /**
   * How long execution events are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Customer-managed key for the workflow's log group.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/** The state names tests and runbooks refer to. */
export const FleetStates = {
  discover: 'Discover',
  runs: 'Runs',
  startNow: 'StartNow',
  jitter: 'Jitter',
  recordQueue: 'RecordQueueTime',
  start: 'StartRun',
  succeeded: 'RunSucceeded',
  failed: 'RunFailed',
  route: 'RouteRun',
  whichGroup: 'WhichRunnerGroup',
  unknownGroup: 'UnknownRunnerGroup',
  summarize: 'Summarize',
  anyFailed: 'AnyRunFailed',
  fleetFailed: 'FleetRunsFailed',
  done: 'AllRunsSucceeded',
} as const;

/**
 * The fleet workflow: Discover → Map(maxConcurrency) { StartNow? or Jitter → RecordQueueTime →
 * StartRun } → Summarize (with discovery's notFound) → fail if any run failed. Started by one
 * schedule (and on demand by `restorable backup --stack` with `{ databaseIds: [id], ... }`).
 */
export class FleetOrchestrator extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly schedule: scheduler.Schedule;
  public readonly workload: FleetWorkload;
  private scheduleRole?: iam.Role;

  constructor(scope: Construct, id: string, props: FleetOrchestratorProps) {
    super(scope, id);
    validate(props);
    this.workload = props.workload;
    this.stateMachine = this.buildStateMachine(props);
    if (props.targets) {
      // StartExecution.sync:2 describes and stops the executions it started: `execution:<name>*`
      // of each target named here (a target known by name has no token to match).
      NagSuppressions.addResourceSuppressions(
        this.stateMachine,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              "The .sync integration describes and stops only the executions it started, of the runner groups' workflows " +
              'named in this orchestrator (execution ARNs carry the execution name after the state machine name).',
            appliesTo: [{ regex: '/^Resource::arn:.*:states:.*:execution:[A-Za-z0-9_-]+\\*$/' }],
          },
        ],
        true,
      );
    }
    this.schedule = this.addSchedule('Schedule', props.schedule, props.scheduleInput ?? {});
  }

  /**
   * Another schedule starting the orchestrator with `input` (the discovery function's event), e.g.
   * `{ databaseIds: [...] }` for listed databases whose schedule is not the fleet's. One schedule
   * per distinct expression, never one per database.
   */
  public addSchedule(
    id: string,
    schedule: scheduler.ScheduleExpression,
    input: Readonly<Record<string, unknown>>,
  ): scheduler.Schedule {
    const first = !this.scheduleRole;
    const role = (this.scheduleRole ??= schedulerRole(
      this,
      'ScheduleRole',
      `EventBridge Scheduler: start the fleet ${this.workload}s`,
    ));
    const created = new scheduler.Schedule(this, id, {
      description: `Restorable: start the fleet ${this.workload}s${id === 'Schedule' ? '' : ` (${id})`}`,
      schedule,
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject(input),
        maxEventAge: Duration.hours(1),
        retryAttempts: 10,
      }),
    });
    // Once the target has added the role's statement (suppressions attach to existing children).
    if (first) suppressSchedulerRoleFindings(role);
    return created;
  }

  /**
   * Minutes each run waited to start, per database (a gauge: `Maximum`).
   * @default - maximum over 5 minutes
   */
  public metricQueuedMinutes(databaseId: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.fleetMetric(FleetMetricNames[this.workload].queuedMinutes, databaseId, props);
  }

  /**
   * 1 when a run waited longer than it may (its RPO for a backup), per database.
   * @default - maximum over 5 minutes
   */
  public metricQueueOverdue(databaseId: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.fleetMetric(FleetMetricNames[this.workload].queueOverdue, databaseId, props);
  }

  /**
   * One alarm for the whole fleet on a Metrics Insights query grouped by database: each database
   * is its own contributor, so the alarm names the database that waited too long, and a database
   * that joins the fleet by tag is covered without a deploy.
   * Missing data is not breaching: the metric exists only on nights a run was started.
   * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/multi-time-series-alarm.html
   */
  public addQueueOverdueAlarm(id = 'QueueOverdueAlarm'): cloudwatch.Alarm {
    const metric = FleetMetricNames[this.workload].queueOverdue;
    return new cloudwatch.Alarm(this, id, {
      alarmDescription: `Restorable: a ${this.workload} run waited longer than it may before it started (fleet queue too long for its RPO)`,
      metric: new cloudwatch.MathExpression({
        expression: `SELECT MAX(${metric}) FROM SCHEMA("${METRIC_NAMESPACE}", ${DIMENSION_DATABASE}) GROUP BY ${DIMENSION_DATABASE}`,
        period: Duration.minutes(5),
        label: metric,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  private fleetMetric(metricName: string, databaseId: string, props?: cloudwatch.MetricOptions) {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      statistic: 'Maximum',
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { [DIMENSION_DATABASE]: databaseId },
    });
  }

  private buildStateMachine(props: FleetOrchestratorProps): sfn.StateMachine {
    const { workload } = props;
    const jitterSeconds = (props.startJitter ?? Duration.minutes(30)).toSeconds();
    const names = FleetMetricNames[workload];

    const discover = new tasks.LambdaInvoke(this, 'DiscoverTask', {
      stateName: FleetStates.discover,
      comment: 'Listed and tag-selected databases, each with its execution input and how long it may wait',
      lambdaFunction: props.discoveryFunction,
      payload: props.discoveryEvent && sfn.TaskInput.fromObject({ ...props.discoveryEvent, 'filter.$': '$' }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultSelector: { 'items.$': '$.items', 'notFound.$': '$.notFound' },
      resultPath: '$.discovery',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(5)),
    });
    addLambdaRetries(discover);

    // Each iteration sees its item and its own random delay: States.MathRandom draws it in the
    // ItemSelector, once per item, so the runs spread over [0, jitter).
    const runs = new sfn.Map(this, 'RunsMap', {
      stateName: FleetStates.runs,
      comment: `At most ${props.maxConcurrency ?? 10} ${workload} runs at a time`,
      itemsPath: '$.discovery.items',
      maxConcurrency: props.maxConcurrency ?? 10,
      itemSelector: {
        'item.$': '$$.Map.Item.Value',
        ...(jitterSeconds > 0 ? { 'jitterSeconds.$': `States.MathRandom(0, ${jitterSeconds})` } : {}),
      },
      resultPath: '$.runs',
    });

    // How long this run waited since the fleet started (queue + jitter), and whether that is
    // longer than it may wait. JSONata: JSONPath has no date arithmetic.
    const recordQueue = tasks.CallAwsService.jsonata(this, 'RecordQueueTimeTask', {
      stateName: FleetStates.recordQueue,
      comment: `${names.queuedMinutes} and ${names.queueOverdue} for this database`,
      service: 'cloudwatch',
      action: 'putMetricData',
      iamResources: ['*'],
      iamAction: 'cloudwatch:PutMetricData',
      parameters: {
        Namespace: METRIC_NAMESPACE,
        MetricData: [
          {
            MetricName: names.queuedMinutes,
            Dimensions: [{ Name: DIMENSION_DATABASE, Value: '{% $states.input.item.databaseId %}' }],
            Value: `{% ${QUEUED} %}`,
            Unit: 'None',
          },
          {
            MetricName: names.queueOverdue,
            Dimensions: [{ Name: DIMENSION_DATABASE, Value: '{% $states.input.item.databaseId %}' }],
            Value: `{% ${QUEUED} > $states.input.item.maxQueueMinutes ? 1 : 0 %}`,
            Unit: 'None',
          },
        ],
      },
      outputs: '{% $states.input %}',
    });

    const startRun = (id: string, stateName: string, target: sfn.IStateMachine) =>
      new tasks.StepFunctionsStartExecution(this, id, {
        stateName,
        comment: `The ${workload} workflow of one database; waits for it to finish`,
        stateMachine: target,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        // The item's execution input as is: the target's input contract lives with the target (its
        // zod schema), not here. (associateWithParent would need an object literal input.)
        input: sfn.TaskInput.fromJsonPathAt('$.item.execution'),
        resultPath: sfn.JsonPath.DISCARD,
        taskTimeout: sfn.Timeout.duration(props.runTimeout ?? Duration.hours(3)),
      });
    const succeeded = new sfn.Pass(this, 'RunSucceeded', {
      stateName: FleetStates.succeeded,
      parameters: { 'databaseId.$': '$.item.databaseId', status: 'SUCCEEDED' },
    });
    const failed = new sfn.Pass(this, 'RunFailed', {
      stateName: FleetStates.failed,
      comment: 'Recorded, not thrown: one database never stops the others',
      parameters: {
        'databaseId.$': '$.item.databaseId',
        status: 'FAILED',
        'error.$': '$.error.Error',
      },
    });
    let start: sfn.State;
    if (props.target) {
      const single = startRun('StartRunTask', FleetStates.start, props.target);
      single.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      single.next(succeeded);
      start = single;
    } else {
      start = this.routedStart(props.targets ?? {}, startRun, succeeded, failed);
    }
    // A metric that cannot be written must not cost the run.
    recordQueue.addCatch(start, { errors: [sfn.Errors.ALL], resultPath: sfn.JsonPath.DISCARD });

    // An on-demand run (the item's startNow, `restorable backup --stack`) skips the jitter: it
    // spreads a night's runs, and an operator waiting for one backup has nothing to spread.
    const firstOfItem =
      jitterSeconds > 0
        ? new sfn.Choice(this, 'StartNow', { stateName: FleetStates.startNow })
            .when(
              sfn.Condition.and(
                sfn.Condition.isPresent('$.item.startNow'),
                sfn.Condition.booleanEquals('$.item.startNow', true),
              ),
              recordQueue,
            )
            .otherwise(
              new sfn.Wait(this, 'Jitter', {
                stateName: FleetStates.jitter,
                time: sfn.WaitTime.secondsPath('$.jitterSeconds'),
              }).next(recordQueue),
            )
        : recordQueue;
    recordQueue.next(start);
    runs.itemProcessor(sfn.Chain.start(firstOfItem));

    const summarize = sfn.Pass.jsonata(this, 'Summarize', {
      stateName: FleetStates.summarize,
      outputs: {
        total: '{% $count($states.input.runs) %}',
        failed: '{% $count($states.input.runs[status = "FAILED"]) %}',
        failedDatabases: '{% $join($states.input.runs[status = "FAILED"].databaseId, ", ") & "" %}',
        // Not a failure of the fleet (a schedule names listed databases, which are always found):
        // the CLI that asked for one by name reports it.
        notFound: '{% $states.input.discovery.notFound %}',
      },
    });
    const fleetFailed = new sfn.Fail(this, 'FleetRunsFailed', {
      stateName: FleetStates.fleetFailed,
      error: `Fleet${workload === 'backup' ? 'Backup' : 'Drill'}RunsFailed`,
      causePath: '$.failedDatabases',
    });
    const anyFailed = new sfn.Choice(this, 'AnyRunFailed', { stateName: FleetStates.anyFailed })
      .when(sfn.Condition.numberGreaterThan('$.failed', 0), fleetFailed)
      .otherwise(new sfn.Succeed(this, 'AllRunsSucceeded', { stateName: FleetStates.done }));

    const logGroup = workflowLogGroup(this, 'LogGroup', {
      name: `fleet-${workload}`,
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    const stateMachine = new sfn.StateMachine(this, 'Resource', {
      comment: `Restorable fleet ${workload}s: discover, then at most ${props.maxConcurrency ?? 10} at a time, jittered`,
      definitionBody: sfn.DefinitionBody.fromChainable(discover.next(runs).next(summarize).next(anyFailed)),
      ...workflowObservability(logGroup),
    });
    suppressStateMachineRoleFindings(stateMachine);
    return stateMachine;
  }

  /**
   * RouteRun (JSONata: take `runnerGroup` out of the run's input) → WhichRunnerGroup (Choice) →
   * StartRun-<group>; an item naming no known group is a failed run.
   */
  private routedStart(
    byGroup: Readonly<Record<string, sfn.IStateMachine>>,
    startRun: (id: string, stateName: string, target: sfn.IStateMachine) => tasks.StepFunctionsStartExecution,
    succeeded: sfn.State,
    failed: sfn.Pass,
  ): sfn.State {
    const key = RUNNER_GROUP_KEY;
    const execution = '$states.input.item.execution';
    const route = sfn.Pass.jsonata(this, 'RouteRun', {
      stateName: FleetStates.route,
      comment: `Takes ${key} out of the run's input: the workflow's input schema is strict`,
      outputs: {
        item: `{% $merge([$states.input.item, {"execution": $sift(${execution}, function($v, $k) { $k != "${key}" })}]) %}`,
        [key]: `{% $exists(${execution}.${key}) ? ${execution}.${key} : "" %}`,
      },
    });
    const unknown = new sfn.Pass(this, 'UnknownRunnerGroup', {
      stateName: FleetStates.unknownGroup,
      comment: 'Recorded as a failed run: the item names no runner group this orchestrator knows',
      parameters: { 'databaseId.$': '$.item.databaseId', status: 'FAILED', error: 'UnknownRunnerGroup' },
    });
    const choice = new sfn.Choice(this, 'WhichRunnerGroup', { stateName: FleetStates.whichGroup });
    for (const [group, target] of Object.entries(byGroup)) {
      const task = startRun(`StartRun${group}Task`, `${FleetStates.start}-${group}`, target);
      task.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      task.next(succeeded);
      choice.when(sfn.Condition.stringEquals(`$.${key}`, group), task);
    }
    choice.otherwise(unknown);
    route.next(choice);

    return route;
  }
}

/** Minutes since the fleet execution started, as JSONata (the ISO start time is in the context). */
const QUEUED = '$round(($millis() - $toMillis($states.context.Execution.StartTime)) / 60000, 1)';

function validate(props: FleetOrchestratorProps): void {
  if ((props.target === undefined) === (props.targets === undefined)) {
    throw new Error('give exactly one of target and targets');
  }
  if (props.targets && Object.keys(props.targets).length === 0) {
    throw new Error('targets must name at least one runner group workflow');
  }
  for (const group of Object.keys(props.targets ?? {})) {
    if (!/^[A-Za-z0-9-]{1,40}$/.test(group)) {
      throw new Error(
        `targets: runner group "${group}" must be 1-40 letters, digits and hyphens (it names a state)`,
      );
    }
  }
  const max = props.maxConcurrency;
  if (
    max !== undefined &&
    !Token.isUnresolved(max) &&
    (!Number.isInteger(max) || max < 1 || max > INLINE_MAP_MAX_CONCURRENCY)
  ) {
    throw new Error(
      `maxConcurrency (${max}) must be an integer from 1 to ${INLINE_MAP_MAX_CONCURRENCY}: an Inline Map runs at most ${INLINE_MAP_MAX_CONCURRENCY} iterations at once`,
    );
  }
  const jitter = props.startJitter;
  if (jitter && !jitter.isUnresolved() && (jitter.toSeconds() < 0 || jitter.toSeconds() > 12 * 3600)) {
    throw new Error(`startJitter (${jitter.toHumanString()}) must be between 0 and 12 hours`);
  }
}
