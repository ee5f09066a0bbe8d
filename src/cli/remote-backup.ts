/**
 * `restorable backup --db <id> --stack <stack> --reason <text>` (no `--url`): a backup taken by the
 * deployed workflow rather than from this machine, so a CI runner about to migrate a database
 * needs no network path to it and no credentials for it, only states:StartExecution.
 *
 * Starts the database's backup state machine with its scheduled input plus `tier: adhoc` and the
 * reason, prints progress from the execution history as it happens, and exits 0 only when the
 * execution succeeded with the backup committed (dump) and verified (verify). Ctrl-C stops
 * waiting, not the backup: the execution keeps running in AWS and the CLI says how to follow it.
 */
import type { SFNClient, HistoryEvent } from '@aws-sdk/client-sfn';
import { backupInputOutputKey, backupStateMachineOutputKey } from '../../lib/outputs';
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
  const outputs = await readStackOutputs(o.stack, o.region);
  const arn = outputs.get(backupStateMachineOutputKey(o.db));
  const scheduled = outputs.get(backupInputOutputKey(o.db));
  if (!arn || !scheduled) {
    throw new Error(
      `stack ${o.stack} has no backup workflow for database ${o.db} (outputs ${backupStateMachineOutputKey(o.db)} and ${backupInputOutputKey(o.db)})`,
    );
  }
  const sdk = await import('@aws-sdk/client-sfn');
  const sfn = deps.sfn ?? new sdk.SFNClient(o.region ? { region: o.region } : {});
  const now = deps.now ?? (() => new Date());
  const input = {
    ...(JSON.parse(scheduled) as Record<string, unknown>),
    tier: 'adhoc',
    reason: o.reason.trim(),
  };
  const started = await sfn.send(
    new sdk.StartExecutionCommand({
      stateMachineArn: arn,
      // Execution names are unique per state machine for 90 days: the name says who and when.
      name: `adhoc-${o.db}-${compactTimestamp(now())}`.slice(0, 80),
      input: JSON.stringify(input),
    }),
  );
  const executionArn = started.executionArn!;
  io.err(`started ${executionArn}`);
  const seen = new Set<number>();
  const follow = `follow it with: aws stepfunctions describe-execution --execution-arn ${executionArn}`;
  for (;;) {
    let token: string | undefined;
    do {
      const page = await sfn.send(
        new sdk.GetExecutionHistoryCommand({ executionArn, nextToken: token, includeExecutionData: false }),
      );
      for (const e of page.events ?? []) {
        if (e.id === undefined || seen.has(e.id)) continue;
        seen.add(e.id);
        const line = describeEvent(e);
        if (line) io.err(`${e.timestamp ? e.timestamp.toISOString() : ''} ${line}`.trim());
      }
      token = page.nextToken;
    } while (token);
    const d = await sfn.send(new sdk.DescribeExecutionCommand({ executionArn }));
    if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
      return finished(d.status ?? 'UNKNOWN', d.output, d.error, d.cause, executionArn, o, io);
    }
    if (deps.signal?.aborted) {
      io.err(`stopped waiting; the backup execution keeps running in AWS: ${follow}`);
      return 130;
    }
    await sleep(deps.pollMs ?? 5000, deps.signal);
    if (deps.signal?.aborted) {
      io.err(`stopped waiting; the backup execution keeps running in AWS: ${follow}`);
      return 130;
    }
  }
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
