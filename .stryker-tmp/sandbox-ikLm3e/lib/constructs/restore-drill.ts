// @ts-nocheck
import { Duration, RemovalPolicy, Size, Stack, TimeZone, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { MetricNames } from '../../lambda/core/metric-names';
import { assertDatabaseId } from '../../lambda/core/tiers';
import {
  DRILL_INSTANCE_PREFIX,
  DRILL_TAG_KEYS,
  TAG_DRILL,
  TAG_EXPIRES_AT,
  deleteDrillInstanceStatement,
  deleteDrillSecretStatement,
  drillInstanceArns,
  drillSecretsCondition,
  rdsArn,
  rdsManagedSecretArns,
} from '../drill-iam';
import { drillReportPrefix, keyStatement, objectStatement, tierPrefixes, type KeyReference } from '../grants';
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

/** PostgreSQL's port: the only way into a drill instance. */
export const POSTGRES_PORT = 5432;

/** The default drill schedule: the last Friday of every month at 03:00 UTC. */
export const DEFAULT_DRILL_SCHEDULE = 'cron(0 3 ? * 6L *)';

/** The error the drill handler throws when the instance could not be deleted yet (retry it). */
export const DRILL_CLEANUP_ERROR = 'DrillCleanupError';

/** An operator SQL check run read-only against the restored database. */
export interface DrillCheck {
  /** Shown in the drill report. */
  readonly name: string;
  /** One read-only statement. */
  readonly sql: string;
  /** `{ rows: n }`, `{ equals: value }` or `{ min: n }`. */
  readonly expect:
    | { readonly rows: number }
    | { readonly equals: string | number | boolean | null }
    | { readonly min: number };
  /**
   * Statement timeout of this check.
   * @default - 30 seconds
   */
  readonly timeoutSeconds?: number;
}

export interface RestoreDrillProps extends RunnerCommonProps {
  /** The database id from the config. */
  readonly databaseId: string;

  /** The primary backup bucket: drill reports go to `drills/<databaseId>/` there. */
  readonly bucket: s3.IBucket;

  /** The primary bucket's key. */
  readonly key: kms.IKey;

  /** The replica bucket, imported with its region. */
  readonly replicaBucket: s3.IBucket;

  /** The replica bucket's key: by key or by alias in the replica region. */
  readonly replicaKey: KeyReference;

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
  readonly source?: 'replica' | 'primary';

  /**
   * Which verified backup to restore: the newest, or a random one within `randomWindow`.
   * @default 'latest'
   */
  readonly selection?: 'latest' | 'random';

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
   * Operator SQL checks run after the restore.
   * @default - row counts, catalog counts and RLS only
   */
  readonly checks?: DrillCheck[];

  /**
   * How long the workflow waits for the instance to become available before giving up (and
   * deleting it).
   * @default Duration.minutes(60)
   */
  readonly maxWaitForInstance?: Duration;

  /**
   * Lifetime written to the instance's `restorable:expires-at` tag: the sweeper deletes it after.
   * @default Duration.hours(6) - far beyond a drill's few steps, short enough to bound the cost of a leak
   */
  readonly maxInstanceLifetime?: Duration;

  /**
   * Local disk of the drill function: `pg_restore -j` needs the archive as a file.
   * @default Size.gibibytes(10) - the Lambda maximum
   */
  readonly ephemeralStorageSize?: Size;
}

/** Every Lambda task of the drill: a state name and the handler action it runs. */
const ACTIONS = {
  Select: 'select',
  Provision: 'provision',
  Status: 'status',
  RestoreAndCheck: 'restore-and-check',
  Cleanup: 'cleanup',
  Report: 'report',
} as const;

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
  /** DB subnet group of drill instances. */
  public readonly subnetGroup: rds.SubnetGroup;
  /** Security group of the drill function. */
  public readonly functionSecurityGroup: ec2.SecurityGroup;
  /** Security group of drill instances: PostgreSQL from the drill function only. */
  public readonly instanceSecurityGroup: ec2.SecurityGroup;
  /** The database this drill restores. */
  public readonly databaseId: string;

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    validate(props);
    const { databaseId } = props;
    this.databaseId = databaseId;
    const source = props.source ?? 'replica';
    const instanceClass = props.instanceClass ?? 'db.t4g.medium';

    this.functionSecurityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: props.vpc,
      description: `Restorable drill function of ${databaseId}`,
      allowAllOutbound: false,
    });
    this.instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: props.vpc,
      description: `Restorable drill instances of ${databaseId}: PostgreSQL from the drill function only`,
      allowAllOutbound: false,
    });
    this.instanceSecurityGroup.addIngressRule(
      this.functionSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      'PostgreSQL from the drill function',
    );
    this.functionSecurityGroup.addEgressRule(
      this.instanceSecurityGroup,
      ec2.Port.tcp(POSTGRES_PORT),
      'PostgreSQL to drill instances',
    );
    // S3 (the replica bucket is in another region), RDS, Secrets Manager and CloudWatch APIs.
    this.functionSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS APIs');

    this.subnetGroup = new rds.SubnetGroup(this, 'SubnetGroup', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      // A fixed lowercase name: the drill role's CreateDBInstance permission names it in an ARN.
      subnetGroupName: `${DRILL_INSTANCE_PREFIX}${databaseId}`,
      description: `Restorable drill instances of ${databaseId}`,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.drillFunction = new RunnerFunction(this, 'Function', {
      handler: 'drill',
      description: `Restorable: restore drill of ${databaseId}`,
      image: props.image,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [this.functionSecurityGroup],
      ephemeralStorageSize: props.ephemeralStorageSize ?? Size.gibibytes(10),
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
      // The drill handler's contract (lambda/handlers/drill.ts).
      environment: {
        BACKUP_BUCKET: props.bucket.bucketName,
        REPLICA_BUCKET: props.replicaBucket.bucketName,
        REPLICA_REGION: props.replicaBucket.env.region,
        DRILL_SUBNET_GROUP: this.subnetGroup.subnetGroupName,
        DRILL_SECURITY_GROUP_IDS: this.instanceSecurityGroup.securityGroupId,
        DRILL_INSTANCE_CLASS: instanceClass,
        DRILL_MAX_LIFETIME_HOURS: String((props.maxInstanceLifetime ?? Duration.hours(6)).toHours()),
      },
    });
    this.grantDrill(this.drillFunction.role, props, source, instanceClass);

    this.stateMachine = this.buildStateMachine(props);
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

  /** `DrillRtoSeconds` for this database. @default - sum over 5 minutes */
  public metricDrillRtoSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillRtoSeconds, { ...props, databaseId: this.databaseId });
  }

  /** `DrillRestoreSeconds` for this database. @default - sum over 5 minutes */
  public metricDrillRestoreSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.drillRestoreSeconds, { ...props, databaseId: this.databaseId });
  }

  /** Failed drill executions (including those that never reached the report). @default - sum over 5 minutes */
  public metricExecutionsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed(props);
  }

  /** Lets `grantee` start a drill now (the operator CLI's `restorable drill`). */
  public grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  private grantDrill(
    role: iam.Role,
    props: RestoreDrillProps,
    source: 'replica' | 'primary',
    instanceClass: string,
  ): void {
    const { databaseId } = props;
    const add = (statement: iam.PolicyStatement) => role.addToPrincipalPolicy(statement);
    const prefixes = tierPrefixes(databaseId);

    // Read backups of this database from the source bucket. ListBucket without a prefix
    // condition: selection checks each candidate's dump exists (HeadObject), and S3 answers a
    // missing object with 404 only to callers that may list the bucket (403 otherwise).
    const sourceBucket = source === 'replica' ? props.replicaBucket : props.bucket;
    add(objectStatement(sourceBucket, prefixes, ['s3:GetObject']));
    add(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [sourceBucket.bucketArn] }));
    if (source === 'replica') {
      add(keyStatement(this, props.replicaKey, ['kms:Decrypt'], { region: props.replicaBucket.env.region }));
    } else {
      add(keyStatement(this, { key: props.key }, ['kms:Decrypt']));
    }
    // Write this database's drill reports to the primary bucket.
    add(objectStatement(props.bucket, [drillReportPrefix(databaseId)], ['s3:PutObject']));
    add(keyStatement(this, { key: props.key }, ['kms:GenerateDataKey']));

    // Create only encrypted, single-AZ PostgreSQL of the configured class, named and tagged as a
    // drill instance, with an expiry the sweeper can act on, and no other tags.
    const tagConditions = {
      StringEquals: { [`aws:RequestTag/${TAG_DRILL}`]: 'true' },
      Null: { [`aws:RequestTag/${TAG_EXPIRES_AT}`]: 'false' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...DRILL_TAG_KEYS] },
    };
    add(
      new iam.PolicyStatement({
        sid: 'CreateTaggedDrillInstancesOnly',
        actions: ['rds:CreateDBInstance'],
        resources: [drillInstanceArns(this)],
        conditions: {
          ...tagConditions,
          StringEquals: {
            ...tagConditions.StringEquals,
            'rds:DatabaseEngine': 'postgres',
            'rds:DatabaseClass': instanceClass,
          },
          Bool: { 'rds:StorageEncrypted': 'true', 'rds:MultiAz': 'false' },
        },
      }),
    );
    // CreateDBInstance is also authorized against what the instance uses: this subnet group and
    // the default option and parameter groups of PostgreSQL.
    add(
      new iam.PolicyStatement({
        sid: 'UseDrillSubnetGroupAndDefaultGroups',
        actions: ['rds:CreateDBInstance'],
        resources: [
          rdsArn(this, 'subgrp', this.subnetGroup.subnetGroupName),
          rdsArn(this, 'og', 'default:postgres-*'),
          rdsArn(this, 'pg', 'default.postgres*'),
        ],
      }),
    );
    // Tags given to CreateDBInstance are authorized as AddTagsToResource too.
    add(
      new iam.PolicyStatement({
        sid: 'TagDrillInstancesAtCreation',
        actions: ['rds:AddTagsToResource'],
        resources: [drillInstanceArns(this)],
        conditions: tagConditions,
      }),
    );
    add(
      new iam.PolicyStatement({
        sid: 'DescribeDrillInstances',
        actions: ['rds:DescribeDBInstances'],
        resources: [drillInstanceArns(this)],
      }),
    );
    add(deleteDrillInstanceStatement(this));

    // The managed master password: RDS creates the secret with the caller's permissions (only
    // through RDS: aws:ViaAWSService), and the drill reads it only for drill instances.
    add(
      new iam.PolicyStatement({
        sid: 'LetRdsCreateManagedMasterSecrets',
        actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
        resources: [rdsManagedSecretArns(this)],
        conditions: { Bool: { 'aws:ViaAWSService': 'true' } },
      }),
    );
    add(
      new iam.PolicyStatement({
        sid: 'ReadDrillInstanceMasterSecretsOnly',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [rdsManagedSecretArns(this)],
        conditions: drillSecretsCondition(this),
      }),
    );
    add(deleteDrillSecretStatement(this));
    // The first RDS instance of an account creates RDS's service-linked role.
    add(
      new iam.PolicyStatement({
        sid: 'CreateRdsServiceLinkedRole',
        actions: ['iam:CreateServiceLinkedRole'],
        resources: [
          Stack.of(this).formatArn({
            service: 'iam',
            region: '',
            resource: 'role',
            resourceName: 'aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS',
          }),
        ],
        conditions: { StringEquals: { 'iam:AWSServiceName': 'rds.amazonaws.com' } },
      }),
    );

    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: `Backup objects of ${databaseId} only (<tier>/${databaseId}/*) and its drill reports (drills/${databaseId}/*); object ARNs need the trailing wildcard.`,
          appliesTo: [
            { regex: `/^Resource::.*\\/(yearly|monthly|weekly|daily|drills)\\/${databaseId}\\/\\*$/` },
          ],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Drill instances have generated names under the restorable-drill- prefix; create is further limited by request tags, ' +
            'engine, class and encryption, delete by the restorable:drill resource tag.',
          appliesTo: [{ regex: `/^Resource::arn:.*:rds:.*:db:${DRILL_INSTANCE_PREFIX}\\*$/` }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'PostgreSQL default option/parameter groups are named per major version (default:postgres-16, default.postgres16); ' +
            'the drill picks the backup source major at run time.',
          appliesTo: [
            { regex: '/^Resource::arn:.*:rds:.*:og:default:postgres-\\*$/' },
            { regex: '/^Resource::arn:.*:rds:.*:pg:default\\.postgres\\*$/' },
          ],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'RDS names managed master secrets rds!db-<uuid>; reading is limited to secrets tagged with a drill instance ARN, ' +
            "creating and deleting to requests RDS makes on the role's behalf.",
          appliesTo: [{ regex: '/^Resource::arn:.*:secretsmanager:.*:secret:rds!db-\\*$/' }],
        },
        ...(props.replicaKey.alias && source === 'replica'
          ? [
              {
                id: 'AwsSolutions-IAM5',
                reason:
                  'The replica key is known here only by alias: key/* of the replica region narrowed by kms:ResourceAliases and kms:ViaService.',
                appliesTo: [{ regex: '/^Resource::arn:.*:kms:.*:key\\/\\*$/' }],
              },
            ]
          : []),
      ],
      true,
    );
  }

  private buildStateMachine(props: RestoreDrillProps): sfn.StateMachine {
    const { databaseId } = props;
    const fn = this.drillFunction.function;
    const stepTimeout = sfn.Timeout.duration(Duration.minutes(16));
    const invoke = (name: keyof typeof ACTIONS, payload: Record<string, unknown>, resultPath: string) =>
      new tasks.LambdaInvoke(this, `${name}Task`, {
        stateName: name,
        lambdaFunction: fn,
        payload: sfn.TaskInput.fromObject({ action: ACTIONS[name], ...payload }),
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        resultPath,
        taskTimeout: stepTimeout,
      });

    const select = invoke('Select', { 'databaseId.$': '$.databaseId', 'drill.$': '$.drill' }, '$.state');
    const provision = invoke('Provision', { 'state.$': '$.state' }, '$.state');
    const status = invoke('Status', { 'state.$': '$.state' }, '$.availability');
    const restoreAndCheck = invoke('RestoreAndCheck', { 'state.$': '$.state' }, '$.state');
    const cleanup = invoke('Cleanup', { 'state.$': '$.state' }, '$.state');
    const report = invoke('Report', { 'state.$': '$.state' }, '$.report');

    // The failure path: delete whatever exists, write the FAILED report, fail the execution.
    const cleanupOnError = new tasks.LambdaInvoke(this, 'CleanupOnErrorTask', {
      stateName: 'CleanupOnError',
      comment: 'Deletes the drill instance (if any), writes a FAILED report and emits DrillFailure',
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject({ action: 'cleanup', 'state.$': '$', 'error.$': '$.error' }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath: '$.cleanup',
      taskTimeout: stepTimeout,
    });
    const drillFailed = new sfn.Fail(this, 'DrillFailed', {
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

    for (const task of [select, provision, status, restoreAndCheck, cleanup, report]) {
      addLambdaRetries(task);
      task.addCatch(cleanupOnError, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
    }

    // The wait loop, bounded: count rounds, give up (into cleanup) after maxWaitForInstance.
    const maxRounds = Math.max(1, Math.ceil((props.maxWaitForInstance ?? Duration.minutes(60)).toMinutes()));
    const startWaiting = new sfn.Pass(this, 'StartWaiting', {
      stateName: 'StartWaiting',
      result: sfn.Result.fromObject({ rounds: 0 }),
      resultPath: '$.wait',
    });
    const wait = new sfn.Wait(this, 'WaitForInstance', {
      stateName: 'WaitForInstance',
      time: sfn.WaitTime.duration(Duration.seconds(60)),
    });
    const countRound = new sfn.Pass(this, 'CountRound', {
      stateName: 'CountRound',
      parameters: { 'rounds.$': 'States.MathAdd($.wait.rounds, 1)' },
      resultPath: '$.wait',
    });
    const notReady = new sfn.Pass(this, 'InstanceNotReady', {
      stateName: 'InstanceNotReady',
      result: sfn.Result.fromObject({
        Error: 'DrillInstanceNotReady',
        Cause: `wait: the drill instance was not available after ${maxRounds} minutes`,
      }),
      resultPath: '$.error',
    });
    notReady.next(cleanupOnError);

    const passed = new sfn.Choice(this, 'DidTheDrillPass', { stateName: 'DidTheDrillPass' })
      .when(
        sfn.Condition.stringEquals('$.report.status', 'PASSED'),
        new sfn.Succeed(this, 'DrillPassed', { stateName: 'DrillPassed' }),
      )
      .otherwise(
        new sfn.Fail(this, 'DrillReportedFailure', {
          stateName: 'DrillReportedFailure',
          error: 'DrillFailed',
          cause: 'The drill report says FAILED (checks, RTO or cleanup); see the report in drills/.',
        }),
      );

    const afterStatus = new sfn.Choice(this, 'IsInstanceAvailable', { stateName: 'IsInstanceAvailable' })
      .when(
        sfn.Condition.stringEquals('$.availability.status', 'available'),
        restoreAndCheck.next(cleanup).next(report).next(passed),
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

    const logGroup = workflowLogGroup(this, 'LogGroup', {
      name: `${databaseId}-drill`,
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    const stateMachine = new sfn.StateMachine(this, 'Resource', {
      comment: `Restorable restore drill of ${databaseId}; the drill instance is deleted on every path`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      ...workflowObservability(logGroup),
      // No execution timeout: it would end the execution without running the Catch (cleanup).
    });
    suppressStateMachineRoleFindings(stateMachine);
    return stateMachine;
  }

  private buildSchedule(
    props: RestoreDrillProps,
    source: 'replica' | 'primary',
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
          drill: {
            selection: props.selection ?? 'latest',
            randomWindowDays: (props.randomWindow ?? Duration.days(30)).toDays(),
            source,
            instanceClass,
            rtoTargetSeconds: (props.rtoTarget ?? Duration.hours(1)).toSeconds(),
            checks: props.checks ?? [],
          },
        }),
        maxEventAge: Duration.hours(6),
        retryAttempts: 10,
      }),
    });
    suppressSchedulerRoleFindings(role);
    return schedule;
  }
}

function validate(props: RestoreDrillProps): void {
  if (!Token.isUnresolved(props.databaseId)) assertDatabaseId(props.databaseId);
  const cls = props.instanceClass;
  if (cls !== undefined && !Token.isUnresolved(cls) && !/^db\.[a-z0-9]+\.[a-z0-9]+$/.test(cls)) {
    throw new Error(`instanceClass "${cls}" is not an RDS instance class such as db.t4g.medium`);
  }
  const wait = props.maxWaitForInstance;
  if (
    wait &&
    !wait.isUnresolved() &&
    (wait.toMinutes({ integral: false }) < 1 || wait.toHours({ integral: false }) > 6)
  ) {
    throw new Error(`maxWaitForInstance (${wait.toHumanString()}) must be between 1 minute and 6 hours`);
  }
  const lifetime = props.maxInstanceLifetime;
  if (lifetime && !lifetime.isUnresolved()) {
    const hours = lifetime.toHours({ integral: false });
    if (!Number.isInteger(hours) || hours < 2) {
      throw new Error(
        `maxInstanceLifetime (${lifetime.toHumanString()}) must be a whole number of hours, at least 2`,
      );
    }
  }
  const names = new Set<string>();
  for (const check of props.checks ?? []) {
    if (names.has(check.name)) throw new Error(`checks: the name "${check.name}" is used twice`);
    names.add(check.name);
  }
}
