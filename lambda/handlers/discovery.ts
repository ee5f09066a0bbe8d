/**
 * Discovery: the first state of a fleet orchestrator (lib/constructs/fleet-orchestrator.ts). Finds
 * the databases of tonight's backups (or this month's drills): the listed `databases[]` and, with
 * a tag selection, every RDS instance and Aurora cluster it selects (lambda/core/discovery.ts), and
 * returns one run item per database for the orchestrator's Map.
 *
 * Event in: anything (the EventBridge Scheduler payload is ignored), e.g. `{}`.
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
 *     name and `rdsResourceArn` over it.
 *   `maxQueueMinutes`: a backup may wait its RPO; a drill its window (drillWindowDays).
 *   Every item's execution is checked against the target's schema here: a run input the runner
 *   would refuse fails discovery at once (one ConfigError naming each), not each run at night.
 *
 * Environment: DiscoveryEnvSchema (lambda/core/handler-env.ts).
 *
 * Metrics (namespace Restorable): DiscoveredDatabases (items returned, no dimension), and
 * DiscoverySkipped per `Reason` (each SkipCode, 0 when none, so an alarm on it recovers).
 * Each skipped database is logged at WARN with its code and the sentence saying how to fix it.
 *
 * IAM: rds:DescribeDBInstances, rds:DescribeDBClusters, secretsmanager:DescribeSecret (metadata
 * only: no secret value ever passes through discovery).
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { z } from 'zod';
import {
  discoverDatabases,
  type FleetDatabase,
  type SkipCode,
  type SkippedDatabase,
} from '../core/discovery';
import type { FleetRunItem } from '../core/fleet-settings';
import { fleetRunItem, listedEntries, listedOnly, type ListedRunEntry } from '../core/fleet-runs';
import { ConfigError, type DiscoveryEnv } from '../core/handler-env';
import { DIMENSION_REASON, MetricNames } from '../core/metric-names';
import { DrillRunInputSchema } from './drill';
import { DumpEventSchema } from './dump';
import { handlerEnv } from './env';
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
];

const readEnv = handlerEnv('discovery');
let rds: RDSClient | undefined;
let secrets: SecretsManagerClient | undefined;

export const handler = async (_event: unknown, context?: LambdaContext): Promise<DiscoveryHandlerResult> => {
  const env = readEnv();
  startInvocation(context, { workload: env.WORKLOAD });
  const listed = listedEntries(env.LISTED_DATABASES);

  let databases: FleetDatabase<ListedRunEntry>[];
  let skipped: SkippedDatabase[] = [];
  if (env.SELECTION) {
    rds ??= traced(new RDSClient({}));
    secrets ??= traced(new SecretsManagerClient({}));
    ({ databases, skipped } = await discoverDatabases(env.SELECTION, { rds, secrets }, listed));
  } else {
    databases = listedOnly(listed);
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
    const parsed = schema.safeParse(item.execution);
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
