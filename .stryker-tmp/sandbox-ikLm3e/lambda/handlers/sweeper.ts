/**
 * Sweeper: deletes RDS drill instances a crashed drill left behind (scheduled, e.g. hourly).
 *
 * Event in: anything (the scheduler payload is ignored), e.g. `{}`; `{ "dryRun": true }` lists
 * without deleting.
 * Returns: { found, deleted, failed, instances: [{ id, databaseId?, expiresAt, status?, action,
 *            error? }], kept: [{ id, reason }] }
 *
 * Deletes only instances named `restorable-drill-*`, tagged `restorable:drill=true`, whose
 * `restorable:expires-at` is in the past (lambda/core/sweeper.ts). Throws when a deletion failed
 * (after publishing the metric), so the invocation shows as an error too.
 *
 * Environment: none required (the region is the function's).
 *
 * Metric (namespace Restorable, no dimension): OrphanedDrillInstances = expired drill instances
 * found this run (0 when none), the "a drill did not clean up" alarm.
 *
 * IAM: rds:DescribeDBInstances (no resource-level permissions), rds:DeleteDBInstance on
 * db:restorable-drill-* with resource tag restorable:drill=true.
 */
// @ts-nocheck

import { RDSClient } from '@aws-sdk/client-rds';
import { METRIC_NAMESPACE, MetricNames } from '../core/metric-names';
import { sweepDrillInstances, type SweepResult } from '../core/sweeper';
import { logger, startInvocation, type LambdaContext } from './powertools';

/**
 * Publishes OrphanedDrillInstances without dimensions, as the alarm expects. Written by hand
 * because Powertools serialises "no dimensions" as `Dimensions: []` (no dimension set at all),
 * while the EMF way to say "one set, empty" is `[[]]`.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
function publishOrphaned(count: number): void {
  const doc = {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [[]],
          Metrics: [{ Name: MetricNames.orphanedDrillInstances, Unit: 'Count' }],
        },
      ],
    },
    [MetricNames.orphanedDrillInstances]: count,
  };
  process.stdout.write(`${JSON.stringify(doc)}\n`);
}

let rds: RDSClient | undefined;

export const handler = async (event: unknown, context?: LambdaContext): Promise<SweepResult> => {
  startInvocation(context, {});
  rds ??= new RDSClient({});
  const dryRun = (event as { dryRun?: unknown } | undefined)?.dryRun === true;
  const result = await sweepDrillInstances({ rds, dryRun, logger });
  publishOrphaned(result.found);
  const log = result.found > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
  log('sweep finished', {
    found: result.found,
    deleted: result.deleted,
    failed: result.failed,
    kept: result.kept.length,
  });
  if (result.failed > 0) {
    throw new Error(
      `could not delete ${result.failed} expired drill instance(s): ${result.instances
        .filter((i) => i.action === 'failed')
        .map((i) => `${i.id} (${i.error})`)
        .join(', ')}`,
    );
  }
  return result;
};
