/**
 * The BackupWorkflow construct: one database's scheduled Dump → Verify workflow, its two
 * functions (environments typed by lambda/core/handler-env.ts), their grants, its schedule and its
 * metrics. The state machine's states live in backup-workflow-definition.ts.
 */
import { Duration, TimeZone, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  DEFAULT_BACKUP_SCHEDULE,
  DEFAULT_SSL_MODE,
  LockWaitTimeoutSecondsSchema,
  type SslMode,
} from '../../lambda/core/backup-settings';
import type { CompressionChoice } from '../../lambda/core/compression-settings';
import { MetricNames } from '../../lambda/core/metric-names';
import type { DatabasePreset } from '../../lambda/core/presets';
import type { HandlerEnvInput, ObjectLockMode as CoreObjectLockMode } from '../../lambda/core/handler-env';
import { DEFAULT_FARGATE_SIZE, fargateJobs } from '../../lambda/core/runner-settings';
import { assertDatabaseId } from '../../lambda/core/tiers';
import { restorableMetric } from '../metrics';
import { schedulerRole, suppressSchedulerRoleFindings } from '../workflows';
import type { IBackupBucket } from './backup-bucket';
import { grantReadDatabaseSecret } from './database-secret-grants';
import { buildBackupStateMachine, type BackupWorkflowRunners } from './backup-workflow-definition';
import { DEFAULT_FARGATE_DEADLINE, FargateRunner, type FargateWorkflowOptions } from './fargate-runner';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/** libpq `sslmode`s the runner accepts (`allow`/`prefer` silently fall back to plaintext). */
export type { SslMode };

/** Object Lock mode the dump sets on each object it writes (NONE is for the local demo only). */
export type ObjectLockMode = Exclude<CoreObjectLockMode, 'NONE'>;

/** Which schemas to dump (exact names, as `pg_dump -n` / `-N`). */
export interface SchemaSelection {
  /**
   * Dump only these schemas.
   * @default - every non-system schema
   */
  readonly include?: string[];
  /**
   * Leave these schemas out.
   * @default - none left out
   */
  readonly exclude?: string[];
}

/** Where the runner reaches a private database from. */
export interface RunnerPlacement {
  readonly vpc: ec2.IVpc;
  /**
   * @default - the VPC's private subnets
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Security groups the database accepts the runner from.
   * @default - a new security group allowing all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
}

export interface BackupWorkflowProps extends RunnerCommonProps {
  /** The database id from the config: the `<tier>/<id>/` key prefixes and the metric dimension. */
  readonly databaseId: string;

  /** The database's connection secret (standard RDS shape); only its ARN travels, never its value. */
  readonly secret: secretsmanager.ISecret;

  /**
   * The customer managed key the secret is encrypted with: the dump may decrypt with it through
   * Secrets Manager, for this secret only.
   * @default - the secret uses the AWS managed key `aws/secretsmanager`, which needs no grant
   */
  readonly secretKey?: kms.IKey;

  /**
   * The primary backup bucket, with its key known (the dump names it by ARN, which the bucket
   * policy compares). Its tiers' expiries are each object's Object Lock retain-until.
   */
  readonly bucket: IBackupBucket;

  /** The replica bucket, imported with its region (`BackupBucket.fromBucketAttributes({ region })`). */
  readonly replicaBucket: IBackupBucket;

  /** The on-call topic the failure path publishes to. */
  readonly alarmTopic: sns.ITopic;

  /**
   * When backups run. Cron expressions are evaluated in UTC unless the expression says otherwise.
   * @default - daily at 02:00 UTC, `cron(0 2 * * ? *)`
   */
  readonly schedule?: scheduler.ScheduleExpression;

  /**
   * Which schemas to dump.
   * @default - every non-system schema
   */
  readonly schemas?: SchemaSelection;

  /**
   * TLS mode for the connection to the database.
   * @default 'verify-full' - certificate and host name checked against the RDS CA bundle
   */
  readonly sslMode?: SslMode;

  /**
   * How the dump compresses the archive.
   * @default - zstd level 3 over `pg_dump -Z0`, on every core of the runner (COMPRESSION of the dump handler's environment)
   */
  readonly compression?: CompressionChoice;

  /**
   * Object Lock mode of each object.
   * @default 'GOVERNANCE' - DEFAULT_OBJECT_LOCK_MODE of the dump handler's environment
   */
  readonly objectLockMode?: ObjectLockMode;

  /**
   * Run the dump inside this VPC (to reach a private database). Verify always runs outside any
   * VPC: it calls only S3 (both regions) and KMS.
   * @default - outside any VPC: for databases reachable over the internet (e.g. Supabase's pooler)
   */
  readonly placement?: RunnerPlacement;

  /**
   * Longest a dump may run (the Lambda maximum is 15 minutes; bigger databases need the Fargate runner).
   * @default Duration.minutes(15)
   */
  readonly dumpTimeout?: Duration;

  /**
   * Memory of the dump function in MB.
   * @default 2048
   */
  readonly dumpMemorySize?: number;

  /**
   * How long pg_dump waits for a table lock before the backup gives way with LOCK_TIMEOUT (a
   * migration or long transaction holds the lock): whole seconds, 1 to 899.
   * @default Duration.seconds(60) - DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS of the backup settings
   */
  readonly lockWaitTimeout?: Duration;

  /**
   * The platform the database runs on (`lambda/core/presets.ts`): `supabase` leaves the
   * platform's own schemas out of the dump and keeps `auth` and `storage`, and the manifest
   * records it for the restore and the drill.
   * @default - no preset: every non-system schema, as `schemas` says
   */
  readonly preset?: DatabasePreset;

  /**
   * Dump from this read replica (`lambda/core/dump-replica.ts`): its host and port with the
   * database's credentials, or its own secret (read access is granted to the dump function).
   * @default - dump from the database itself
   */
  readonly dumpFrom?: {
    readonly host?: string;
    readonly port?: number;
    readonly secret?: secretsmanager.ISecret;
  };

  /**
   * Run the dump and the verify as Fargate tasks in `placement` (the config's `runner: fargate`),
   * for databases past Lambda's 15 minutes: the same image, handler code, grants, states and
   * failure path; no Lambda functions are created.
   * @default - Lambda functions (`dumpFunction`, `verifyFunction`)
   */
  readonly fargate?: FargateWorkflowOptions;
}

export { REPLICATION_PENDING_ERROR } from './backup-workflow-definition';

export { DEFAULT_BACKUP_SCHEDULE };

/**
 * The backup of one database: an EventBridge Scheduler schedule starts a Step Functions workflow
 * **Dump → Verify**; any failure publishes to the on-call topic and fails the execution.
 *
 * Functions are per database, each with reserved concurrency 1: two overlapping runs of one
 * database (a slow dump and the next schedule, or an operator's manual run) can never dump at the
 * same time; the second waits (throttling retries) instead. Unique backup ids already prevent
 * overwrites; the concurrency limit also spares the database two dumps at once.
 *
 * Least privilege: the dump may only write under `<tier>/<databaseId>/`, may set per-object
 * retention but never bypass it, and has no delete permission at all; verify reads, and writes
 * only its verification records (`<tier>/<databaseId>/*.verify-*.json`).
 */
export class BackupWorkflow extends Construct {
  /** The Dump → Verify state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** The dump function (reserved concurrency 1); none with `fargate`. */
  public readonly dumpFunction?: RunnerFunction;
  /** The verify function (reserved concurrency 1); none with `fargate`. */
  public readonly verifyFunction?: RunnerFunction;
  /** The Fargate tasks of the dump and the verify, with `fargate`. */
  public readonly fargateRunner?: FargateRunner;
  /** The schedule that starts the workflow. */
  public readonly schedule: scheduler.Schedule;
  /** The database this workflow backs up. */
  public readonly databaseId: string;

  constructor(scope: Construct, id: string, props: BackupWorkflowProps) {
    super(scope, id);
    const key = validate(props);
    const { databaseId } = props;
    const bucket = props.bucket.bucket;
    const replicaBucket = props.replicaBucket.bucket;
    this.databaseId = databaseId;
    // From the bucket itself, so an object's retain-until cannot drift from its tier's expiry
    // (on-demand backups under adhoc/ included).
    const retentionDays = {
      ...props.bucket.retention.toRetentionDays(),
      adhoc: props.bucket.adhocExpiration.toDays(),
    };

    // Unset props leave their variable unset: the defaults are DumpEnvSchema's.
    const dumpEnvironment = {
      BACKUP_BUCKET: bucket.bucketName,
      // A key ARN, not an alias: the bucket policy compares the SSE-KMS key id as a string.
      BACKUP_KMS_KEY_ARN: key.keyArn,
      OBJECT_LOCK_MODE: props.objectLockMode,
      RETENTION_DAYS: retentionDays,
      COMPRESSION: props.compression,
      LOCK_WAIT_TIMEOUT_SECONDS: props.lockWaitTimeout?.toSeconds(),
      DATABASE_PRESET: props.preset,
      DUMP_FROM: props.dumpFrom && {
        ...(props.dumpFrom.host !== undefined ? { host: props.dumpFrom.host } : {}),
        ...(props.dumpFrom.port !== undefined ? { port: props.dumpFrom.port } : {}),
        ...(props.dumpFrom.secret ? { secretArn: props.dumpFrom.secret.secretArn } : {}),
      },
    } satisfies HandlerEnvInput<'dump'>;
    const verifyEnvironment = {
      BACKUP_BUCKET: bucket.bucketName,
      REPLICA_BUCKET: replicaBucket.bucketName,
      REPLICA_REGION: replicaBucket.env.region,
      // Verification records are locked as the backups they describe.
      OBJECT_LOCK_MODE: props.objectLockMode,
    } satisfies HandlerEnvInput<'verify'>;
    // The grants, applied to whichever role runs the work (function or task): one place for both.
    // Dump: write (and read its own manifests) under its tier prefixes, read its secret. No delete,
    // no BypassGovernanceRetention, nothing outside its prefixes.
    const grantDump = (role: iam.IGrantable) => {
      props.bucket.grants.writeBackups(role, databaseId);
      grantReadDatabaseSecret(role, props.secret, props.secretKey);
      props.dumpFrom?.secret?.grantRead(role);
    };
    // Verify: read its database's backups in both buckets, and leave a verification record next to
    // each (evidence for the report); nothing else.
    const grantVerify = (role: iam.IGrantable) => {
      props.bucket.grants.readBackups(role, databaseId);
      props.bucket.grants.writeVerificationRecords(role, databaseId);
      props.replicaBucket.grants.readBackups(role, databaseId);
    };

    let runners: BackupWorkflowRunners;
    if (props.fargate) {
      const fargate = props.fargate;
      const placement = props.placement!; // validate() requires it
      const runner = new FargateRunner(this, 'Fargate', {
        vpc: placement.vpc,
        vpcSubnets: placement.subnets,
        securityGroups: placement.securityGroups,
        image: props.image,
        size: fargate.size,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
      });
      this.fargateRunner = runner;
      runner.addTask({
        handler: 'dump',
        environment: {
          ...dumpEnvironment,
          RUNNER: 'fargate',
          DUMP_LAYOUT: fargate.layout,
          DUMP_JOBS: fargate.jobs ?? fargateJobs({ cpu: (fargate.size ?? DEFAULT_FARGATE_SIZE).cpu }),
        },
        grant: grantDump,
      });
      runner.addTask({ handler: 'verify', environment: verifyEnvironment, grant: grantVerify });
      const deadline = fargate.timeout ?? DEFAULT_FARGATE_DEADLINE;
      runners = {
        dump: { kind: 'fargate', runner, handler: 'dump', deadline },
        verify: { kind: 'fargate', runner, handler: 'verify', deadline },
      };
    } else {
      const common = {
        image: props.image,
        logEncryptionKey: props.logEncryptionKey,
        logRetention: props.logRetention,
      };
      // Only the dump reaches the database, so only the dump runs in its VPC. Verify calls S3 in
      // both regions and KMS, nothing else: outside a VPC it needs no NAT or endpoints (a gateway
      // endpoint cannot serve the replica region at all), and a VPC would isolate nothing it reaches.
      const dumpFunction = new RunnerFunction(this, 'Dump', {
        ...common,
        vpc: props.placement?.vpc,
        vpcSubnets: props.placement?.subnets,
        securityGroups: props.placement?.securityGroups,
        handler: 'dump',
        description: `Restorable: dump ${databaseId} to S3`,
        timeout: props.dumpTimeout,
        memorySize: props.dumpMemorySize,
        environment: dumpEnvironment,
      });
      const verifyFunction = new RunnerFunction(this, 'Verify', {
        ...common,
        handler: 'verify',
        description: `Restorable: verify ${databaseId} backups`,
        environment: verifyEnvironment,
      });
      grantDump(dumpFunction.role);
      grantVerify(verifyFunction.role);
      this.dumpFunction = dumpFunction;
      this.verifyFunction = verifyFunction;
      runners = {
        dump: { kind: 'lambda', fn: dumpFunction.function },
        verify: { kind: 'lambda', fn: verifyFunction.function },
      };
    }

    this.stateMachine = buildBackupStateMachine(this, props, runners);
    if (this.fargateRunner) {
      // The tasks answer their own task tokens (runner-step.ts), on this state machine only.
      this.fargateRunner.grantTaskResponse('dump', this.stateMachine);
      this.fargateRunner.grantTaskResponse('verify', this.stateMachine);
      FargateRunner.suppressStateMachineFindings(this.stateMachine);
    }
    this.schedule = this.buildSchedule(props);
  }

  /** `BackupSuccess` for this database. @default - sum over 5 minutes */
  public metricBackupSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupSuccess, { ...props, databaseId: this.databaseId });
  }

  /** `BackupFailure` for this database. @default - sum over 5 minutes */
  public metricBackupFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupFailure, { ...props, databaseId: this.databaseId });
  }

  /** `BackupBytes` (archive size) for this database. @default - maximum over 5 minutes (a gauge) */
  public metricBackupBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupBytes, { ...props, databaseId: this.databaseId });
  }

  /** `BackupDurationSeconds` for this database. @default - maximum over 5 minutes (a gauge) */
  public metricBackupDurationSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupDurationSeconds, { ...props, databaseId: this.databaseId });
  }

  /** `VerifyFailure` for this database. @default - sum over 5 minutes */
  public metricVerifyFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.verifyFailure, { ...props, databaseId: this.databaseId });
  }

  /** `ReplicaMissing` for this database. @default - sum over 5 minutes */
  public metricReplicaMissing(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.replicaMissing, { ...props, databaseId: this.databaseId });
  }

  /** `BackupAgeHours` (from the freshness check) for this database. @default - maximum over 5 minutes (a gauge) */
  public metricBackupAgeHours(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupAgeHours, { ...props, databaseId: this.databaseId });
  }

  /** `BackupSizeRatio` (from the freshness check) for this database. @default - maximum over 5 minutes (a gauge) */
  public metricBackupSizeRatio(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupSizeRatio, { ...props, databaseId: this.databaseId });
  }

  /** Failed executions of the workflow (including crashes that emit no `BackupFailure`). @default - sum over 5 minutes */
  public metricExecutionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Lets `grantee` start a backup now (the operator CLI's `restorable backup`). */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** The input every scheduled execution gets: no secrets, only the secret's ARN. */
  public executionInput(
    props: Pick<BackupWorkflowProps, 'secret' | 'schemas' | 'sslMode'>,
  ): Record<string, unknown> {
    return {
      databaseId: this.databaseId,
      secretArn: props.secret.secretArn,
      // Always present (the workflow passes it on by path); only the lists the config sets.
      schemas: {
        ...(props.schemas?.include ? { include: props.schemas.include } : {}),
        ...(props.schemas?.exclude ? { exclude: props.schemas.exclude } : {}),
      },
      sslMode: props.sslMode ?? DEFAULT_SSL_MODE,
      // Passed on by path, so always present: `restorable backup --stack --reason` sets adhoc + why.
      tier: 'auto',
      reason: '',
    };
  }

  private buildSchedule(props: BackupWorkflowProps): scheduler.Schedule {
    const role = schedulerRole(
      this,
      'ScheduleRole',
      `EventBridge Scheduler: start the backup of ${props.databaseId}`,
    );
    const schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `Restorable: back up ${props.databaseId}`,
      schedule:
        props.schedule ?? scheduler.ScheduleExpression.expression(DEFAULT_BACKUP_SCHEDULE, TimeZone.ETC_UTC),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject(this.executionInput(props)),
        // A start that could not happen within an hour is dropped; the stale alarm then pages,
        // rather than a dump starting hours late into business traffic.
        maxEventAge: Duration.hours(1),
        retryAttempts: 10,
      }),
    });
    suppressSchedulerRoleFindings(role);
    return schedule;
  }
}

/** Checks the props; returns the primary bucket's key. */
function validate(props: BackupWorkflowProps): kms.IKey {
  if (!Token.isUnresolved(props.databaseId)) assertDatabaseId(props.databaseId);
  const timeout = props.dumpTimeout;
  if (timeout && !timeout.isUnresolved() && (timeout.toSeconds() < 60 || timeout.toSeconds() > 900)) {
    throw new Error(
      `dumpTimeout (${timeout.toHumanString()}) must be between 1 and 15 minutes (the Lambda maximum)`,
    );
  }
  const lockWait = props.lockWaitTimeout;
  if (lockWait && !lockWait.isUnresolved()) {
    const seconds = lockWait.toSeconds({ integral: false });
    if (!LockWaitTimeoutSecondsSchema.safeParse(seconds).success) {
      throw new Error(
        `lockWaitTimeout (${lockWait.toHumanString()}) must be whole seconds from 1 to 899 (the dump must finish after the wait)`,
      );
    }
  }
  if (props.fargate) {
    if (!props.placement) {
      throw new Error(
        `fargate: the Fargate runner of "${props.databaseId}" needs placement (its tasks run in VPC subnets, awsvpc)`,
      );
    }
    if (props.dumpTimeout || props.dumpMemorySize) {
      throw new Error(
        'dumpTimeout and dumpMemorySize size the Lambda function, which fargate replaces: use fargate.timeout and fargate.size',
      );
    }
  }
  const replicaRegion = props.replicaBucket.bucket.env.region;
  if (!Token.isUnresolved(replicaRegion) && replicaRegion === props.bucket.bucket.env.region) {
    throw new Error(
      `replicaBucket is in ${replicaRegion}, the primary region: import it with the replica region`,
    );
  }
  for (const name of [...(props.schemas?.include ?? []), ...(props.schemas?.exclude ?? [])]) {
    if (name.length === 0) throw new Error('schemas: schema names must not be empty');
  }
  if (!props.bucket.encryptionKey) {
    throw new Error(
      'bucket must have its key known by ARN (the dump names it, and the bucket policy compares it); got a key known only by alias',
    );
  }
  return props.bucket.encryptionKey;
}
