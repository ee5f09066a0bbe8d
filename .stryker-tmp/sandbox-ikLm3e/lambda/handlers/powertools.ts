/**
 * Powertools Logger and Metrics, created once per execution environment and shared by every
 * handler, with the one service name and namespace the CDK side alarms on.
 *
 * Metric identity: the only dimension is `DatabaseId` (DIMENSION_DATABASE). Powertools adds a
 * `service` default dimension; it is cleared here so `Restorable/BackupFailure{DatabaseId=x}` is
 * exactly the metric the alarms reference.
 */
// @ts-nocheck

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, SERVICE_NAME, type MetricName } from '../core/metric-names';

export const logger = new Logger({ serviceName: SERVICE_NAME });

export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
metrics.clearDefaultDimensions();

export { MetricUnit };
export type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/** The part of the Lambda context handlers use (no dependency on @types/aws-lambda). */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId?: string;
  readonly functionName?: string;
}

/** Publishes one EMF document of metrics for one database right away. */
export function emitForDatabase(databaseId: string, values: readonly [MetricName, Unit, number][]): void {
  metrics.addDimension(DIMENSION_DATABASE, databaseId);
  for (const [name, unit, value] of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/** Puts the request id and database on every log line of this invocation. */
export function startInvocation(context: LambdaContext | undefined, keys: Record<string, unknown>): void {
  logger.resetKeys();
  logger.appendKeys({ ...(context?.awsRequestId ? { requestId: context.awsRequestId } : {}), ...keys });
}
