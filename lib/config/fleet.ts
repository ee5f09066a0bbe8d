/**
 * `selection` and `fleet`: which databases a deployment finds by tag at run time, and the shape
 * and bounds of a fleet. The schemas themselves are the core's (lambda/core/fleet-settings.ts),
 * which the discovery function and the orchestrator use too; this file adds what only the
 * deployment decides (the stack shape, the fleet's schedules and network) and the rules between
 * `selection`, `fleet` and `databases[]`.
 */
import { z } from 'zod';
import { DEFAULT_BACKUP_SCHEDULE } from '../../lambda/core/backup-settings';
import { DEFAULT_DRILL_SCHEDULE } from '../../lambda/core/drill-settings';
import {
  FleetSelectionSchema,
  FleetSettingsSchema,
  fleetSettingsProblems,
  type FleetSettings,
} from '../../lambda/core/fleet-settings';
import { VpcSchema } from './databases';
import { asArray, asRecord, isNumber, scheduleExpression } from './fields';

export { FleetSelectionSchema };

/**
 * The most databases today's per-database shape fits in one stack under CloudFormation's
 * 500-resource quota (test/unit/fleet-size.test.ts measures it: 56 shared + 50 per database).
 */
export const MAX_PER_DATABASE_SHAPE_DATABASES = 8;

/**
 * The most fleet.networks. Each adds about 40 bytes to the discovery functions' environment (4 KB
 * in all, test/unit/fleet-stack.test.ts measures it) and two runner groups (a group stack per six
 * networks); 50 leaves room for the selection's tags.
 */
export const MAX_FLEET_NETWORKS = 50;

/** RPO a tag-selected database gets (as `databases[].rpoHours` defaults to). */
export const DEFAULT_DISCOVERED_RPO_HOURS = 24;

export const STACK_SHAPES = ['per-database', 'fleet'] as const;
export type StackShape = (typeof STACK_SHAPES)[number];

export const FleetConfigSchema = FleetSettingsSchema.extend({
  shape: z
    .enum(STACK_SHAPES)
    .optional()
    .describe(
      '"per-database": functions, workflows and alarms per database (up to 8 databases, no selection). ' +
        '"fleet": shared runners, one backup and one drill orchestrator, Metrics Insights alarms; any number of databases. ' +
        'Default: "fleet" when `selection` is set, else "per-database". Switching is a migration: see docs/FLEETS.md.',
    ),
  schedule: scheduleExpression(
    DEFAULT_BACKUP_SCHEDULE,
    'When the fleet backup orchestrator starts (UTC); listed databases with their own schedule get one schedule per distinct expression.',
  ),
  drillSchedule: scheduleExpression(
    DEFAULT_DRILL_SCHEDULE,
    'When the fleet drill orchestrator starts (UTC); listed databases with their own drill.schedule get one per distinct expression.',
  ),
  vpc: VpcSchema.optional().describe(
    'Network of tag-selected databases in its VPC: their backups run here, and their drills (subnets in two AZs at least). ' +
      'Required with `selection`; databases in other VPCs need a network in fleet.networks.',
  ),
  networks: z
    .array(VpcSchema)
    .max(MAX_FLEET_NETWORKS)
    .optional()
    .describe(
      "More networks of tag-selected databases, one per VPC other than fleet.vpc's, same shape. A discovered database runs on " +
        "the network of its VPC (its DB subnet group's); one in a VPC with no network is skipped (NO_RUNNER_NETWORK, alarmed). " +
        'Each network gets its backup and drill runners whether or not a listed database uses it.',
    ),
  rpoHours: z
    .int()
    .min(1)
    .max(8760)
    .default(DEFAULT_DISCOVERED_RPO_HOURS)
    .describe('RPO of tag-selected databases (listed ones keep their own rpoHours).'),
}).describe('How a fleet of databases is deployed, spread and bounded.');

export type FleetConfig = z.output<typeof FleetConfigSchema>;

/** The shape a config deploys: `fleet.shape`, else fleet exactly when databases are selected by tag. */
export function stackShapeOf(config: {
  readonly selection?: unknown;
  readonly fleet: { readonly shape?: StackShape };
}): StackShape {
  return config.fleet.shape ?? (config.selection !== undefined ? 'fleet' : 'per-database');
}

/**
 * Rules between `selection`, `fleet` and `databases[]`, one issue each, path first. Reads the
 * possibly half-parsed config defensively (they run even when other fields are invalid).
 */
export function checkFleetRules(config: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const databases = asArray(config.databases).map(asRecord);
  const fleetInput = asRecord(config.fleet);
  const hasSelection = config.selection !== undefined;
  const shape = stackShapeOf({
    selection: config.selection,
    fleet: { shape: STACK_SHAPES.find((s) => s === fleetInput.shape) },
  });
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  if (databases.length === 0 && !hasSelection) {
    issue(
      ['databases'],
      'is required unless `selection` finds databases by tag: list at least one database, or set selection.tags',
    );
  }
  if (shape === 'per-database' && hasSelection) {
    issue(
      ['fleet', 'shape'],
      '"per-database" cannot back up tag-selected databases (their functions and alarms would need a deploy each): ' +
        'remove fleet.shape or set it to "fleet"',
    );
  }
  if (shape === 'per-database' && databases.length > MAX_PER_DATABASE_SHAPE_DATABASES) {
    issue(
      ['databases'],
      `lists ${databases.length} databases: the per-database shape fits at most ${MAX_PER_DATABASE_SHAPE_DATABASES} ` +
        'in one stack (CloudFormation\'s 500-resource quota); set fleet.shape to "fleet"',
    );
  }
  if (hasSelection && fleetInput.vpc === undefined) {
    issue(
      ['fleet', 'vpc'],
      'is required with `selection`: tag-selected RDS databases are reached, and drilled, from this network (its private subnets and the security groups the databases accept)',
    );
  }
  const fleetVpcSubnets = asArray(asRecord(fleetInput.vpc).subnetIds);
  if (hasSelection && fleetInput.vpc !== undefined && fleetVpcSubnets.length < 2) {
    issue(
      ['fleet', 'vpc', 'subnetIds'],
      `lists ${fleetVpcSubnets.length} subnet(s): tag-selected databases are drilled in this network, and an RDS subnet group needs two AZs`,
    );
  }
  checkFleetNetworks(fleetInput, hasSelection, issue);
  checkProvisionedEndpoints(shape, fleetInput, databases, issue);
  if (shape !== 'fleet') {
    // (schedule and drillSchedule have defaults, so only the network can be told apart here.)
    if (fleetInput.vpc !== undefined) {
      issue(['fleet', 'vpc'], 'is only used by the fleet shape: set fleet.shape to "fleet", or remove it');
    }
  }

  // The jitter must fit every RPO, listed and tag-selected: a run may wait that long to start.
  if (shape !== 'fleet') return;
  const settings = FleetSettingsSchema.safeParse(
    Object.fromEntries(Object.keys(FleetSettingsSchema.shape).map((key) => [key, fleetInput[key]])),
  );
  if (!settings.success) return;
  const rpos = databases
    .filter((db) => typeof db.id === 'string')
    .map((db) => ({
      id: db.id as string,
      rpoHours: isNumber(db.rpoHours) ? db.rpoHours : DEFAULT_DISCOVERED_RPO_HOURS,
    }));
  if (hasSelection) {
    rpos.push({
      id: '(tag-selected)',
      rpoHours: isNumber(fleetInput.rpoHours) ? fleetInput.rpoHours : DEFAULT_DISCOVERED_RPO_HOURS,
    });
  }
  for (const problem of fleetSettingsProblems(settings.data as FleetSettings, rpos)) {
    issue(['fleet', 'startJitterMinutes'], problem.replace(/^fleet\.startJitterMinutes /, ''));
  }
}

/**
 * `provisionEndpoints`: an interface endpoint with private DNS is one per service per VPC, so two
 * placements in one VPC cannot both create them (the second fails the deploy). The fleet shape
 * creates none yet: its groups of one VPC may sit in different group stacks, and the endpoints'
 * ingress would then need references both ways. Refused there rather than silently ignored.
 */
function checkProvisionedEndpoints(
  shape: StackShape,
  fleetInput: Record<string, unknown>,
  databases: readonly Record<string, unknown>[],
  issue: (path: PropertyKey[], message: string) => void,
): void {
  const placements: { path: PropertyKey[]; vpc: Record<string, unknown> }[] = [
    { path: ['fleet', 'vpc'], vpc: asRecord(fleetInput.vpc) },
    ...asArray(fleetInput.networks).map((n, i) => ({ path: ['fleet', 'networks', i], vpc: asRecord(n) })),
    ...databases.map((db, i) => ({ path: ['databases', i, 'vpc'], vpc: asRecord(db.vpc) })),
  ].filter((p) => p.vpc.provisionEndpoints === true);
  if (shape === 'fleet') {
    for (const { path } of placements) {
      issue(
        [...path, 'provisionEndpoints'],
        'is not supported in the fleet shape yet: create the VPC endpoints the runners need in that VPC yourself ' +
          '(or give its subnets a NAT route; docs/RUNBOOK.md, "Networking"), and remove it',
      );
    }
    return;
  }
  const firstOf = new Map<unknown, PropertyKey[]>();
  for (const { path, vpc } of placements) {
    const first = firstOf.get(vpc.vpcId);
    if (first) {
      issue(
        [...path, 'provisionEndpoints'],
        `${String(vpc.vpcId)} already gets its endpoints from ${pathText(first)}: a VPC holds one interface endpoint ` +
          'with private DNS per service, so set it on one database of that VPC only',
      );
    } else {
      firstOf.set(vpc.vpcId, path);
    }
  }
}

/**
 * fleet.networks: used only with a selection; each drillable (two subnets, as fleet.vpc); one
 * network per VPC, fleet.vpc's included, because discovery routes a database by its VPC alone.
 */
function checkFleetNetworks(
  fleetInput: Record<string, unknown>,
  hasSelection: boolean,
  issue: (path: PropertyKey[], message: string) => void,
): void {
  if (fleetInput.networks === undefined) return;
  if (!hasSelection) {
    issue(
      ['fleet', 'networks'],
      'is only used by tag-selected databases (each network runs the ones discovered in its VPC): set `selection`, or remove it',
    );
    return;
  }
  const networks = asArray(fleetInput.networks).map(asRecord);
  const placements: { path: PropertyKey[]; vpcId: unknown }[] = [
    ...(fleetInput.vpc !== undefined
      ? [{ path: ['fleet', 'vpc'], vpcId: asRecord(fleetInput.vpc).vpcId }]
      : []),
    ...networks.map((n, i) => ({ path: ['fleet', 'networks', i], vpcId: n.vpcId })),
  ];
  const firstOf = new Map<unknown, PropertyKey[]>();
  for (const { path, vpcId } of placements) {
    if (typeof vpcId !== 'string') continue;
    const first = firstOf.get(vpcId);
    if (first) {
      issue(
        [...path, 'vpcId'],
        `${vpcId} is already the VPC of ${pathText(first)}: discovery routes a database by its VPC alone, so a VPC has ` +
          'one fleet network; merge the two (their subnets and security groups)',
      );
    } else {
      firstOf.set(vpcId, path);
    }
  }
  networks.forEach((network, i) => {
    const subnets = asArray(network.subnetIds);
    // (none at all is the schema's own "at least 1")
    if (subnets.length === 1) {
      issue(
        ['fleet', 'networks', i, 'subnetIds'],
        `lists ${subnets.length} subnet(s): tag-selected databases in ${String(network.vpcId)} are drilled in this network, ` +
          'and an RDS subnet group needs two AZs',
      );
    }
  });
}

const pathText = (path: readonly PropertyKey[]) =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
