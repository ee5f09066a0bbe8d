/**
 * The RestoreDrill construct: one database's monthly restore drill — its props and their
 * validation, the drill function, the schedule and the drill metrics. The instances' network
 * (security groups, DB subnet group, parameter groups) is drill-instance-network.ts, shared with
 * the fleet's drill runners; the state machine is in restore-drill-workflow.ts, the drill role's
 * permissions in restore-drill-grants.ts; the settings are the drill's own
 * (lambda/core/drill-settings.ts).
 */
import { Duration, Size, TimeZone, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_MAX_LIFETIME_HOURS,
  DEFAULT_DRILL_MAX_WAIT_MINUTES,
  DEFAULT_DRILL_SCHEDULE,
  DEFAULT_DRILL_SELECTION,
  DEFAULT_DRILL_SOURCE,
  DEFAULT_RANDOM_WINDOW_DAYS,
  DEFAULT_RTO_TARGET_SECONDS,
  DRILL_STEP_TIMEOUT_MINUTES,
  drillInFlightMinutes,
  drillLifetimeProblems,
  drillSettingsProblems,
  type DrillSelection,
  type DrillSettingsInput,
  type DrillSourceKind,
  type OperatorCheck,
} from '../../lambda/core/drill-settings';
import type { HandlerEnvInput } from '../../lambda/core/handler-env';
import { DEFAULT_FARGATE_SIZE, fargateJobs } from '../../lambda/core/runner-settings';
import { MetricNames } from '../../lambda/core/metric-names';
import { assertDatabaseId } from '../../lambda/core/tiers';
import { restorableMetric } from '../metrics';
import { schedulerRole, suppressSchedulerRoleFindings } from '../workflows';
import type { IBackupBucket } from './backup-bucket';
import { buildDrillStateMachine } from './restore-drill-workflow';
import {
  DEFAULT_FARGATE_DEADLINE,
  FargateRunner,
  TASK_START_ALLOWANCE,
  type FargateWorkflowOptions,
} from './fargate-runner';
import type { StepRunner } from './runner-step';
import type { DrillParameterGroups } from './drill-parameter-groups';
import { DrillInstanceNetwork } from './drill-instance-network';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

export { POSTGRES_PORT } from './drill-instance-network';

export { DEFAULT_DRILL_SCHEDULE };
export { DRILL_CLEANUP_ERROR } from '../../lambda/core/drill-workflow';

/**
 * An operator SQL check run read-only against the restored database: `name`, one `sql` statement,
 * `expect` (`{ rows: n }`, `{ equals: value }` or `{ min: n }`) and an optional `timeoutSeconds`
 * (default 30). The drill's own schema (`lambda/core/drill-settings.ts`), so the construct accepts
 * exactly what the drill runs.
 */
export type DrillCheck = Readonly<OperatorCheck>;

export interface RestoreDrillProps extends RunnerCommonProps {
  /** The database id from the config. */
  readonly databaseId: string;

  /** The primary backup bucket: drill reports go to `drills/<databaseId>/` there. */
  readonly bucket: IBackupBucket;

  /** The replica bucket, imported with its region (`BackupBucket.fromBucketAttributes({ region })`). */
  readonly replicaBucket: IBackupBucket;

  /** The VPC the ephemeral instance and the drill function live in. */
  readonly vpc: ec2.IVpc;

  /**
   * Private subnets for the drill function and the instance's DB subnet group (two AZs at least).
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * When drills run.
   * @default - the last Friday of every month at 03:00 UTC, `cron(0 3 ? * 6L *)`
   */
  readonly schedule?: scheduler.ScheduleExpression;

  /**
   * Run drills on the schedule.
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * Restore from the replica bucket (proves the cross-region copy and key) or the primary one.
   * @default 'replica'
   */
  readonly source?: DrillSourceKind;

  /**
   * Which verified backup to restore: the newest, or a random one within `randomWindow`.
   * @default 'latest'
   */
  readonly selection?: DrillSelection;

  /**
   * With `selection: 'random'`, how far back to pick from.
   * @default Duration.days(30)
   */
  readonly randomWindow?: Duration;

  /**
   * Drill start to verified data; a slower drill fails.
   * @default Duration.hours(1)
   */
  readonly rtoTarget?: Duration;

  /**
   * Instance class of the ephemeral database (the drill role may create no other).
   * @default 'db.t4g.medium'
   */
  readonly instanceClass?: string;

  /**
   * Parameters of the drill instances' parameter groups (DrillParameterGroups `parameters`), e.g.
   * `shared_preload_libraries`.
   * @default - only max_locks_per_transaction raised and rds.force_ssl on
   */
  readonly parameters?: Readonly<Record<string, string | number>>;

  /**
   * Operator SQL checks run after the restore (names unique).
   * @default - row counts, catalog counts and RLS only
   */
  readonly checks?: readonly DrillCheck[];

  /**
   * How long the workflow waits for the instance to become available before giving up (and
   * deleting it).
   * @default Duration.minutes(60)
   */
  readonly maxWaitForInstance?: Duration;

  /**
   * Lifetime written to the instance's `restorable:expires-at` tag: the sweeper deletes it after.
   * A whole number of hours, longer than a drill may still need the instance (the select,
   * provision and restore-and-check steps plus `maxWaitForInstance`).
   * @default Duration.hours(6) - far beyond a drill's few steps, short enough to bound the cost of a
   * leak (DEFAULT_DRILL_MAX_LIFETIME_HOURS of the drill settings)
   */
  readonly maxInstanceLifetime?: Duration;

  /**
   * Restore into this PostgreSQL major instead of the backup's own: proves an upgrade's restore
   * path before the upgrade.
   * @default - the backup's source major
   */
  readonly targetMajor?: number;

  /**
   * Let a drill create its instance in a major that is in RDS Extended Support on the drill date
   * (billed on top of the instance).
   * @default false - such a drill is refused, and every drill instance has Extended Support disabled
   */
  readonly allowExtendedSupport?: boolean;

  /**
   * Local disk of the drill function: `pg_restore -j` needs the archive as a file.
   * @default Size.gibibytes(10) - the Lambda maximum
   */
  readonly ephemeralStorageSize?: Size;

  /**
   * Run the restore-and-check step as a Fargate task (the config's `runner: fargate`): the archive
   * on the task's storage (up to 200 GiB), `pg_restore -j jobs`, up to `timeout`. The other steps
   * (select, provision, wait, cleanup, report) stay on the drill function: they take seconds.
   * @default - every step on the drill function
   */
  readonly fargate?: FargateWorkflowOptions;
}

/**
 * The monthly restore drill of one database: a schedule starts a Step Functions workflow that
 * selects a verified backup, creates an ephemeral RDS instance, waits for it, restores and checks,
 * deletes the instance and writes the report.
 *
 * **The instance is always deleted.** Every task catches every error (`States.ALL`, timeouts
 * included) into `CleanupOnError`, which deletes whatever was created, writes a FAILED report and
 * emits `DrillFailure`; the success path runs `Cleanup` before `Report`. There is no execution
 * timeout (it would end the execution without running any Catch): tasks have timeouts and the
 * wait loop a bounded number of rounds instead. A crash that escapes all of that leaves an
 * instance tagged with its expiry for the `DrillSweeper`.
 *
 * The drill role may create only encrypted, single-AZ PostgreSQL instances of the configured class
 * named `restorable-drill-*` and tagged `restorable:drill=true` with an expiry, and delete only
 * instances carrying that tag.
 */
export class RestoreDrill extends Construct {
  /** The drill state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** The drill function (every step). */
  public readonly drillFunction: RunnerFunction;
  /** The monthly schedule. */
  public readonly schedule: scheduler.Schedule;
  /** The drill instances' network: security groups, DB subnet group, parameter groups. */
  public readonly network: DrillInstanceNetwork;
  /** DB subnet group of drill instances. */
  public readonly subnetGroup: rds.SubnetGroup;
  /** DB parameter groups of drill instances, one per major (max_locks_per_transaction raised). */
  public readonly parameterGroups: DrillParameterGroups;
  /** Security group of the drill function. */
  public readonly functionSecurityGroup: ec2.SecurityGroup;
  /** Security group of drill instances: PostgreSQL from the drill function only. */
  public readonly instanceSecurityGroup: ec2.SecurityGroup;
  /** The database this drill restores. */
  public readonly databaseId: string;
  /** Drill start to verified data: a slower drill fails (and the RTO alarm pages). */
  public readonly rtoTarget: Duration;
  /** The restore-and-check task, with `fargate`. */
  public readonly fargateRunner?: FargateRunner;

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    validate(props);
    const { databaseId } = props;
    this.databaseId = databaseId;
    this.rtoTarget = props.rtoTarget ?? Duration.seconds(DEFAULT_RTO_TARGET_SECONDS);
    const source = props.source ?? DEFAULT_DRILL_SOURCE;
    const instanceClass = props.instanceClass ?? DEFAULT_DRILL_INSTANCE_CLASS;

    this.network = new DrillInstanceNetwork(this, {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      databaseId,
      description: { kind: 'Restorable drill', of: databaseId },
      parameters: props.parameters,
    });
    this.functionSecurityGroup = this.network.functionSecurityGroup;
    this.instanceSecurityGroup = this.network.instanceSecurityGroup;
    this.subnetGroup = this.network.subnetGroup;
    this.parameterGroups = this.network.parameterGroups;

    const maxInstanceLifetime = props.maxInstanceLifetime ?? fargateInstanceLifetime(props);
    const drillEnvironment = {
      BACKUP_BUCKET: props.bucket.bucket.bucketName,
      REPLICA_BUCKET: props.replicaBucket.bucket.bucketName,
      REPLICA_REGION: props.replicaBucket.bucket.env.region,
      ...this.network.environment,
      DRILL_INSTANCE_CLASS: instanceClass,
      DRILL_MAX_LIFETIME_HOURS: maxInstanceLifetime?.toHours(),
    } satisfies HandlerEnvInput<'drill'>;
    const grantProps = {
      sourceBucket: source === 'replica' ? props.replicaBucket : props.bucket,
      reportBucket: props.bucket,
      instanceClass,
    };

    this.drillFunction = new RunnerFunction(this, 'Function', {
      handler: 'drill',
      description: `Restorable: restore drill of ${databaseId}`,
      image: props.image,
      ...this.network.clientPlacement,
      ephemeralStorageSize: props.ephemeralStorageSize ?? Size.gibibytes(10),
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
      // An unset lifetime leaves DRILL_MAX_LIFETIME_HOURS unset: the default is DrillEnvSchema's.
      environment: drillEnvironment,
    });
    this.network.grantDrill(this.drillFunction.role, grantProps);

    let restoreRunner: StepRunner | undefined;
    if (props.fargate) {
      // The task is a drill client like the function: the same security group (PostgreSQL to drill
      // instances, HTTPS to AWS APIs), the same subnets, the same grants.
      const runner = new FargateRunner(this, 'Fargate', {
        ...this.network.clientPlacement,
        image: props.image,
        size: props.fargate.size,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
      });
      runner.addTask({
        handler: 'drill',
        environment: drillEnvironment,
        grant: (role) => this.network.grantDrill(role, grantProps),
      });
      this.fargateRunner = runner;
      restoreRunner = {
        kind: 'fargate',
        runner,
        handler: 'drill',
        deadline: props.fargate.timeout ?? DEFAULT_FARGATE_DEADLINE,
      };
    }

    this.stateMachine = buildDrillStateMachine(this, {
      databaseId,
      fn: this.drillFunction.function,
      maxWaitForInstanceMinutes:
        props.maxWaitForInstance?.toMinutes({ integral: false }) ?? DEFAULT_DRILL_MAX_WAIT_MINUTES,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      restoreRunner,
    });
    if (this.fargateRunner) {
      this.fargateRunner.grantTaskResponse('drill', this.stateMachine);
      FargateRunner.suppressStateMachineFindings(this.stateMachine);
    }
    this.schedule = this.buildSchedule(props, source, instanceClass);
  }

  /** `DrillSuccess` for this database. @default - sum over 5 minutes */
  public metricDrillSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillSuccess, { ...props, databaseId: this.databaseId });
  }

  /** `DrillFailure` for this database. @default - sum over 5 minutes */
  public metricDrillFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillFailure, { ...props, databaseId: this.databaseId });
  }

  /** `DrillRtoSeconds` for this database. @default - maximum over 5 minutes (a gauge) */
  public metricDrillRtoSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillRtoSeconds, { ...props, databaseId: this.databaseId });
  }

  /** `DrillRestoreSeconds` for this database. @default - maximum over 5 minutes (a gauge) */
  public metricDrillRestoreSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillRestoreSeconds, { ...props, databaseId: this.databaseId });
  }

  /** `DrillMismatches` (failed checks of a drill) for this database. @default - maximum over 5 minutes (a gauge) */
  public metricDrillMismatches(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillMismatches, { ...props, databaseId: this.databaseId });
  }

  /**
   * `DrillAgeDays` (from the freshness check): days since this database's newest passing drill.
   * @default - maximum over 5 minutes (a gauge)
   */
  public metricDrillAgeDays(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillAgeDays, { ...props, databaseId: this.databaseId });
  }

  /** Failed drill executions (including those that never reached the report). @default - sum over 5 minutes */
  public metricExecutionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Lets `grantee` start a drill now (the operator CLI's `restorable drill`). */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  private buildSchedule(
    props: RestoreDrillProps,
    source: DrillSourceKind,
    instanceClass: string,
  ): scheduler.Schedule {
    const role = schedulerRole(
      this,
      'ScheduleRole',
      `EventBridge Scheduler: start the restore drill of ${props.databaseId}`,
    );
    const schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Restorable: restore drill of ${props.databaseId}`,
      schedule:
        props.schedule ?? scheduler.ScheduleExpression.expression(DEFAULT_DRILL_SCHEDULE, TimeZone.ETC_UTC),
      enabled: props.enabled ?? true,
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject({
          databaseId: props.databaseId,
          // The drill settings the handler's `select` step reads (no secrets: SQL checks only).
          drill: drillSettingsInput(props, source, instanceClass),
        }),
        maxEventAge: Duration.hours(6),
        retryAttempts: 10,
      }),
    });
    suppressSchedulerRoleFindings(role);
    return schedule;
  }
}

/** The workflow input's `drill`: the drill's own settings schema, so the handler accepts it as is. */
export function drillSettingsInput(
  props: Pick<
    RestoreDrillProps,
    'selection' | 'randomWindow' | 'rtoTarget' | 'checks' | 'targetMajor' | 'allowExtendedSupport' | 'fargate'
  >,
  source: DrillSourceKind,
  instanceClass: string,
): DrillSettingsInput {
  return {
    selection: props.selection ?? DEFAULT_DRILL_SELECTION,
    randomWindowDays: props.randomWindow?.toDays() ?? DEFAULT_RANDOM_WINDOW_DAYS,
    source,
    instanceClass,
    rtoTargetSeconds: props.rtoTarget?.toSeconds() ?? DEFAULT_RTO_TARGET_SECONDS,
    checks: [...(props.checks ?? [])],
    ...(props.targetMajor !== undefined ? { targetMajor: props.targetMajor } : {}),
    ...(props.allowExtendedSupport ? { allowExtendedSupport: true } : {}),
    // pg_restore -j on the Fargate task: the configured jobs, else one per vCPU.
    ...(props.fargate
      ? { jobs: props.fargate.jobs ?? fargateJobs({ cpu: (props.fargate.size ?? DEFAULT_FARGATE_SIZE).cpu }) }
      : {}),
  } satisfies DrillSettingsInput;
}

/**
 * With a Fargate restore the instance must outlive the longest restore: the sweeper deletes it at
 * its expiry. The default lifetime grows to the restore's deadline plus the drill's other steps
 * and the wait for the instance (whole hours, at least the default six). A fleet Fargate drill
 * group sets it from its longest timeout the same way.
 */
export function fargateInstanceLifetime(
  props: Pick<RestoreDrillProps, 'fargate' | 'maxWaitForInstance'>,
): Duration | undefined {
  if (!props.fargate) return undefined;
  return Duration.hours(
    Math.max(DEFAULT_DRILL_MAX_LIFETIME_HOURS, Math.ceil(fargateInFlightMinutes(props) / 60) + 1),
  );
}

/** The longest a drill with a Fargate restore may still need its instance, in minutes. */
function fargateInFlightMinutes(props: Pick<RestoreDrillProps, 'fargate' | 'maxWaitForInstance'>): number {
  const deadline = props.fargate?.timeout ?? DEFAULT_FARGATE_DEADLINE;
  const wait = props.maxWaitForInstance?.toMinutes({ integral: false }) ?? DEFAULT_DRILL_MAX_WAIT_MINUTES;
  // Select and provision on the function, the wait, then the task: its deadline and its start.
  return (
    drillInFlightMinutes(wait) -
    DRILL_STEP_TIMEOUT_MINUTES +
    deadline.toMinutes({ integral: false }) +
    TASK_START_ALLOWANCE.toMinutes()
  );
}

function validate(props: RestoreDrillProps): void {
  if (!Token.isUnresolved(props.databaseId)) assertDatabaseId(props.databaseId);
  // The settings the drill will run with are checked here with the drill's own schema, so a bad
  // check or class fails the synth instead of next month's drill. A token (an instance class from
  // a parameter, say) is left to the drill.
  const instanceClass = props.instanceClass ?? DEFAULT_DRILL_INSTANCE_CLASS;
  const input = drillSettingsInput(props, props.source ?? DEFAULT_DRILL_SOURCE, instanceClass);
  const problems = drillSettingsProblems(
    Token.isUnresolved(instanceClass) ? { ...input, instanceClass: undefined } : input,
  );
  if (problems.length > 0) {
    throw new Error(`invalid drill settings for "${props.databaseId}": ${problems.join('; ')}`);
  }
  // The wait and the lifetime are checked together by the drill's own rule: an instance that
  // expires while a drill may still restore into it would be deleted mid-drill by the sweeper.
  const wait = props.maxWaitForInstance;
  const lifetime = props.maxInstanceLifetime;
  const timing = drillLifetimeProblems({
    maxWaitForInstanceMinutes: wait && !wait.isUnresolved() ? wait.toMinutes({ integral: false }) : undefined,
    maxInstanceLifetimeHours:
      lifetime && !lifetime.isUnresolved() ? lifetime.toHours({ integral: false }) : undefined,
  }).map(({ field, message }) =>
    field === 'maxWaitForInstanceMinutes'
      ? `maxWaitForInstance (${wait?.toHumanString()}) ${message}`
      : `maxInstanceLifetime (${lifetime?.toHumanString() ?? `${DEFAULT_DRILL_MAX_LIFETIME_HOURS} hours`}) ${message}`,
  );
  if (timing.length > 0) {
    throw new Error(`invalid drill timing for "${props.databaseId}": ${timing.join('; ')}`);
  }
  if (props.fargate && lifetime && !lifetime.isUnresolved() && !props.fargate.timeout?.isUnresolved()) {
    const needed = fargateInFlightMinutes(props);
    if (lifetime.toMinutes({ integral: false }) <= needed) {
      throw new Error(
        `invalid drill timing for "${props.databaseId}": maxInstanceLifetime (${lifetime.toHumanString()}) must be longer than ` +
          `a drill with a Fargate restore may need its instance (${Math.ceil(needed / 60)} hours: the restore's timeout ` +
          `${(props.fargate.timeout ?? DEFAULT_FARGATE_DEADLINE).toHumanString()} plus the other steps), or the sweeper deletes it mid-restore`,
      );
    }
  }
}
