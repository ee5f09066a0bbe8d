/**
 * The Fargate runner's metrics: PutMetricData instead of EMF. Lambda turns EMF log lines into
 * metrics; ECS's awslogs driver does not (that needs the CloudWatch agent as a sidecar), so the
 * runner publishes the handlers' metrics itself: same names, namespace and `DatabaseId` dimension,
 * so the alarms on `BackupFailure` and the rest see one metric whichever runner ran.
 * The task role may call PutMetricData only in this namespace (`cloudwatch:namespace` condition).
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation.html
 */
import { CloudWatchClient, PutMetricDataCommand, type StandardUnit } from '@aws-sdk/client-cloudwatch';
import { DIMENSION_DATABASE, METRIC_NAMESPACE } from '../core/metric-names';
import type { MetricsSink } from '../handlers/powertools';

export interface CloudWatchMetrics {
  readonly sink: MetricsSink;
  /** Resolves once every metric is sent; the failures, as messages (a metric is not worth failing a run for). */
  flush(): Promise<string[]>;
}

export function cloudWatchMetrics(client: CloudWatchClient = new CloudWatchClient({})): CloudWatchMetrics {
  const pending: Promise<string | undefined>[] = [];
  return {
    sink: (databaseId, values) => {
      const timestamp = new Date();
      pending.push(
        client
          .send(
            new PutMetricDataCommand({
              Namespace: METRIC_NAMESPACE,
              MetricData: values.map(([name, unit, value]) => ({
                MetricName: name,
                Unit: unit as StandardUnit,
                Value: value,
                Timestamp: timestamp,
                Dimensions: databaseId === undefined ? [] : [{ Name: DIMENSION_DATABASE, Value: databaseId }],
              })),
            }),
          )
          .then(
            () => undefined,
            (e: Error) => `PutMetricData ${values.map(([n]) => n).join(', ')}: ${e.message}`,
          ),
      );
    },
    flush: async () => {
      const results = await Promise.all(pending);
      client.destroy();
      return results.filter((r): r is string => r !== undefined);
    },
  };
}
