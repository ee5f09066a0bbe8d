/**
 * CloudWatch metrics for the names the handlers emit. The names, namespace and dimension come from
 * the one shared module (`lambda/core/metric-names.ts`), so an alarm can never watch a metric no
 * handler publishes under that exact identity (name + namespace + every dimension).
 *
 * This module also owns each metric's default statistic: gauges (ages, durations, sizes, ratios,
 * counts of things) default to `Maximum`, so the worst value of a period is what an alarm sees;
 * events (a success, a failure) default to `Sum`, so two failures count as two.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import {
  DIMENSION_DATABASE,
  METRIC_NAMESPACE,
  MetricNames,
  type MetricName,
} from '../lambda/core/metric-names';

/** Metrics that report a level rather than count events. */
export const GAUGE_METRICS: ReadonlySet<MetricName> = new Set<MetricName>([
  MetricNames.backupBytes,
  MetricNames.backupDurationSeconds,
  MetricNames.backupAgeHours,
  MetricNames.backupSizeRatio,
  MetricNames.backupKeyUnusable,
  MetricNames.drillAgeDays,
  MetricNames.drillRtoSeconds,
  MetricNames.drillRestoreSeconds,
  MetricNames.drillMismatches,
  MetricNames.orphanedDrillInstances,
]);

/** `Maximum` for a gauge, `Sum` for an event. */
export function defaultStatistic(metricName: MetricName): string {
  return GAUGE_METRICS.has(metricName) ? cloudwatch.Stats.MAXIMUM : cloudwatch.Stats.SUM;
}

export interface RestorableMetricOptions extends cloudwatch.MetricOptions {
  /**
   * The database the metric is about; omit for stack-wide metrics (e.g. orphaned drill instances).
   * @default - no database dimension
   */
  readonly databaseId?: string;
}

/**
 * One of Restorable's own metrics.
 * @default - over 5 minutes, like the CDK's own `metricXxx()` helpers; `Maximum` for a gauge,
 * `Sum` for an event (see {@link defaultStatistic})
 */
export function restorableMetric(
  metricName: MetricName,
  options: RestorableMetricOptions = {},
): cloudwatch.Metric {
  const { databaseId, dimensionsMap, ...rest } = options;
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    statistic: defaultStatistic(metricName),
    period: Duration.minutes(5),
    ...rest,
    dimensionsMap: {
      ...(databaseId !== undefined ? { [DIMENSION_DATABASE]: databaseId } : {}),
      ...dimensionsMap,
    },
  });
}
