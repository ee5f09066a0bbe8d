/**
 * Powertools Logger, Metrics and Tracer, created once per execution environment and shared by
 * every handler, with the one service name and namespace the CDK side alarms on.
 *
 * Metric identity: the only dimension is `DatabaseId` (DIMENSION_DATABASE). Powertools adds a
 * `service` default dimension; it is cleared here so `Restorable/BackupFailure{DatabaseId=x}` is
 * exactly the metric the alarms reference.
 *
 * Tracing: the functions run with X-Ray active tracing (RunnerFunction); the Tracer turns each AWS
 * SDK call of a client passed through `traced()` into a subsegment. Outside Lambda (tests, the
 * CLI) the Tracer is disabled and `traced()` returns the client untouched.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DIMENSION_DATABASE, METRIC_NAMESPACE, SERVICE_NAME, type MetricName } from '../core/metric-names';

export const logger = new Logger({ serviceName: SERVICE_NAME });

export const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: SERVICE_NAME });
metrics.clearDefaultDimensions();

export const tracer = new Tracer({ serviceName: SERVICE_NAME });

export { MetricUnit };
export type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/** The part of the Lambda context handlers use (no dependency on @types/aws-lambda). */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId?: string;
  readonly functionName?: string;
  readonly functionVersion?: string;
  readonly invokedFunctionArn?: string;
  readonly memoryLimitInMB?: string;
}

/** An AWS SDK v3 client whose calls are traced (X-Ray subsegments) when tracing is on. */
export function traced<T>(client: T): T {
  return tracer.captureAWSv3Client(client);
}

/**
 * Where metrics go instead of EMF on stdout: the Fargate runner (lambda/runner/main.ts) sets one
 * that calls PutMetricData, because only Lambda's log delivery turns EMF lines into metrics (the
 * awslogs driver does not). Same names, namespace and dimension either way.
 */
export type MetricsSink = (
  databaseId: string | undefined,
  values: readonly [MetricName, Unit, number][],
) => void;
let sink: MetricsSink | undefined;

/** Sends every later emit to `next` (undefined: back to EMF). */
export function setMetricsSink(next: MetricsSink | undefined): void {
  sink = next;
}

/** Publishes one EMF document of metrics for one database right away. */
export function emitForDatabase(databaseId: string, values: readonly [MetricName, Unit, number][]): void {
  if (sink) return sink(databaseId, values);
  metrics.addDimension(DIMENSION_DATABASE, databaseId);
  for (const [name, unit, value] of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/**
 * Publishes one EMF document of account-wide metrics (no dimension) right away. The dimension set
 * is explicitly empty (`Dimensions: [[]]`): with no set at all (`[]`) CloudWatch would not create
 * the metric the alarm reads.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export function emitWithoutDimensions(values: readonly [MetricName, Unit, number][]): void {
  if (sink) return sink(undefined, values);
  metrics.addDimensions({});
  for (const [name, unit, value] of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/** Publishes one EMF document of metrics with the given dimensions (e.g. `{ Reason: 'NO_SECRET' }`). */
export function emitWithDimensions(
  dimensions: Record<string, string>,
  values: readonly [MetricName, Unit, number][],
): void {
  metrics.addDimensions(dimensions);
  for (const [name, unit, value] of values) metrics.addMetric(name, unit, value);
  metrics.publishStoredMetrics();
}

/**
 * Starts an invocation's logging: the Lambda context (request id, function, cold start) through
 * Powertools, plus the handler's own keys (database, action), none left over from the last one.
 */
export function startInvocation(context: LambdaContext | undefined, keys: Record<string, unknown>): void {
  logger.resetKeys();
  // Powertools types the context as aws-lambda's Context; it reads only the fields above.
  if (context) logger.addContext(context as unknown as Parameters<Logger['addContext']>[0]);
  logger.appendKeys(keys);
}
