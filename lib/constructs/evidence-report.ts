import { Duration, RemovalPolicy, TimeZone, Token } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import {
  DEFAULT_OBJECT_LOCK_MODE,
  DEFAULT_REPORT_RETENTION_DAYS,
  type HandlerEnvInput,
} from '../../lambda/core/handler-env';
import { assertDatabaseId } from '../../lambda/core/tiers';
import { scheduledInvoke } from '../workflows';
import type { IBackupBucket } from './backup-bucket';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/** 06:00 UTC on the 1st: last month is complete, and its last backups have been verified. */
export const DEFAULT_EVIDENCE_SCHEDULE = 'cron(0 6 1 * ? *)';

export interface EvidenceReportProps extends RunnerCommonProps {
  /**
   * The primary backup bucket: the report is built from it and written into it (encrypted with
   * its key).
   */
  readonly bucket: IBackupBucket;

  /** The databases reported on, with the RPO each is judged against (may be empty with `unlistedRpo`). */
  readonly databases: readonly { readonly id: string; readonly rpo: Duration }[];

  /**
   * The fleet shape: pass the listed databases and their RPOs in the scheduled event
   * (`{ listedDatabases: [{ id, rpoHours }] }`) instead of DATABASE_IDS / RPO_HOURS, and read every
   * database's evidence (BackupBucketGrants.readEvidence) instead of each listed one's. A fleet's
   * list outgrows both the 4 KB a Lambda environment holds in all and a role's policy size (seven
   * ARNs per database).
   * @default false
   */
  readonly listInEvent?: boolean;

  /**
   * A fleet with a tag selection: also report the databases the bucket holds backups of that no
   * list names (tag-selected at run time), judged against this RPO, each for the months it has a
   * backup or drill in (lambda/core/evidence/collect.ts). Reads every database's evidence, as
   * `listInEvent`.
   * @default - the listed databases only
   */
  readonly unlistedRpo?: Duration;

  /**
   * When the report is made (it covers the previous calendar month).
   * @default - 06:00 UTC on the 1st of each month, `cron(0 6 1 * ? *)`
   */
  readonly schedule?: scheduler.ScheduleExpression;

  /**
   * Object Lock mode of the reports.
   * @default - DEFAULT_OBJECT_LOCK_MODE (GOVERNANCE), as the backups
   */
  readonly objectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';

  /**
   * How long each report is locked.
   * @default Duration.days(DEFAULT_REPORT_RETENTION_DAYS) - seven years
   */
  readonly reportRetention?: Duration;

  /**
   * The key of the announcement topic.
   * @default - a new customer-managed key (rotation on, retained)
   */
  readonly topicKey?: kms.IKey;
}

/**
 * The monthly evidence report: a function on an EventBridge Scheduler schedule builds last month's
 * report from the bucket alone and writes it under `reports/<yyyy-mm>/` (HTML, Markdown, JSON;
 * Object Lock, conditional create), and its on-success destination announces it on a
 * KMS-encrypted topic (the invocation record carries the report keys and the gap days). A failed
 * run is announced on the same topic, so no month passes silently.
 */
export class EvidenceReport extends Construct {
  public readonly function: RunnerFunction;
  public readonly schedule: scheduler.Schedule;
  /** Where each month's report is announced; subscribe auditors or a ticketing endpoint. */
  /** The key the topic is encrypted with. */
  public readonly topicKey: kms.IKey;
  public readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: EvidenceReportProps) {
    super(scope, id);
    if (props.databases.length === 0 && !props.unlistedRpo) {
      throw new Error('databases must list at least one database (or give unlistedRpo)');
    }
    if (props.unlistedRpo && !props.unlistedRpo.isUnresolved() && props.unlistedRpo.toHours() <= 0) {
      throw new Error(`unlistedRpo must be positive (got ${props.unlistedRpo.toHumanString()})`);
    }
    const fleetWide = props.listInEvent === true || props.unlistedRpo !== undefined;
    for (const d of props.databases) if (!Token.isUnresolved(d.id)) assertDatabaseId(d.id);
    const retention = props.reportRetention ?? Duration.days(DEFAULT_REPORT_RETENTION_DAYS);
    // Object Lock retention is counted in whole days.
    if (!retention.isUnresolved() && (retention.toHours() < 24 || retention.toHours() % 24 !== 0)) {
      throw new Error(
        `reportRetention must be a whole number of days, at least 1 (got ${retention.toHumanString()})`,
      );
    }

    const topicKey = (this.topicKey =
      props.topicKey ??
      new kms.Key(this, 'TopicKey', {
        description: 'Restorable: evidence report announcements',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      }));
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Restorable evidence reports',
      masterKey: topicKey,
      enforceSSL: true,
    });

    const environment = {
      BACKUP_BUCKET: props.bucket.bucket.bucketName,
      // In the event instead when listInEvent (4 KB in all; 240 listed ids and RPOs measured 6.1 KB).
      ...(props.listInEvent
        ? {}
        : {
            DATABASE_IDS: props.databases.map((d) => d.id),
            RPO_HOURS: Object.fromEntries(props.databases.map((d) => [d.id, d.rpo.toHours()])),
          }),
      ...(props.unlistedRpo ? { UNLISTED_RPO_HOURS: props.unlistedRpo.toHours() } : {}),
      OBJECT_LOCK_MODE: props.objectLockMode ?? DEFAULT_OBJECT_LOCK_MODE,
      REPORT_RETENTION_DAYS: retention.toDays(),
      // An ARN, because the bucket policy compares the key id as a string.
      BACKUP_KMS_KEY_ARN: props.bucket.keyId,
    } satisfies HandlerEnvInput<'report'>;

    this.function = new RunnerFunction(this, 'Resource', {
      handler: 'report',
      description: 'Restorable: monthly evidence report from the backup bucket',
      image: props.image,
      environment,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    });
    // EventBridge Scheduler invokes asynchronously, so the function's async destinations see every
    // run. The runner already has an event invoke config (no silent retries); add the destinations
    // to it, since Lambda allows one config per function.
    const invokeConfig = this.function.function.node.tryFindChild('EventInvokeConfig');
    const cfnInvokeConfig = invokeConfig?.node.defaultChild as lambda.CfnEventInvokeConfig | undefined;
    if (!cfnInvokeConfig)
      throw new Error('the runner function has no event invoke config to add destinations to');
    cfnInvokeConfig.destinationConfig = {
      onSuccess: { destination: this.topic.topicArn },
      onFailure: { destination: this.topic.topicArn },
    };
    this.topic.grantPublish(this.function.role);

    // Reads only what the evidence is built from, database by database: manifests and
    // verification records (every tier, adhoc included) and drill reports; the retention settings
    // in force; writes under reports/. The report takes each dump's presence and size from the
    // listing, so a fleet's report reads every database's manifests, verification records and
    // drill reports (its databases are chosen by tag at run time) but no dump. The per-database
    // grants are kept as they were (their prefixes include the dumps, no longer read here).
    const role = this.function.role;
    if (fleetWide) {
      props.bucket.grants.readEvidence(role);
    } else {
      for (const d of props.databases) {
        props.bucket.grants.readBackups(role, d.id);
        props.bucket.grants.readDrillReports(role, d.id);
      }
    }
    props.bucket.grants.readRetentionSettings(role);
    props.bucket.grants.writeEvidenceReports(role);
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Announcing on the KMS-encrypted report topic needs kms:GenerateDataKey* on its key (SNS may call any ' +
            'GenerateDataKey variant); the grant comes from topic.grantPublish and names that key only.',
          appliesTo: ['Action::kms:GenerateDataKey*'],
        },
      ],
      true,
    );

    this.schedule = scheduledInvoke(this, this.function.function, {
      description: 'Restorable: monthly evidence report',
      roleDescription: 'EventBridge Scheduler: run the Restorable evidence report',
      input: props.listInEvent
        ? { listedDatabases: props.databases.map((d) => ({ id: d.id, rpoHours: d.rpo.toHours() })) }
        : undefined,
      schedule:
        props.schedule ??
        scheduler.ScheduleExpression.expression(DEFAULT_EVIDENCE_SCHEDULE, TimeZone.ETC_UTC),
    });
  }
}
