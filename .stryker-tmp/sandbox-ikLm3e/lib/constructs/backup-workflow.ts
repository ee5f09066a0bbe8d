// @ts-nocheck
import { Duration, Stack, TimeZone, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { MetricNames } from '../../lambda/core/metric-names';
import { assertDatabaseId, DEFAULT_RETENTION_DAYS, type RetentionDays } from '../../lambda/core/tiers';
import { keyStatement, listStatement, objectStatement, tierPrefixes, type KeyReference } from '../grants';
import { restorableMetric } from '../metrics';
import {
  addLambdaRetries,
  schedulerRole,
  suppressSchedulerRoleFindings,
  suppressStateMachineRoleFindings,
  workflowLogGroup,
  workflowObservability,
} from '../workflows';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/** libpq `sslmode`s the runner accepts (`allow`/`prefer` silently fall back to plaintext). */
export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** Object Lock mode the dump sets on each object it writes. */
export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

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

  /** The primary backup bucket. */
  readonly bucket: s3.IBucket;

  /** The primary bucket's key. */
  readonly key: kms.IKey;

  /** The replica bucket, imported with its region (`Bucket.fromBucketAttributes({ region })`). */
  readonly replicaBucket: s3.IBucket;

  /** The replica bucket's key: by key or by alias in the replica region. */
  readonly replicaKey: KeyReference;

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
   * Expiry per tier, which is also each object's Object Lock retain-until.
   * @default - DESIGN.md defaults (30 / 90 / 365 / 2555 days)
   */
  readonly retentionDays?: RetentionDays;

  /**
   * Object Lock mode of each object.
   * @default 'GOVERNANCE'
   */
  readonly objectLockMode?: ObjectLockMode;

  /**
   * Run the functions inside this VPC (to reach a private database).
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
}

/** The error the verify handler throws while the replica copy is still being replicated. */
export const REPLICATION_PENDING_ERROR = 'ReplicationPending';

/** The default backup schedule: daily at 02:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = 'cron(0 2 * * ? *)';

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
 * retention but never bypass it, and has no delete permission at all; verify only reads.
 */
export class BackupWorkflow extends Construct {
  /** The Dump → Verify state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** The dump function (reserved concurrency 1). */
  public readonly dumpFunction: RunnerFunction;
  /** The verify function (reserved concurrency 1). */
  public readonly verifyFunction: RunnerFunction;
  /** The schedule that starts the workflow. */
  public readonly schedule: scheduler.Schedule;
  /** The database this workflow backs up. */
  public readonly databaseId: string;

  constructor(scope: Construct, id: string, props: BackupWorkflowProps) {
    super(scope, id);
    validate(props);
    const { databaseId, bucket, replicaBucket } = props;
    this.databaseId = databaseId;
    const prefixes = tierPrefixes(databaseId);
    const retentionDays = props.retentionDays ?? DEFAULT_RETENTION_DAYS;

    const common = {
      image: props.image,
      vpc: props.placement?.vpc,
      vpcSubnets: props.placement?.subnets,
      securityGroups: props.placement?.securityGroups,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
      reservedConcurrentExecutions: 1,
    };

    this.dumpFunction = new RunnerFunction(this, 'Dump', {
      ...common,
      handler: 'dump',
      description: `Restorable: dump ${databaseId} to S3`,
      timeout: props.dumpTimeout,
      memorySize: props.dumpMemorySize,
      // The dump handler's contract (lambda/handlers/dump.ts).
      environment: {
        BACKUP_BUCKET: bucket.bucketName,
        // A key ARN, not an alias: the bucket policy compares the SSE-KMS key id as a string.
        BACKUP_KMS_KEY_ARN: props.key.keyArn,
        OBJECT_LOCK_MODE: props.objectLockMode ?? 'GOVERNANCE',
        RETENTION_DAYS: JSON.stringify(retentionDays),
      },
    });
    this.verifyFunction = new RunnerFunction(this, 'Verify', {
      ...common,
      handler: 'verify',
      description: `Restorable: verify ${databaseId} backups`,
      // The verify handler's contract (lambda/handlers/verify.ts).
      environment: {
        BACKUP_BUCKET: bucket.bucketName,
        REPLICA_BUCKET: replicaBucket.bucketName,
        REPLICA_REGION: replicaBucket.env.region,
      },
    });
    this.grantDump(this.dumpFunction.role, props, prefixes);
    this.grantVerify(this.verifyFunction.role, props, prefixes);

    this.stateMachine = this.buildStateMachine(props);
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

  /** `BackupBytes` (archive size) for this database. @default - sum over 5 minutes */
  public metricBackupBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupBytes, { ...props, databaseId: this.databaseId });
  }

  /** `BackupDurationSeconds` for this database. @default - sum over 5 minutes */
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

  /** `BackupAgeHours` (from the freshness check) for this database. @default - sum over 5 minutes */
  public metricBackupAgeHours(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.backupAgeHours, { ...props, databaseId: this.databaseId });
  }

  /** `BackupSizeRatio` (from the freshness check) for this database. @default - sum over 5 minutes */
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
      sslMode: props.sslMode ?? 'verify-full',
    };
  }

  /**
   * Dump: write under its own tier prefixes (multipart included), set each object's retention,
   * abort its own failed uploads, list and read its own manifests (tier placement), read its
   * database's secret. No delete, no BypassGovernanceRetention, nothing outside its prefixes.
   */
  private grantDump(role: iam.IRole, props: BackupWorkflowProps, prefixes: string[]): void {
    const { bucket } = props;
    const add = (statement: iam.PolicyStatement) => role.addToPrincipalPolicy(statement);
    add(
      objectStatement(bucket, prefixes, [
        // CreateMultipartUpload, UploadPart and CompleteMultipartUpload authorize as s3:PutObject.
        's3:PutObject',
        // The per-object retain-until (ObjectLockMode + ObjectLockRetainUntilDate on the upload).
        's3:PutObjectRetention',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
        // Reading manifests decides the tier (first success per period).
        's3:GetObject',
      ]),
    );
    add(listStatement(bucket, prefixes));
    // The dump checks that no incomplete upload is left for its key. This action has no prefix
    // condition key, so it is bucket-wide; it lists upload keys and ids only.
    add(
      new iam.PolicyStatement({ actions: ['s3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }),
    );
    // SSE-KMS writes need a data key; multipart uploads and reading manifests need Decrypt.
    // (No kms:Encrypt: S3 encrypts with the data key, it never calls Encrypt for the caller.)
    add(keyStatement(this, { key: props.key }, ['kms:GenerateDataKey', 'kms:Decrypt']));
    props.secret.grantRead(role);
    NagSuppressions.addResourceSuppressions(role, [tierPrefixSuppression(props.databaseId)], true);
  }

  /**
   * Verify: read its database's objects in both buckets. ListBucket on both buckets has no prefix
   * condition on purpose: S3 answers a missing object with 404 only to callers allowed to list the
   * bucket, and with 403 otherwise, and verify must tell "replica missing" from "access denied".
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
   */
  private grantVerify(role: iam.IRole, props: BackupWorkflowProps, prefixes: string[]): void {
    const { bucket, replicaBucket } = props;
    const add = (statement: iam.PolicyStatement) => role.addToPrincipalPolicy(statement);
    add(objectStatement(bucket, prefixes, ['s3:GetObject']));
    add(objectStatement(replicaBucket, prefixes, ['s3:GetObject']));
    add(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn, replicaBucket.bucketArn],
      }),
    );
    add(keyStatement(this, { key: props.key }, ['kms:Decrypt']));
    add(keyStatement(this, props.replicaKey, ['kms:Decrypt'], { region: replicaBucket.env.region }));

    NagSuppressions.addResourceSuppressions(
      role,
      [tierPrefixSuppression(props.databaseId), ...replicaKeySuppressions(props.replicaKey)],
      true,
    );
  }

  private buildStateMachine(props: BackupWorkflowProps): sfn.StateMachine {
    const { databaseId } = props;
    const dumpTimeout = props.dumpTimeout ?? Duration.minutes(15);

    const dump = new tasks.LambdaInvoke(this, 'DumpTask', {
      stateName: 'Dump',
      comment: 'pg_dump streamed to S3; the manifest is written last',
      lambdaFunction: this.dumpFunction.function,
      payload: sfn.TaskInput.fromObject({
        'databaseId.$': '$.databaseId',
        'secretArn.$': '$.secretArn',
        'schemas.$': '$.schemas',
        'sslMode.$': '$.sslMode',
      }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath: '$.dump',
      // The function's own deadline handling aborts the upload first; this only catches a lost invocation.
      taskTimeout: sfn.Timeout.duration(dumpTimeout.plus(Duration.minutes(2))),
    });
    const verify = new tasks.LambdaInvoke(this, 'VerifyTask', {
      stateName: 'Verify',
      comment: 'Checksum, size, table of contents and replica of the new backup',
      lambdaFunction: this.verifyFunction.function,
      payload: sfn.TaskInput.fromObject({
        'databaseId.$': '$.databaseId',
        'manifestKey.$': '$.dump.manifestKey',
      }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath: '$.verify',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(17)),
    });

    const notify = new tasks.SnsPublish(this, 'NotifyFailureTask', {
      stateName: 'NotifyFailure',
      topic: props.alarmTopic,
      subject: `Restorable: backup of ${databaseId} failed`,
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          `The backup workflow of ${databaseId} failed in execution {}.\nError: {}\nCause: {}`,
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
    const failed = new sfn.Fail(this, 'BackupFailed', {
      stateName: 'BackupFailed',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const onFailure = notify.next(failed);

    // Verify throws ReplicationPending while S3 still reports the replica copy PENDING. RTC
    // replicates within 15 minutes, so retrying for ~25 minutes covers it; past that it pages.
    verify.addRetry({
      errors: [REPLICATION_PENDING_ERROR],
      interval: Duration.minutes(1),
      maxAttempts: 7,
      backoffRate: 2,
      maxDelay: Duration.minutes(5),
    });
    for (const task of [dump, verify]) {
      addLambdaRetries(task);
      task.addCatch(onFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    }

    const logGroup = workflowLogGroup(this, 'LogGroup', {
      name: `${databaseId}-backup`,
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    const stateMachine = new sfn.StateMachine(this, 'Resource', {
      comment: `Restorable backup of ${databaseId}: Dump -> Verify, failures page on-call`,
      definitionBody: sfn.DefinitionBody.fromChainable(
        dump.next(verify).next(new sfn.Succeed(this, 'BackupVerified', { stateName: 'BackupVerified' })),
      ),
      ...workflowObservability(logGroup),
      // No execution timeout: it would end the execution without running the Catch (no page).
      // Every task has its own timeout, so executions are bounded anyway.
    });
    props.alarmTopic.grantPublish(stateMachine);
    suppressStateMachineRoleFindings(stateMachine);
    return stateMachine;
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

/** IAM5 for object ARNs under one database's tier prefixes, and nothing broader. */
function tierPrefixSuppression(databaseId: string) {
  return {
    id: 'AwsSolutions-IAM5',
    reason: `Object access is limited to this database's tier prefixes (<tier>/${databaseId}/*); object ARNs need the trailing wildcard.`,
    appliesTo: [{ regex: `/^Resource::.*\\/(yearly|monthly|weekly|daily)\\/${databaseId}\\/\\*$/` }],
  };
}

function replicaKeySuppressions(ref: KeyReference) {
  return ref.alias
    ? [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The replica key lives in the replica region and only its alias is known here; key/* is narrowed to the ' +
            'key carrying that alias (kms:ResourceAliases) used through S3 in that region (kms:ViaService).',
          appliesTo: [{ regex: '/^Resource::arn:.*:kms:.*:key\\/\\*$/' }],
        },
      ]
    : [];
}

function validate(props: BackupWorkflowProps): void {
  if (!Token.isUnresolved(props.databaseId)) assertDatabaseId(props.databaseId);
  const timeout = props.dumpTimeout;
  if (timeout && !timeout.isUnresolved() && (timeout.toSeconds() < 60 || timeout.toSeconds() > 900)) {
    throw new Error(
      `dumpTimeout (${timeout.toHumanString()}) must be between 1 and 15 minutes (the Lambda maximum)`,
    );
  }
  if (
    !Token.isUnresolved(props.replicaBucket.env.region) &&
    props.replicaBucket.env.region === Stack.of(props.bucket).region
  ) {
    throw new Error(
      `replicaBucket is in ${props.replicaBucket.env.region}, the primary region: import it with the replica region`,
    );
  }
  for (const name of [...(props.schemas?.include ?? []), ...(props.schemas?.exclude ?? [])]) {
    if (name.length === 0) throw new Error('schemas: schema names must not be empty');
  }
}
