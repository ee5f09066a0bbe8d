/**
 * The Fargate runner's entry point: the same image and the same handler code as the Lambda
 * functions (lambda/handlers/*), run as a process in an ECS task for databases past Lambda's
 * limits (15 minutes, 10 GiB of /tmp).
 *
 *   node runner.js <dump|verify|drill> [event-json]
 *
 * - The handler name is the first argument, else RESTORABLE_HANDLER.
 * - The event is RESTORABLE_EVENT, else the second argument: the same JSON the Lambda handler
 *   gets (Step Functions passes it as a container override of the environment).
 * - DEADLINE_SECONDS (from the process start) replaces Lambda's remaining time; the dump gives up
 *   its safety margin before it, as on Lambda. SIGTERM (ECS StopTask, or the task's own timeout)
 *   brings the deadline to now, so a dump aborts its upload and commits nothing before the SIGKILL
 *   that follows 30 s later.
 *   @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_timeout (stopTimeout)
 * - The handler's result is written to stdout as one JSON line, last (the handlers' logs are JSON
 *   lines before it). A failure writes `{ errorType, errorMessage }` to stderr, as Lambda reports
 *   it, and exits 1.
 * - With TASK_TOKEN set (the `.waitForTaskToken` integration) the outcome also goes to Step
 *   Functions: SendTaskSuccess with the result, or SendTaskFailure with the errorType as `error`
 *   and the message as `cause`, so a Catch or Retry on `BackupError` works as for the Lambda task.
 *   Without it (`ecs:runTask.sync`) the exit code is the outcome. Exit 2: the outcome could not be
 *   reported to Step Functions.
 *   @see https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
 * - With TASK_TOKEN, SendTaskHeartbeat at the start and every minute while the handler runs: the
 *   state's heartbeat timeout then fails a task that died without answering (killed for memory,
 *   lost its host, never started) within minutes instead of at the run's deadline.
 * - RESTORABLE_METRICS=cloudwatch (the Fargate task sets it): the handlers' metrics go out with
 *   PutMetricData (cloudwatch-metrics.ts), sent before the outcome is reported; unset, they are EMF
 *   lines on stdout as on Lambda.
 *
 * Environment of each handler: its HandlerEnv schema (lambda/core/handler-env.ts), as on Lambda.
 */
import { randomUUID } from 'node:crypto';
import { setMetricsSink, type LambdaContext } from '../handlers/powertools';
import { cloudWatchMetrics } from './cloudwatch-metrics';

export const RUNNER_HANDLERS = ['dump', 'verify', 'drill'] as const;
export type RunnerHandler = (typeof RUNNER_HANDLERS)[number];

type Handler = (event: unknown, context?: LambdaContext) => Promise<unknown>;

/** Step Functions caps `error` at 256 and `cause` at 32,768 characters. */
const ERROR_MAX = 256;
const CAUSE_MAX = 32_768;
/** SendTaskSuccess `output` is at most 256 KiB. */
const OUTPUT_MAX = 256 * 1024;

export class RunnerUsageError extends Error {
  override readonly name = 'RunnerUsageError';
}

/** Loads only the handler that runs (each pulls its own AWS clients and environment). */
async function loadHandler(name: RunnerHandler): Promise<Handler> {
  switch (name) {
    case 'dump':
      return (await import('../handlers/dump')).handler;
    case 'verify':
      return (await import('../handlers/verify')).handler;
    case 'drill':
      return (await import('../handlers/drill')).handler as Handler;
  }
}

export interface RunnerInput {
  readonly handler: RunnerHandler;
  readonly event: unknown;
  /** Milliseconds from start the run may take, when DEADLINE_SECONDS is set. */
  readonly deadlineMs?: number;
  readonly taskToken?: string;
}

/** Reads the handler, event, deadline and task token from argv and the environment. */
export function parseRunnerInput(argv: readonly string[], env: NodeJS.ProcessEnv): RunnerInput {
  const name = argv[0] ?? env.RESTORABLE_HANDLER;
  if (!name || !(RUNNER_HANDLERS as readonly string[]).includes(name)) {
    throw new RunnerUsageError(
      `handler must be one of ${RUNNER_HANDLERS.join(', ')} (first argument or RESTORABLE_HANDLER), got ${name ?? 'nothing'}`,
    );
  }
  const text = env.RESTORABLE_EVENT ?? argv[1];
  if (text === undefined)
    throw new RunnerUsageError('no event: set RESTORABLE_EVENT or pass the JSON as an argument');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (e) {
    throw new RunnerUsageError(`the event is not valid JSON: ${(e as Error).message}`);
  }
  let deadlineMs: number | undefined;
  if (env.DEADLINE_SECONDS !== undefined && env.DEADLINE_SECONDS !== '') {
    const seconds = Number(env.DEADLINE_SECONDS);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new RunnerUsageError(`DEADLINE_SECONDS must be a positive number, got ${env.DEADLINE_SECONDS}`);
    }
    deadlineMs = seconds * 1000;
  }
  return { handler: name as RunnerHandler, event, deadlineMs, taskToken: env.TASK_TOKEN || undefined };
}

/** What Lambda's context gives the handlers: the remaining time, here from the deadline. */
export function runnerContext(
  name: RunnerHandler,
  deadlineMs: number | undefined,
  startedAt = Date.now(),
): LambdaContext & { stop(): void } {
  let stopped = false;
  return {
    awsRequestId: randomUUID(),
    functionName: `restorable-runner-${name}`,
    getRemainingTimeInMillis: () =>
      stopped ? 0 : deadlineMs === undefined ? Number.MAX_SAFE_INTEGER : startedAt + deadlineMs - Date.now(),
    stop: () => (stopped = true),
  };
}

export type Outcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly errorType: string; readonly errorMessage: string };

async function report(taskToken: string, outcome: Outcome): Promise<void> {
  const { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } = await import('@aws-sdk/client-sfn');
  const sfn = new SFNClient({});
  try {
    if (outcome.ok) {
      const output = JSON.stringify(outcome.result ?? null);
      if (Buffer.byteLength(output) > OUTPUT_MAX) {
        throw new Error(`the result is ${Buffer.byteLength(output)} bytes, over Step Functions' 256 KiB`);
      }
      await sfn.send(new SendTaskSuccessCommand({ taskToken, output }));
    } else {
      await sfn.send(
        new SendTaskFailureCommand({
          taskToken,
          error: outcome.errorType.slice(0, ERROR_MAX),
          cause: outcome.errorMessage.slice(0, CAUSE_MAX),
        }),
      );
    }
  } finally {
    sfn.destroy();
  }
}

/** Runs one handler to its outcome; never throws for the handler's own failure. */
export async function runHandler(input: RunnerInput): Promise<Outcome> {
  const context = runnerContext(input.handler, input.deadlineMs);
  const onTerm = () => context.stop();
  process.on('SIGTERM', onTerm);
  try {
    const handler = await loadHandler(input.handler);
    return { ok: true, result: await handler(input.event, context) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { ok: false, errorType: err.name || 'Error', errorMessage: err.message };
  } finally {
    process.off('SIGTERM', onTerm);
  }
}

/** How often a run with a task token tells Step Functions it is alive. */
export const HEARTBEAT_INTERVAL_MS = 60_000;

/**
 * Heartbeats for `taskToken` until the returned stop is called. A failed heartbeat is logged and
 * tried again next time: the state's heartbeat timeout allows several to be lost.
 */
export function startHeartbeat(taskToken: string, intervalMs = HEARTBEAT_INTERVAL_MS): () => void {
  let client: import('@aws-sdk/client-sfn').SFNClient | undefined;
  const beat = async () => {
    const { SFNClient, SendTaskHeartbeatCommand } = await import('@aws-sdk/client-sfn');
    client ??= new SFNClient({});
    await client.send(new SendTaskHeartbeatCommand({ taskToken }));
  };
  const safeBeat = () =>
    beat().catch((e: Error) =>
      process.stderr.write(
        `${JSON.stringify({ level: 'WARN', message: 'heartbeat failed', error: e.message })}\n`,
      ),
    );
  const first = safeBeat();
  const timer = setInterval(() => void safeBeat(), intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    void first.finally(() => client?.destroy());
  };
}

/** The whole process: parse, run, report; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let input: RunnerInput;
  try {
    input = parseRunnerInput(argv, env);
  } catch (e) {
    process.stderr.write(
      `${JSON.stringify({ errorType: (e as Error).name, errorMessage: (e as Error).message })}\n`,
    );
    // A token from a malformed start still deserves an answer, or the execution waits forever.
    if (env.TASK_TOKEN) {
      await report(env.TASK_TOKEN, {
        ok: false,
        errorType: (e as Error).name,
        errorMessage: (e as Error).message,
      }).catch(() => undefined);
    }
    return 1;
  }
  const metrics = env.RESTORABLE_METRICS === 'cloudwatch' ? cloudWatchMetrics() : undefined;
  if (metrics) setMetricsSink(metrics.sink);
  const stopHeartbeat = input.taskToken ? startHeartbeat(input.taskToken) : undefined;
  const outcome = await runHandler(input).finally(() => stopHeartbeat?.());
  if (metrics) {
    // Before the outcome goes to Step Functions: the alarm on BackupFailure must not miss a run
    // whose task stops right after it answered.
    for (const problem of await metrics.flush()) {
      process.stderr.write(
        `${JSON.stringify({ level: 'ERROR', message: 'metric not sent', error: problem })}\n`,
      );
    }
    setMetricsSink(undefined);
  }
  if (outcome.ok) process.stdout.write(`${JSON.stringify(outcome.result ?? null)}\n`);
  else
    process.stderr.write(
      `${JSON.stringify({ errorType: outcome.errorType, errorMessage: outcome.errorMessage })}\n`,
    );
  if (input.taskToken) {
    try {
      await report(input.taskToken, outcome);
    } catch (e) {
      process.stderr.write(
        `${JSON.stringify({ errorType: 'TaskReportFailed', errorMessage: (e as Error).message })}\n`,
      );
      return 2;
    }
  }
  return outcome.ok ? 0 : 1;
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    // Open sockets (pg pools, keep-alive agents) must not keep a finished task running.
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
