/**
 * `restorable backup --db <id> --stack <stack> --reason <text>` (no `--url`): a backup taken by the
 * deployed workflow rather than from this machine, so a CI runner about to migrate a database
 * needs no network path to it and no credentials for it, only states:StartExecution.
 *
 * Starts the database's backup state machine with its scheduled input plus `tier: adhoc` and the
 * reason, prints progress from the execution history as it happens, and exits 0 only when the
 * execution succeeded with the backup committed (dump) and verified (verify). Ctrl-C stops
 * waiting, not the backup: the execution keeps running in AWS and the CLI says how to follow it.
 *
 * A fleet-shaped stack (`fleet.shape: "fleet"`) has no per-database outputs: the CLI starts the
 * fleet's backup orchestrator with `{ databaseIds: [id], tier: "adhoc", reason, startNow: true }`
 * (discovery finds the database, listed or tag-selected; the run skips the start jitter), follows
 * the orchestrator and the one run it starts (its runner group's Dump -> Verify workflow), and
 * judges that run's output as above. When discovery returns no run for the database, the
 * orchestrator's output says why (`notFound`) and the CLI exits 1 with that reason.
 */
import type { SFNClient, HistoryEvent } from '@aws-sdk/client-sfn';
import {
  backupInputOutputKey,
  backupStateMachineOutputKey,
  FLEET_BACKUP_ORCHESTRATOR_OUTPUT,
} from '../../lib/outputs';
import { compactTimestamp } from '../../lambda/core/tiers';
import type { Io } from './output';
import { readStackOutputs, usageError } from './stack-outputs';

export interface RemoteBackupOptions {
  readonly db: string;
  readonly stack: string;
  readonly reason?: string;
  readonly region?: string;
  readonly json?: boolean;
}

export interface RemoteBackupDeps {
  readonly sfn?: SFNClient;
  /** Stops waiting (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** @default 5000 */
  readonly pollMs?: number;
  readonly now?: () => Date;
}

interface ExecutionOutput {
  dump?: { backupId?: string; manifestKey?: string; tier?: string; bytes?: number };
  verify?: { ok?: boolean };
}

/** The fleet orchestrator's output (its Summarize state). */
interface FleetOutput {
  total?: number;
  notFound?: { id?: string; reason?: string }[];
}

/** One progress line per history event worth telling the operator about. */
export function describeEvent(e: HistoryEvent): string | undefined {
  switch (e.type) {
    case 'ExecutionStarted':
      return 'execution started';
    case 'TaskStateEntered':
      return `${e.stateEnteredEventDetails?.name ?? 'state'}: started`;
    case 'TaskStateExited':
      return `${e.stateExitedEventDetails?.name ?? 'state'}: done`;
    case 'LambdaFunctionFailed':
    case 'TaskFailed': {
      const d = e.lambdaFunctionFailedEventDetails ?? e.taskFailedEventDetails;
      return `failed: ${d?.error ?? 'error'}${d?.cause ? `: ${oneLine(d.cause)}` : ''}`;
    }
    case 'LambdaFunctionTimedOut':
    case 'TaskTimedOut':
      return 'task timed out';
    case 'ExecutionSucceeded':
      return 'execution succeeded';
    case 'ExecutionFailed':
      return `execution failed: ${e.executionFailedEventDetails?.error ?? ''}`;
    case 'ExecutionTimedOut':
      return 'execution timed out';
    case 'ExecutionAborted':
      return 'execution aborted';
    default:
      return undefined;
  }
}

/** Lambda error causes arrive as JSON (`{"errorType":..,"errorMessage":..}`); show the message. */
function oneLine(cause: string): string {
  try {
    const c = JSON.parse(cause) as { errorMessage?: string };
    if (c.errorMessage) return c.errorMessage.split('\n')[0];
  } catch {
    // not JSON: shown as is
  }
  return cause.split('\n')[0];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });

export async function runRemoteBackup(
  o: RemoteBackupOptions,
  io: Io,
  deps: RemoteBackupDeps = {},
): Promise<number> {
  if (!o.reason?.trim()) {
    return usageError(io, '--reason <text> is required with --stack (it is recorded in the manifest)');
  }
  const reason = o.reason.trim();
  const outputs = await readStackOutputs(o.stack, o.region);
  const arn = outputs.get(backupStateMachineOutputKey(o.db));
  const scheduled = outputs.get(backupInputOutputKey(o.db));
  const fleet = outputs.get(FLEET_BACKUP_ORCHESTRATOR_OUTPUT);
  if ((!arn || !scheduled) && !fleet) {
    throw new Error(
      `stack ${o.stack} has no backup workflow for database ${o.db} (outputs ${backupStateMachineOutputKey(o.db)} and ${backupInputOutputKey(o.db)}, or ${FLEET_BACKUP_ORCHESTRATOR_OUTPUT} of a fleet)`,
    );
  }
  const sdk = await import('@aws-sdk/client-sfn');
  const sfn = deps.sfn ?? new sdk.SFNClient(o.region ? { region: o.region } : {});
  const now = deps.now ?? (() => new Date());
  const perDatabase = arn && scheduled;
  const stateMachineArn = perDatabase ? arn : fleet!;
  const input = perDatabase
    ? { ...(JSON.parse(scheduled) as Record<string, unknown>), tier: 'adhoc', reason }
    : // Discovery puts tier and reason over the database's run input, as the per-database path does.
      { databaseIds: [o.db], tier: 'adhoc', reason, startNow: true };
  const started = await sfn.send(
    new sdk.StartExecutionCommand({
      stateMachineArn,
      // Execution names are unique per state machine for 90 days: the name says who and when.
      name: `adhoc-${o.db}-${compactTimestamp(now())}`.slice(0, 80),
      input: JSON.stringify(input),
    }),
  );
  const executionArn = started.executionArn!;
  io.err(`started ${executionArn}`);

  /** Prints each new history event of `arn` once; returns the new events. */
  const seen = new Map<string, Set<number>>();
  const follow = async (arn: string, prefix: string, includeExecutionData: boolean) => {
    const known = seen.get(arn) ?? new Set<number>();
    seen.set(arn, known);
    const fresh: HistoryEvent[] = [];
    let token: string | undefined;
    do {
      const page = await sfn.send(
        new sdk.GetExecutionHistoryCommand({ executionArn: arn, nextToken: token, includeExecutionData }),
      );
      for (const e of page.events ?? []) {
        if (e.id === undefined || known.has(e.id)) continue;
        known.add(e.id);
        fresh.push(e);
        const line = describeEvent(e);
        if (line) io.err(`${e.timestamp ? e.timestamp.toISOString() : ''} ${prefix}${line}`.trim());
      }
      token = page.nextToken;
    } while (token);
    return fresh;
  };

  // The fleet path: the run the orchestrator starts for the database, once it has started it.
  let run: string | undefined;
  const hint = `follow it with: aws stepfunctions describe-execution --execution-arn ${executionArn}`;
  const progress = async () => {
    // The orchestrator's history with its data: the run's execution ARN is in the output of the
    // StartRun task's events.
    for (const e of await follow(executionArn, '', !perDatabase)) {
      const child = perDatabase || run ? undefined : startedRunArn(e);
      if (child) {
        run = child;
        io.err(`run of ${o.db}: ${run}`);
      }
    }
    if (run) await follow(run, `${o.db}: `, false);
  };
  for (;;) {
    await progress();
    const d = await sfn.send(new sdk.DescribeExecutionCommand({ executionArn }));
    if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
      if (perDatabase)
        return finished(d.status ?? 'UNKNOWN', d.output, d.error, d.cause, executionArn, o, io);
      // The events written between the history read and the describe (the run's ARN among them).
      await progress();
      return fleetFinished(executionArn, d, run, o, io, async (runArn) =>
        sfn.send(new sdk.DescribeExecutionCommand({ executionArn: runArn })),
      );
    }
    if (deps.signal?.aborted) {
      io.err(`stopped waiting; the backup execution keeps running in AWS: ${hint}`);
      return 130;
    }
    await sleep(deps.pollMs ?? 5000, deps.signal);
    if (deps.signal?.aborted) {
      io.err(`stopped waiting; the backup execution keeps running in AWS: ${hint}`);
      return 130;
    }
  }
}

/**
 * The execution the orchestrator's StartRun task started (`states:startExecution.sync:2`): its
 * ARN is in the task's submitted and succeeded outputs, and in its failure's cause.
 */
export function startedRunArn(e: HistoryEvent): string | undefined {
  const data =
    (e.type === 'TaskSubmitted' && e.taskSubmittedEventDetails?.resourceType === 'states'
      ? e.taskSubmittedEventDetails.output
      : undefined) ??
    (e.type === 'TaskSucceeded' && e.taskSucceededEventDetails?.resourceType === 'states'
      ? e.taskSucceededEventDetails.output
      : undefined) ??
    (e.type === 'TaskFailed' && e.taskFailedEventDetails?.resourceType === 'states'
      ? e.taskFailedEventDetails.cause
      : undefined);
  if (!data) return undefined;
  try {
    const parsed = JSON.parse(data) as { ExecutionArn?: unknown; executionArn?: unknown };
    const arn = parsed.ExecutionArn ?? parsed.executionArn;
    return typeof arn === 'string' && arn.startsWith('arn:') ? arn : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The fleet path's verdict: the run's own result when the orchestrator started one (judged as the
 * per-database path judges its execution), else why there is none.
 */
async function fleetFinished(
  orchestratorArn: string,
  orchestrator: { status?: string; output?: string; error?: string; cause?: string },
  run: string | undefined,
  o: RemoteBackupOptions,
  io: Io,
  describe: (arn: string) => Promise<{ status?: string; output?: string; error?: string; cause?: string }>,
): Promise<number> {
  const status = orchestrator.status ?? 'UNKNOWN';
  if (run) {
    const r = await describe(run);
    if (r.status !== 'RUNNING' && r.status !== 'PENDING_REDRIVE') {
      return finished(r.status ?? 'UNKNOWN', r.output, r.error, r.cause, run, o, io);
    }
  }
  const out = (
    status === 'SUCCEEDED' && orchestrator.output ? JSON.parse(orchestrator.output) : {}
  ) as FleetOutput;
  const missing = out.notFound?.find((n) => n.id === o.db);
  if (missing) {
    io.err(
      `restorable: error: no backup of ${o.db} was started: ${missing.reason ?? 'not found'} (${orchestratorArn})`,
    );
    return 1;
  }
  if (status === 'SUCCEEDED') {
    io.err(
      `restorable: error: the fleet's backup orchestrator started no run for ${o.db} (${out.total ?? 0} runs; ${orchestratorArn})`,
    );
    return 1;
  }
  // Failed before any run started (discovery, say), or stopped while the run was still going.
  return finished(status, undefined, orchestrator.error, orchestrator.cause, orchestratorArn, o, io);
}

function finished(
  status: string,
  output: string | undefined,
  error: string | undefined,
  cause: string | undefined,
  executionArn: string,
  o: RemoteBackupOptions,
  io: Io,
): number {
  if (status !== 'SUCCEEDED') {
    io.err(
      `restorable: error: backup of ${o.db} ${status.toLowerCase().replace('_', ' ')}` +
        `${error ? `: ${error}` : ''}${cause ? `: ${oneLine(cause)}` : ''} (${executionArn})`,
    );
    return 1;
  }
  const out = (output ? JSON.parse(output) : {}) as ExecutionOutput;
  const committed = !!out.dump?.manifestKey;
  const verified = out.verify?.ok === true;
  if (o.json)
    io.out(JSON.stringify({ executionArn, status, ...out.dump, verified, reason: o.reason }, null, 2));
  else if (committed && verified) {
    io.out(
      `backup ${out.dump!.backupId} committed and verified: ${out.dump!.tier} ${out.dump!.manifestKey} (reason: ${o.reason})`,
    );
  }
  if (!committed || !verified) {
    io.err(
      `restorable: error: the execution succeeded but did not report a ${committed ? 'verified' : 'committed'} backup (${executionArn})`,
    );
    return 1;
  }
  return 0;
}
