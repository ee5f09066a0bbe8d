/**
 * Discovery: the first state of a fleet orchestrator (lib/constructs/fleet-orchestrator.ts). Finds
 * the databases of tonight's backups (or this month's drills): the listed `databases[]` and, with
 * a tag selection, every RDS instance and Aurora cluster it selects (lambda/core/discovery.ts), and
 * returns one run item per database for the orchestrator's Map.
 *
 * Event in (DiscoveryEventSchema; every field optional):
 *   {
 *     listedDatabases?: [{ id, execution, rpoHours, drillWindowDays? }],  // over env LISTED_DATABASES
 *     filter?: {} | { databaseIds: string[] } | { excludeDatabaseIds: string[] }
 *              (+ for backups, on demand: tier?, reason?, startNow?)
 *   }
 *   The orchestrator's definition holds the listed databases (a Lambda environment holds 4 KB in
 *   all) and passes its execution input, the schedule's, as `filter`; without `listedDatabases`
 *   the event itself is the filter. `databaseIds`: only these databases: listed ones as listed,
 *   without tag discovery (a schedule of its own names listed databases only); an id that is not
 *   listed is looked for by the tag selection (an on-demand backup of a tag-selected database);
 *   `excludeDatabaseIds`: everything but these (the fleet schedule leaves out the databases that
 *   have their own). `tier` and `reason` replace each run input's (`restorable backup --stack`:
 *   `adhoc` and why); `startNow` marks the items to skip the start jitter.
 * Returns:
 *   {
 *     items: [{ databaseId, maxQueueMinutes, execution, startNow? }],  // FleetRunItemSchema, by id
 *     skipped: [{ resource: { kind, identifier, arn }, id?, code, reason }],
 *     notFound: [{ id, reason }]   // of `databaseIds`: each id without an item, and why; else []
 *   }
 *   `notFound` is always present (the orchestrator's ResultSelector reads it): the CLI reports
 *   "not listed, not selected, or skipped because ..." instead of the success of an empty run.
 *   `execution` is the target workflow's input: for WORKLOAD=backup the dump's DumpEvent
 *   (lambda/handlers/dump.ts), for WORKLOAD=drill DrillRunInputSchema (lambda/handlers/drill.ts),
 *   built by lambda/core/fleet-runs.ts `fleetRunItem`:
 *   - a listed database: its precomputed run input as synth wrote it (its settings win), plus
 *     `rdsResourceArn` when discovery also found it (so its run re-checks it: DATABASE_GONE);
 *   - a discovered database: DEFAULTS.execution, with its own id, secret ARN, endpoint, database
 *     name and `rdsResourceArn` over it, and the `runnerGroup` of its VPC (DEFAULTS.runnerGroups:
 *     a database in a VPC the fleet has no runners in is skipped as NO_RUNNER_NETWORK).
 *   `maxQueueMinutes`: a backup may wait its RPO; a drill its window (drillWindowDays).
 *   Every item's execution is checked against the target's schema here (without `runnerGroup`,
 *   which the orchestrator routes on and removes): a run input the runner would refuse fails
 *   discovery at once (one ConfigError naming each), not each run at night.
 *
 * Environment: DiscoveryEnvSchema (lambda/core/handler-env.ts).
 *
 * Metrics (namespace Restorable): DiscoveredDatabases (items returned, no dimension), and
 * DiscoverySkipped per `Reason` (each SkipCode, 0 when none, so an alarm on it recovers).
 * Each skipped database is logged at WARN with its code and the sentence saying how to fix it.
 *
 * IAM: rds:DescribeDBInstances, rds:DescribeDBClusters, rds:DescribeDBSubnetGroups (the VPC of a
 * cluster without instances), secretsmanager:DescribeSecret (metadata only: no secret value ever
 * passes through discovery).
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import {
  discoverDatabases,
  type FleetDatabase,
  type SkipCode,
  type SkippedDatabase,
} from '../core/discovery';
import { FleetTags, RUNNER_GROUP_KEY, type FleetRunItem } from '../core/fleet-settings';
import { fleetRunItem, listedEntries, listedOnly, type ListedRunEntry } from '../core/fleet-runs';
import { ConfigError, ListedRunSchema, type DiscoveryEnv } from '../core/handler-env';
import { DIMENSION_REASON, MetricNames } from '../core/metric-names';
import { DrillRunInputSchema } from './drill';
import { DumpEventSchema } from './dump';
import { EventError, handlerEnv, parseEvent } from './env';
import {
  emitWithDimensions,
  emitWithoutDimensions,
  logger,
  MetricUnit,
  startInvocation,
  traced,
  type LambdaContext,
} from './powertools';

export interface DiscoveryHandlerResult {
  readonly items: FleetRunItem[];
  readonly skipped: SkippedDatabase[];
  readonly notFound: NotFoundDatabase[];
}

/** Every reason discovery can skip a database for (each one published, 0 when none). */
export const SKIP_CODES: readonly SkipCode[] = [
  'NO_SECRET',
  'SECRET_MISSING',
  'SECRET_NOT_TAGGED',
  'INVALID_ID',
  'ID_CONFLICT',
  'NOT_RUNNING',
  'CLUSTER_NOT_SELECTED',
  'NO_RUNNER_NETWORK',
];

const FilterSchema = z.looseObject({
  databaseIds: z.array(z.string()).optional(),
  excludeDatabaseIds: z.array(z.string()).optional(),
  // An on-demand backup: the dump's own rules for both fields, so a bad one fails here, named.
  tier: DumpEventSchema.shape.tier,
  reason: DumpEventSchema.shape.reason,
  startNow: z.boolean().optional(),
});
type Filter = z.output<typeof FilterSchema>;

/** The discovery function's event: the listed databases (from the orchestrator) and which to run. */
export const DiscoveryEventSchema = FilterSchema.extend({
  listedDatabases: z.array(ListedRunSchema).optional(),
  filter: FilterSchema.optional(),
});
export type DiscoveryEvent = z.input<typeof DiscoveryEventSchema>;

/** A database `databaseIds` asked for that discovery returns no item for, and why. */
export interface NotFoundDatabase {
  readonly id: string;
  readonly reason: string;
}

const readEnv = handlerEnv('discovery');
let rds: RDSClient | undefined;
let secrets: SecretsManagerClient | undefined;

export const handler = async (event: unknown, context?: LambdaContext): Promise<DiscoveryHandlerResult> => {
  const env = readEnv();
  startInvocation(context, { workload: env.WORKLOAD });
  const ev = parseEvent(DiscoveryEventSchema, event ?? {}, 'discovery');
  const filter: Filter = ev.filter ?? ev;
  if (env.WORKLOAD !== 'backup' && (filter.tier !== undefined || filter.reason !== undefined)) {
    throw new EventError('tier and reason are for on-demand backups; a drill run takes neither');
  }
  const listedRuns = ev.listedDatabases ?? env.LISTED_DATABASES;
  if (listedRuns.length === 0 && !env.SELECTION) {
    throw new EventError(
      'nothing to discover: no listed databases (event listedDatabases or LISTED_DATABASES) and no SELECTION',
    );
  }

  let databases: FleetDatabase<ListedRunEntry>[];
  let skipped: SkippedDatabase[] = [];
  let notFound: NotFoundDatabase[] = [];
  const discover = async (selection: NonNullable<DiscoveryEnv['SELECTION']>) => {
    rds ??= traced(new RDSClient({}));
    secrets ??= traced(new SecretsManagerClient({}));
    const runnerGroups = env.DEFAULTS.runnerGroups;
    return discoverDatabases(selection, { rds, secrets }, listedEntries(listedRuns), {
      runnerVpcIds: runnerGroups && Object.keys(runnerGroups),
    });
  };
  if (filter.databaseIds) {
    const wanted = new Set(filter.databaseIds);
    const listed = new Set(listedRuns.map((run) => run.id));
    const unlisted = [...wanted].filter((id) => !listed.has(id)).sort();
    if (unlisted.length > 0 && env.SELECTION) {
      // Asked for by name and not listed (an on-demand backup of a tag-selected database): the
      // selection decides, as it would tonight.
      ({ databases, skipped } = await discover(env.SELECTION));
      databases = databases.filter((db) => wanted.has(db.id));
    } else {
      // A schedule of its own (it names listed databases only): as listed, no tag discovery.
      databases = listedOnly(listedEntries(listedRuns.filter((run) => wanted.has(run.id))));
    }
    const found = new Set(databases.map((db) => db.id));
    notFound = unlisted
      .filter((id) => !found.has(id))
      .map((id) => ({ id, reason: notFoundReason(id, skipped, env.SELECTION) }));
  } else if (env.SELECTION) {
    ({ databases, skipped } = await discover(env.SELECTION));
  } else {
    databases = listedOnly(listedEntries(listedRuns));
  }
  if (filter.excludeDatabaseIds) {
    const excluded = new Set(filter.excludeDatabaseIds);
    databases = databases.filter((db) => !excluded.has(db.id));
  }

  const items = databases.map((db) => onDemand(fleetRunItem(env.WORKLOAD, db, env.DEFAULTS), filter));
  checkRunInputs(env, items);

  for (const s of skipped) {
    logger.warn('database skipped', {
      code: s.code,
      id: s.id,
      resource: s.resource.arn || s.resource.identifier,
      reason: s.reason,
    });
  }
  emitWithoutDimensions([[MetricNames.discoveredDatabases, MetricUnit.Count, items.length]]);
  for (const code of SKIP_CODES) {
    const count = skipped.filter((s) => s.code === code).length;
    emitWithDimensions({ [DIMENSION_REASON]: code }, [
      [MetricNames.discoverySkipped, MetricUnit.Count, count],
    ]);
  }
  for (const n of notFound) logger.warn('requested database not found', { id: n.id, reason: n.reason });
  logger.info('databases discovered', {
    items: items.length,
    listed: databases.filter((d) => d.source === 'listed').length,
    discovered: databases.filter((d) => d.source === 'discovered').length,
    skipped: skipped.length,
    notFound: notFound.length,
  });
  return { items, skipped, notFound };
};

/** The filter's on-demand fields over a run item: the dump's tier and reason, no start jitter. */
function onDemand(item: FleetRunItem, filter: Filter): FleetRunItem {
  const execution = { ...item.execution };
  if (filter.tier !== undefined) execution.tier = filter.tier;
  if (filter.reason !== undefined) execution.reason = filter.reason;
  return { ...item, execution, ...(filter.startNow ? { startNow: true as const } : {}) };
}

/**
 * Why `id`, asked for by name and not listed, has no item: what discovery skipped it for (matched
 * on the id it would have had, else its RDS identifier, the id it defaults to), else that nothing
 * the selection picks carries that id.
 */
function notFoundReason(
  id: string,
  skipped: readonly SkippedDatabase[],
  selection: DiscoveryEnv['SELECTION'],
): string {
  if (!selection) return `"${id}" is not in databases[] and this deployment has no tag selection`;
  const reasons = skipped.filter((s) => (s.id ?? s.resource.identifier) === id);
  if (reasons.length > 0) {
    return `discovery skipped "${id}": ${reasons.map((s) => `${s.code}: ${s.reason}`).join('; ')}`;
  }
  const tags = Object.entries(selection.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return (
    `"${id}" is not in databases[] and no RDS instance or Aurora cluster the selection picks ` +
    `(engines ${(selection.engines ?? ['postgres', 'aurora-postgresql']).join(', ')}; tags ${tags}) has that id ` +
    `(its ${FleetTags.id} tag, else its identifier)`
  );
}

/** Every item's execution as the target's runner will parse it; one ConfigError naming each problem. */
function checkRunInputs(env: DiscoveryEnv, items: readonly FleetRunItem[]): void {
  const schema: z.ZodType = env.WORKLOAD === 'backup' ? DumpEventSchema : DrillRunInputSchema;
  const problems = items.flatMap((item) => {
    // The orchestrator routes on runnerGroup and removes it before it starts the run.
    const input: Record<string, unknown> = { ...item.execution };
    delete input[RUNNER_GROUP_KEY];
    const parsed = schema.safeParse(input);
    return parsed.success
      ? []
      : parsed.error.issues.map(
          (i) => `${item.databaseId}: execution.${i.path.map(String).join('.') || '(input)'} ${i.message}`,
        );
  });
  if (problems.length > 0) {
    throw new ConfigError(
      `invalid ${env.WORKLOAD} run inputs (LISTED_DATABASES or DEFAULTS.execution): ${problems.join('; ')}`,
    );
  }
}
