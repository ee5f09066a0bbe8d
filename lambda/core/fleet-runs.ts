/**
 * A fleet's runs: what each database's run gets as its workflow input (the discovery function's
 * run items) and how a fleet's runs are bounded. Shared by the discovery handler, which feeds the
 * Step Functions orchestrator (whose Map bounds the runs in AWS), and the local fleet demo, which
 * runs the same items with {@link runBounded} in place of the Map.
 *
 * No AWS SDK at run time: the CLI loads this module.
 */
import { DEFAULT_SSL_MODE } from './backup-settings';
import type { FleetDatabase, ListedDatabase } from './discovery';
import {
  FleetRunItemSchema,
  RUNNER_GROUP_KEY,
  type FleetRunItem,
  type FleetWorkload,
} from './fleet-settings';

/** A listed database as synth precomputes it: its run input and limits (handler-env.ts ListedRunSchema). */
export interface ListedRunInput {
  readonly id: string;
  readonly execution: Readonly<Record<string, unknown>>;
  readonly rpoHours: number;
  readonly drillWindowDays?: number;
}

/** A listed entry as discovery's merge sees it (its secret is the one its run input names). */
export interface ListedRunEntry extends ListedDatabase {
  readonly run: ListedRunInput;
}

/** What a discovered database gets unless a listed entry overrides it (handler-env.ts DiscoveryDefaultsSchema). */
export interface FleetRunDefaults {
  readonly rpoHours: number;
  readonly drillWindowDays: number;
  readonly execution: Readonly<Record<string, unknown>>;
  /** The runner group of each VPC the fleet has runners in; absent: `execution`'s own runnerGroup. */
  readonly runnerGroups?: Readonly<Record<string, string>>;
}

/** The listed entries as discovery's `listed` argument. */
export function listedEntries(runs: readonly ListedRunInput[]): ListedRunEntry[] {
  return runs.map((run) => ({
    id: run.id,
    secretArn: typeof run.execution.secretArn === 'string' ? run.execution.secretArn : '',
    run,
  }));
}

/**
 * One database's run item: its workflow input and how long it may wait to start (a backup: its
 * RPO; a drill: its window).
 * - listed: its own run input as synth wrote it (its settings win), plus `rdsResourceArn` when
 *   discovery also found it, so its run re-checks the resource (DATABASE_GONE);
 * - discovered, backup: the defaults with the database's id, secret, endpoint, name and resource over them;
 * - discovered, drill: the defaults (their `drill` settings) with its id and resource;
 * - discovered, either: the runner group of its VPC (`runnerGroups`), when the defaults map them.
 */
export function fleetRunItem(
  workload: FleetWorkload,
  db: FleetDatabase<ListedRunEntry>,
  defaults: FleetRunDefaults,
): FleetRunItem {
  const rpoHours = db.listed?.run.rpoHours ?? defaults.rpoHours;
  const windowDays = db.listed?.run.drillWindowDays ?? defaults.drillWindowDays;
  const maxQueueMinutes = Math.max(
    1,
    Math.floor(workload === 'backup' ? rpoHours * 60 : windowDays * 24 * 60),
  );
  const resourceArn = db.resource?.arn ? { rdsResourceArn: db.resource.arn } : {};
  // Discovery skipped a database in a VPC without runners (NO_RUNNER_NETWORK), so the lookup finds
  // one; were it missing, the orchestrator records the run as UnknownRunnerGroup, never a stray route.
  const group = defaults.runnerGroups && db.vpcId ? defaults.runnerGroups[db.vpcId] : undefined;
  const runnerGroup = defaults.runnerGroups ? { [RUNNER_GROUP_KEY]: group ?? '' } : {};
  let execution: Record<string, unknown>;
  if (db.listed) {
    execution = { ...resourceArn, ...db.listed.run.execution, databaseId: db.id };
  } else if (workload === 'backup') {
    execution = {
      // Fields the backup workflow passes on by path: always present.
      schemas: {},
      sslMode: DEFAULT_SSL_MODE,
      tier: 'auto',
      reason: '',
      ...defaults.execution,
      databaseId: db.id,
      secretArn: db.secretArn,
      ...(db.host ? { host: db.host } : {}),
      ...(db.port ? { port: db.port } : {}),
      ...(db.dbname ? { database: db.dbname } : {}),
      ...resourceArn,
      ...runnerGroup,
    };
  } else {
    execution = { ...defaults.execution, databaseId: db.id, ...resourceArn, ...runnerGroup };
  }
  return FleetRunItemSchema.parse({ databaseId: db.id, maxQueueMinutes, execution });
}

/** The listed databases alone, as discovery returns them without a selection (sorted by id). */
export function listedOnly(entries: readonly ListedRunEntry[]): FleetDatabase<ListedRunEntry>[] {
  return entries
    .map((entry) => ({ id: entry.id, source: 'listed' as const, secretArn: entry.secretArn, listed: entry }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Runs `run` for every item, at most `limit` at a time, in order, as the orchestrator's Map with
 * MaxConcurrency does: one failing run never stops the others (each result is settled).
 * `peak` is the most runs that were in flight at once.
 */
export async function runBounded<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T, index: number) => Promise<R>,
): Promise<{ results: PromiseSettledResult<R>[]; peak: number }> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit (${limit}) must be a positive integer`);
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  let running = 0;
  let peak = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      running += 1;
      peak = Math.max(peak, running);
      try {
        results[i] = { status: 'fulfilled', value: await run(items[i], i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      } finally {
        running -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return { results, peak };
}
