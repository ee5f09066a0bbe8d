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
 *   }
 *   The orchestrator's definition holds the listed databases (a Lambda environment holds 4 KB in
 *   all) and passes its execution input, the schedule's, as `filter`; without `listedDatabases`
 *   the event itself is the filter. `databaseIds`: only these listed databases, no tag discovery
 *   (a schedule of its own); `excludeDatabaseIds`: everything but these (the fleet schedule leaves
 *   out the databases that have their own).
 * Returns:
 *   {
 *     items: [{ databaseId, maxQueueMinutes, execution }],   // FleetRunItemSchema, sorted by id
 *     skipped: [{ resource: { kind, identifier, arn }, id?, code, reason }]
 *   }
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
import { RUNNER_GROUP_KEY, type FleetRunItem } from '../core/fleet-settings';
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
});

/** The discovery function's event: the listed databases (from the orchestrator) and which to run. */
export const DiscoveryEventSchema = z.looseObject({
  listedDatabases: z.array(ListedRunSchema).optional(),
  filter: FilterSchema.optional(),
  databaseIds: z.array(z.string()).optional(),
  excludeDatabaseIds: z.array(z.string()).optional(),
});
export type DiscoveryEvent = z.input<typeof DiscoveryEventSchema>;

const readEnv = handlerEnv('discovery');
let rds: RDSClient | undefined;
let secrets: SecretsManagerClient | undefined;

export const handler = async (event: unknown, context?: LambdaContext): Promise<DiscoveryHandlerResult> => {
  const env = readEnv();
  startInvocation(context, { workload: env.WORKLOAD });
  const ev = parseEvent(DiscoveryEventSchema, event ?? {}, 'discovery');
  const filter = ev.filter ?? { databaseIds: ev.databaseIds, excludeDatabaseIds: ev.excludeDatabaseIds };
  const listedRuns = ev.listedDatabases ?? env.LISTED_DATABASES;
  if (listedRuns.length === 0 && !env.SELECTION) {
    throw new EventError(
      'nothing to discover: no listed databases (event listedDatabases or LISTED_DATABASES) and no SELECTION',
    );
  }

  let databases: FleetDatabase<ListedRunEntry>[];
  let skipped: SkippedDatabase[] = [];
  if (filter.databaseIds) {
    // A schedule of its own: these listed databases only, as listed (no tag discovery).
    const only = new Set(filter.databaseIds);
    databases = listedOnly(listedEntries(listedRuns.filter((run) => only.has(run.id))));
  } else if (env.SELECTION) {
    rds ??= traced(new RDSClient({}));
    secrets ??= traced(new SecretsManagerClient({}));
    const runnerGroups = env.DEFAULTS.runnerGroups;
    ({ databases, skipped } = await discoverDatabases(
      env.SELECTION,
      { rds, secrets },
      listedEntries(listedRuns),
      {
        runnerVpcIds: runnerGroups && Object.keys(runnerGroups),
      },
    ));
  } else {
    databases = listedOnly(listedEntries(listedRuns));
  }
  if (filter.excludeDatabaseIds) {
    const excluded = new Set(filter.excludeDatabaseIds);
    databases = databases.filter((db) => !excluded.has(db.id));
  }

  const items = databases.map((db) => fleetRunItem(env.WORKLOAD, db, env.DEFAULTS));
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
  logger.info('databases discovered', {
    items: items.length,
    listed: databases.filter((d) => d.source === 'listed').length,
    discovered: databases.filter((d) => d.source === 'discovered').length,
    skipped: skipped.length,
  });
  return { items, skipped };
};

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
