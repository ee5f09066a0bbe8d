// @ts-nocheck
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { MetricNames } from '../../lambda/core/metric-names';
import {
  DRILL_INSTANCE_PREFIX,
  deleteDrillInstanceStatement,
  deleteDrillSecretStatement,
  rdsArn,
} from '../drill-iam';
import { restorableMetric } from '../metrics';
import { scheduledInvoke } from '../workflows';
import { RunnerFunction, type RunnerCommonProps } from './runner-function';

/**
 * Hourly: a leaked instance (a drill that crashed past every Catch) costs at most an hour beyond
 * its expiry, and the orphaned-instance alarm pages within that hour. Listing instances is free.
 */
export const DEFAULT_SWEEPER_INTERVAL = Duration.hours(1);

export interface DrillSweeperProps extends RunnerCommonProps {
  /**
   * How often the sweeper runs.
   * @default Duration.hours(1)
   */
  readonly interval?: Duration;
}

/**
 * Deletes expired restore-drill instances a crashed drill left behind, and reports how many it
 * found (`OrphanedDrillInstances`, the "a drill did not clean up" alarm).
 *
 * An instance is deleted only when its name starts with `restorable-drill-`, it is tagged
 * `restorable:drill=true` and its `restorable:expires-at` has passed (lambda/core/sweeper.ts);
 * the role enforces the first two on its own: it cannot delete any other instance, whatever the
 * code does.
 */
export class DrillSweeper extends Construct {
  /** The sweeper function. */
  public readonly function: RunnerFunction;
  /** The schedule that runs it. */
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: DrillSweeperProps = {}) {
    super(scope, id);
    const interval = props.interval ?? DEFAULT_SWEEPER_INTERVAL;
    if (!interval.isUnresolved()) {
      const minutes = interval.toMinutes({ integral: false });
      if (!Number.isInteger(minutes) || minutes < 5 || minutes > 24 * 60) {
        throw new Error(
          `interval (${interval.toHumanString()}) must be whole minutes between 5 minutes and 1 day`,
        );
      }
    }

    this.function = new RunnerFunction(this, 'Resource', {
      handler: 'sweeper',
      description: 'Restorable: delete expired restore-drill instances',
      image: props.image,
      logEncryptionKey: props.logEncryptionKey,
      logRetention: props.logRetention,
    });
    const role = this.function.role;
    // Listing every instance (the sweeper looks for drill instances among all of them) is
    // authorized against db:* of this account and region; it reads metadata and tags only.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListInstancesAndTheirTags',
        actions: ['rds:DescribeDBInstances'],
        resources: [rdsArn(this, 'db', '*')],
      }),
    );
    role.addToPrincipalPolicy(deleteDrillInstanceStatement(this));
    role.addToPrincipalPolicy(deleteDrillSecretStatement(this));
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'DescribeDBInstances without an identifier is authorized against db:* (read-only metadata and tags); ' +
            'the sweeper must see every instance to find leaked drill instances.',
          appliesTo: [{ regex: '/^Resource::arn:.*:rds:.*:db:\\*$/' }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason: `Deletion is limited to ${DRILL_INSTANCE_PREFIX}* instances carrying the restorable:drill=true tag (rds:db-tag condition).`,
          appliesTo: [{ regex: `/^Resource::arn:.*:rds:.*:db:${DRILL_INSTANCE_PREFIX}\\*$/` }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "RDS names managed master secrets rds!db-<uuid>; deletion is limited to drill instances' secrets and to requests RDS makes on the role's behalf.",
          appliesTo: [{ regex: '/^Resource::arn:.*:secretsmanager:.*:secret:rds!db-\\*$/' }],
        },
      ],
      true,
    );

    this.schedule = scheduledInvoke(this, this.function.function, {
      description: 'Restorable: delete expired restore-drill instances',
      roleDescription: 'EventBridge Scheduler: run the Restorable drill sweeper',
      schedule: scheduler.ScheduleExpression.rate(interval),
    });
  }

  /**
   * `OrphanedDrillInstances`: expired drill instances found per run (no database dimension).
   * @default - maximum over 1 hour
   */
  public metricOrphanedInstances(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return restorableMetric(MetricNames.orphanedDrillInstances, {
      statistic: 'Maximum',
      period: Duration.hours(1),
      ...props,
    });
  }

  /** Lambda `Errors` of the sweeper (a deletion that failed). @default - sum over 5 minutes */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricErrors(props);
  }
}
