/**
 * CloudWatch metrics for the names the handlers emit. The names, namespace and dimension come from
 * the one shared module (`lambda/core/metric-names.ts`), so an alarm can never watch a metric no
 * handler publishes under that exact identity (name + namespace + every dimension).
 */
// @ts-nocheck

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, type MetricName } from '../lambda/core/metric-names';

export interface RestorableMetricOptions extends cloudwatch.MetricOptions {
  /**
   * The database the metric is about; omit for stack-wide metrics (e.g. orphaned drill instances).
   * @default - no database dimension
   */
  readonly databaseId?: string;
}

/**
 * One of Restorable's own metrics.
 * @default - sum over 5 minutes, like the CDK's own `metricXxx()` helpers
 */
export function restorableMetric(
  metricName: MetricName,
  options: RestorableMetricOptions = {},
): cloudwatch.Metric {
  const { databaseId, dimensionsMap, ...rest } = options;
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    statistic: cloudwatch.Stats.SUM,
    period: Duration.minutes(5),
    ...rest,
    dimensionsMap: {
      ...(databaseId !== undefined ? { [DIMENSION_DATABASE]: databaseId } : {}),
      ...dimensionsMap,
    },
  });
}
