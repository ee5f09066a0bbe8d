/**
 * The fleet shape, planned from the config before any construct exists: which runner groups
 * (one per network) there are, which group stack each lives in, the names the fleet stack uses to
 * reach them without a reference back, each listed database's run inputs, and which schedules
 * start which databases. Pure data, so the fleet stack, the group stacks and the tests all read
 * the same plan.
 *
 * Runner groups are per *network*, not per database: a backup group runs the dump and verify of
 * every database reached from one VPC placement (or from outside any VPC); a drill group runs the
 * drills of every database drilled in one VPC. A tag-selected database costs nothing: it runs in
 * the groups of its VPC's fleet network (`fleet.vpc` or one of `fleet.networks`), which exist
 * whether or not a listed database uses them.
 *
 * A listed database with `runner: "fargate"` gets a Fargate backup group of its network (`f` +
 * hash): one per network and dump layout (and jobs, for the directory layout); and a Fargate
 * drill group of its drill network (`r` + hash), whose restore-and-check step is a Fargate task.
 * Tag-selected databases always run on their network's Lambda groups (there is no fleet-level
 * runner default; docs/FLEETS.md).
 */
import { createHash } from 'node:crypto';
import { Duration } from 'aws-cdk-lib';
import { DEFAULT_SSL_MODE } from '../lambda/core/backup-settings';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_SOURCE,
  DEFAULT_RANDOM_WINDOW_DAYS,
} from '../lambda/core/drill-settings';
import { DRILL_ACTIONS } from '../lambda/core/drill-workflow';
import { RUNNER_GROUP_KEY } from '../lambda/core/fleet-settings';
import {
  DEFAULT_FARGATE_SIZE,
  DEFAULT_FARGATE_TIMEOUT_HOURS,
  fargateJobs,
  fargateMemoryOptions,
  type DumpLayout,
  type FargateSettings,
  type FargateSize,
} from '../lambda/core/runner-settings';
import type { DatabaseConfig, RestorableConfig } from './config';
import { drillSettingsInput } from './constructs/restore-drill';
import { fargateOptionsOf } from './database-runner';

/**
 * Runner groups per group stack: each costs at most 27 resources (a Fargate drill group; measured
 * in fleet-stack.test.ts), so a group stack stays under 330.
 */
export const MAX_RUNNER_GROUPS_PER_STACK = 12;

/** The key of the execution input the orchestrator routes on (and removes before the run starts). */
export { RUNNER_GROUP_KEY };

/** The backup network of a runner group: where the dump and verify functions run. */
export interface BackupNetwork {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/** The drill network of a runner group: the drill function and its ephemeral instances. */
export interface DrillNetwork {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
}

/**
 * The Fargate task of a Fargate group: one task definition per handler serves every database of
 * the group, so it is sized for the largest of them (fargateTaskOf says why).
 */
export interface FleetFargateTask {
  /** The largest CPU of the group's databases, and the smallest Fargate memory covering each one's. */
  readonly size: FargateSize;
  /** The longest `timeoutHours` of the group's databases: every run's deadline. */
  readonly timeoutHours: number;
}

/** The Fargate task of a Fargate backup group, and how its dump runs. */
export interface FleetFargateSettings extends FleetFargateTask {
  /** The group's layout (part of its key: the dump reads it from the task's environment). */
  readonly layout: DumpLayout;
  /** pg_dump -j (part of the key with the directory layout; one per vCPU of `size` with stream). */
  readonly jobs: number;
}

export interface BackupRunnerGroup {
  readonly kind: 'backup';
  /**
   * Stable id derived from the network (`b` + hash, or `public` outside any VPC); `f` + hash of
   * the network and the layout for a Fargate group.
   */
  readonly id: string;
  /** Where the dump and verify run. */
  readonly runner: 'lambda' | 'fargate';
  /** The Fargate task, for a Fargate group. */
  readonly fargate?: FleetFargateSettings;
  /** Index of the group stack that holds it. */
  readonly stackIndex: number;
  /** The network; none for databases reachable over the internet (e.g. Supabase). */
  readonly network?: BackupNetwork;
  /** The group's backup workflow name (fixed, so the fleet stack addresses it without a reference). */
  readonly stateMachineName: string;
}

export interface DrillRunnerGroup {
  readonly kind: 'drill';
  /** `d` + hash of the network; `r` + hash for a Fargate group (not `df`: a `d` id may start so). */
  readonly id: string;
  /** Where the restore-and-check step runs (every other step runs on the drill function). */
  readonly runner: 'lambda' | 'fargate';
  /** The restore-and-check task, for a Fargate group (pg_restore -j comes with each run's input). */
  readonly fargate?: FleetFargateTask;
  readonly stackIndex: number;
  readonly network: DrillNetwork;
  readonly stateMachineName: string;
  /** Every instance class a database of the group may be drilled on (the drill role may create only these). */
  readonly instanceClasses: readonly string[];
}

/** A listed database as the fleet runs it. */
export interface ListedFleetDatabase {
  readonly id: string;
  readonly rpoHours: number;
  readonly backupGroup: string;
  /** The backup schedule, when it is not the fleet's. */
  readonly ownSchedule?: string;
  /** The backup run's execution input (secret ARN, never its value), `runnerGroup` included. */
  readonly backupExecution: Record<string, unknown>;
  /** The drill, when the database is drilled (enabled and with a network). */
  readonly drill?: {
    readonly group: string;
    readonly windowDays: number;
    readonly ownSchedule?: string;
    readonly execution: Record<string, unknown>;
  };
}

/** The runner groups of one fleet network (a VPC placement of tag-selected databases). */
export interface FleetNetworkGroups {
  readonly backupGroup: string;
  readonly drillGroup: string;
}

export interface FleetPlan {
  readonly backupGroups: readonly BackupRunnerGroup[];
  readonly drillGroups: readonly DrillRunnerGroup[];
  /** How many group stacks (each holds at most MAX_RUNNER_GROUPS_PER_STACK groups). */
  readonly stackCount: number;
  readonly listed: readonly ListedFleetDatabase[];
  /** Listed databases drill.enabled but with no network to drill in (a synth warning each). */
  readonly undrillable: readonly string[];
  /** Run inputs of tag-selected databases (discovery adds the database's own fields). */
  readonly defaults: {
    /** fleet.vpc's groups (the default network); none without a selection. */
    readonly backupGroup?: string;
    readonly drillGroup?: string;
    /**
     * The groups of each VPC a tag-selected database may be in: fleet.vpc's and fleet.networks'.
     * Discovery routes a database by its VPC to these, and skips one in any other VPC.
     */
    readonly networks: Readonly<Record<string, FleetNetworkGroups>>;
    /** Without `runnerGroup`: discovery adds the group of the database's VPC. */
    readonly backupExecution: Record<string, unknown>;
    readonly drillExecution: Record<string, unknown>;
    readonly drillWindowDays: number;
  };
  /** Per-database schedules: expression → the listed ids it starts (not the fleet's expression). */
  readonly backupSchedules: ReadonlyMap<string, readonly string[]>;
  readonly drillSchedules: ReadonlyMap<string, readonly string[]>;
}

/** A short stable hash of a network, so adding a network never renames another's group. */
const hashOf = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 8);

const sorted = (values: readonly string[]) => [...values].sort();

function backupNetworkOf(vpc: DatabaseConfig['vpc']): BackupNetwork | undefined {
  return (
    vpc && {
      vpcId: vpc.vpcId,
      subnetIds: sorted(vpc.subnetIds),
      securityGroupIds: sorted(vpc.securityGroupIds),
    }
  );
}

function drillNetworkOf(db: Pick<DatabaseConfig, 'vpc' | 'drill'>): DrillNetwork | undefined {
  const vpc = db.drill.vpc ?? db.vpc;
  return vpc && { vpcId: vpc.vpcId, subnetIds: sorted(vpc.subnetIds) };
}

/** The drill settings (the drill's own input schema) of a listed database. */
function drillSettingsOf(db: DatabaseConfig) {
  return drillSettingsInput(
    {
      selection: db.drill.selection,
      randomWindow: Duration.days(db.drill.randomWindowDays),
      rtoTarget: Duration.minutes(db.drill.rtoTargetMinutes),
      checks: db.drill.checks,
      targetMajor: db.drill.targetMajor,
      // pg_restore -j of its Fargate restore, per run (the settings travel in the run's input).
      fargate: fargateOptionsOf(db),
    },
    db.drill.source,
    db.drill.instanceClass,
  );
}

/** The backup run input of a listed database: what `BackupWorkflow.executionInput` gives, plus its overrides. */
function backupExecutionOf(db: DatabaseConfig, group: string): Record<string, unknown> {
  return {
    databaseId: db.id,
    secretArn: db.secretArn,
    schemas: {
      ...(db.schemas.include ? { include: db.schemas.include } : {}),
      ...(db.schemas.exclude ? { exclude: db.schemas.exclude } : {}),
    },
    sslMode: db.sslMode,
    tier: 'auto',
    reason: '',
    ...(db.compression ? { compression: db.compression } : {}),
    ...(db.lockWaitTimeoutSeconds !== undefined ? { lockWaitTimeoutSeconds: db.lockWaitTimeoutSeconds } : {}),
    [RUNNER_GROUP_KEY]: group,
  };
}

/** `fargate` left out of a `runner: "fargate"` database: the schema's defaults. */
const DEFAULT_FARGATE_SETTINGS: FargateSettings = {
  ...DEFAULT_FARGATE_SIZE,
  layout: 'stream',
  timeoutHours: DEFAULT_FARGATE_TIMEOUT_HOURS,
};

/**
 * The task of a Fargate group: sized for the largest of its databases rather than per run. A
 * RunTask override per run (cpu and memory from the execution input) would need the size in the
 * run's input, which the strict dump event does not take; the container's memory hard limit
 * (Control Tower) overridden with it; and ephemeral storage, which the Step Functions ECS
 * integration's CDK task cannot override. One static size keeps every run at least its
 * database's size, and a smaller database only pays for the bigger task while it runs (Fargate
 * bills per second). CPU is the largest; memory the smallest value Fargate allows with that CPU
 * that covers every database's (a bigger CPU allows other memory values: 30720 MiB is valid with
 * 4096 units, not with 8192); storage and timeout the largest.
 */
function fargateTaskOf(databases: readonly FargateSettings[]): FleetFargateTask {
  const cpu = Math.max(...databases.map((d) => d.cpu));
  const wantedMemory = Math.max(...databases.map((d) => d.memoryMiB));
  const memoryMiB = (fargateMemoryOptions(cpu) ?? []).find((m) => m >= wantedMemory);
  if (memoryMiB === undefined) {
    throw new Error(`no Fargate memory with ${cpu} CPU units covers ${wantedMemory} MiB`);
  }
  const storage = databases.flatMap((d) =>
    d.ephemeralStorageGiB === undefined ? [] : [d.ephemeralStorageGiB],
  );
  return {
    size: { cpu, memoryMiB, ...(storage.length > 0 ? { ephemeralStorageGiB: Math.max(...storage) } : {}) },
    timeoutHours: Math.max(...databases.map((d) => d.timeoutHours)),
  };
}

/** The task and dump of a Fargate backup group. */
function fargateSettingsOf(layout: DumpLayout, databases: readonly FargateSettings[]): FleetFargateSettings {
  const task = fargateTaskOf(databases);
  return {
    ...task,
    layout,
    // Equal within a directory group (its key); with stream pg_dump takes no -j.
    jobs: layout === 'directory' ? fargateJobs(databases[0]) : fargateJobs({ cpu: task.size.cpu }),
  };
}

/**
 * Plans the fleet shape of `config`. Groups are numbered into stacks in order: fleet.vpc's, then
 * each listed database's network as it first appears, then fleet.networks' in their order. So
 * adding a fleet network (the first one too, to a deployed fleet) never moves a group to another
 * stack, and neither does appending a database on a known network. (A listed database on a new
 * network may push a fleet network's group into the next stack: its id, and so its routing, stay;
 * its workflow is re-created there under the new stack's name.) Ids are hashes of the network, so
 * no change elsewhere ever renames a group.
 */
export function planFleet(config: RestorableConfig): FleetPlan {
  const backupByKey = new Map<
    string,
    { id: string; network?: BackupNetwork; fargate?: { layout: DumpLayout; databases: FargateSettings[] } }
  >();
  const drillByKey = new Map<
    string,
    { id: string; network: DrillNetwork; classes: Set<string>; fargate?: FargateSettings[] }
  >();
  const order: { kind: 'backup' | 'drill'; key: string }[] = [];

  const backupGroup = (network: BackupNetwork | undefined): string => {
    const key = JSON.stringify(network ?? null);
    let group = backupByKey.get(key);
    if (!group) {
      group = { id: network ? `b${hashOf(network)}` : 'public', network };
      backupByKey.set(key, group);
      order.push({ kind: 'backup', key });
    }
    return group.id;
  };
  // A Fargate group per network and layout (and jobs with the directory layout): the dump reads
  // both from its task's environment, not from the run's input (the dump event is strict and
  // names neither), so databases that differ in them cannot share a task. Size and timeout are
  // the group's largest instead (see fargateSettingsOf). The key never holds the size, so resizing
  // one database never renames its group or moves another database.
  const fargateGroup = (network: BackupNetwork, settings: FargateSettings): string => {
    const shape = {
      runner: 'fargate',
      network,
      layout: settings.layout,
      ...(settings.layout === 'directory' ? { jobs: fargateJobs(settings) } : {}),
    };
    const key = JSON.stringify(shape);
    let group = backupByKey.get(key);
    if (!group) {
      group = { id: `f${hashOf(shape)}`, network, fargate: { layout: settings.layout, databases: [] } };
      backupByKey.set(key, group);
      order.push({ kind: 'backup', key });
    }
    group.fargate!.databases.push(settings);
    return group.id;
  };
  // A Fargate drill group per drill network: the restore's jobs travel in each run's drill
  // settings, so only the task's size and timeout are the group's (its largest, as for backups).
  const drillGroup = (network: DrillNetwork, instanceClass: string, fargate?: FargateSettings): string => {
    const shape = fargate ? { runner: 'fargate', network } : network;
    const key = JSON.stringify(shape);
    let group = drillByKey.get(key);
    if (!group) {
      group = {
        id: fargate ? `r${hashOf(shape)}` : `d${hashOf(network)}`,
        network,
        classes: new Set(),
        ...(fargate ? { fargate: [] } : {}),
      };
      drillByKey.set(key, group);
      order.push({ kind: 'drill', key });
    }
    group.classes.add(instanceClass);
    if (fargate) group.fargate!.push(fargate);
    return group.id;
  };

  // The fleet's networks: tag-selected databases run on their VPC's. Only these, never a listed
  // database's placement: its security groups are the ones *that* database accepts (another one
  // in the VPC may refuse them, and a timeout at night says less than a skip at discovery that
  // names the VPC), and one VPC may hold several listed placements, so the choice would be a guess.
  const networks = config.selection ? fleetNetworksOf(config.fleet) : [];
  const networkGroups: Record<string, FleetNetworkGroups> = {};
  const addNetwork = (vpc: (typeof networks)[number]) => {
    networkGroups[vpc.vpcId] = {
      backupGroup: backupGroup(backupNetworkOf(vpc)),
      drillGroup: drillGroup(
        { vpcId: vpc.vpcId, subnetIds: sorted(vpc.subnetIds) },
        DEFAULT_DRILL_INSTANCE_CLASS,
      ),
    };
  };
  // fleet.vpc first (as before fleet.networks existed), fleet.networks after the listed ones.
  if (networks.length > 0) addNetwork(networks[0]);
  const defaultGroups = networks.length > 0 ? networkGroups[networks[0].vpcId] : undefined;

  const listed: ListedFleetDatabase[] = [];
  const undrillable: string[] = [];
  const backupSchedules = new Map<string, string[]>();
  const drillSchedules = new Map<string, string[]>();
  const addTo = (map: Map<string, string[]>, expression: string, id: string) =>
    map.set(expression, [...(map.get(expression) ?? []), id]);

  for (const db of config.databases) {
    const network = backupNetworkOf(db.vpc);
    const fargate = db.runner === 'fargate' ? (db.fargate ?? DEFAULT_FARGATE_SETTINGS) : undefined;
    // Config validation gives every Fargate database a vpc (Fargate tasks run in subnets).
    const group = fargate && network ? fargateGroup(network, fargate) : backupGroup(network);
    const ownSchedule = db.schedule === config.fleet.schedule ? undefined : db.schedule;
    if (ownSchedule) addTo(backupSchedules, ownSchedule, db.id);
    let drill: ListedFleetDatabase['drill'];
    const drillNetwork = drillNetworkOf(db);
    if (db.drill.enabled && drillNetwork) {
      const dg = drillGroup(drillNetwork, db.drill.instanceClass, fargate);
      const ownDrillSchedule =
        db.drill.schedule === config.fleet.drillSchedule ? undefined : db.drill.schedule;
      if (ownDrillSchedule) addTo(drillSchedules, ownDrillSchedule, db.id);
      drill = {
        group: dg,
        windowDays: db.drill.randomWindowDays,
        ownSchedule: ownDrillSchedule,
        execution: {
          action: DRILL_ACTIONS.Select,
          databaseId: db.id,
          drill: drillSettingsOf(db),
          [RUNNER_GROUP_KEY]: dg,
        },
      };
    } else if (db.drill.enabled) {
      undrillable.push(db.id);
    }
    listed.push({
      id: db.id,
      rpoHours: db.rpoHours,
      backupGroup: group,
      ownSchedule,
      backupExecution: backupExecutionOf(db, group),
      drill,
    });
  }

  networks.slice(1).forEach(addNetwork);

  const backupGroups: BackupRunnerGroup[] = [];
  const drillGroups: DrillRunnerGroup[] = [];
  order.forEach(({ kind, key }, i) => {
    const stackIndex = Math.floor(i / MAX_RUNNER_GROUPS_PER_STACK) + 1;
    if (kind === 'backup') {
      const g = backupByKey.get(key)!;
      backupGroups.push({
        kind,
        id: g.id,
        runner: g.fargate ? 'fargate' : 'lambda',
        ...(g.fargate ? { fargate: fargateSettingsOf(g.fargate.layout, g.fargate.databases) } : {}),
        stackIndex,
        network: g.network,
        // Stack index in the name: a group that moves to another stack is renamed, so the new
        // stack never collides with the old one's name during the deploy.
        stateMachineName: `restorable-fleet-${stackIndex}-${g.id}-backup`,
      });
    } else {
      const g = drillByKey.get(key)!;
      drillGroups.push({
        kind,
        id: g.id,
        runner: g.fargate ? 'fargate' : 'lambda',
        ...(g.fargate ? { fargate: fargateTaskOf(g.fargate) } : {}),
        stackIndex,
        network: g.network,
        stateMachineName: `restorable-fleet-${stackIndex}-${g.id}-drill`,
        instanceClasses: [...g.classes].sort(),
      });
    }
  });

  return {
    backupGroups,
    drillGroups,
    stackCount: Math.ceil(order.length / MAX_RUNNER_GROUPS_PER_STACK),
    listed,
    undrillable,
    defaults: {
      backupGroup: defaultGroups?.backupGroup,
      drillGroup: defaultGroups?.drillGroup,
      networks: networkGroups,
      backupExecution: {
        schemas: {},
        sslMode: DEFAULT_SSL_MODE,
        tier: 'auto',
        reason: '',
      },
      drillExecution: {
        action: DRILL_ACTIONS.Select,
        drill: drillSettingsInput({}, DEFAULT_DRILL_SOURCE, DEFAULT_DRILL_INSTANCE_CLASS),
      },
      drillWindowDays: DEFAULT_RANDOM_WINDOW_DAYS,
    },
    backupSchedules,
    drillSchedules,
  };
}

/** The fleet's networks of tag-selected databases: fleet.vpc (the default one), then fleet.networks. */
export function fleetNetworksOf(
  fleet: RestorableConfig['fleet'],
): NonNullable<RestorableConfig['fleet']['vpc']>[] {
  return fleet.vpc ? [fleet.vpc, ...(fleet.networks ?? [])] : [];
}

/**
 * The runner group of each fleet network's VPC for one workload: the discovery function's
 * `DEFAULTS.runnerGroups` (about 40 bytes a network in its 4 KB environment).
 */
export function runnerGroupsOf(plan: FleetPlan, workload: 'backup' | 'drill'): Record<string, string> {
  return Object.fromEntries(
    Object.entries(plan.defaults.networks).map(([vpcId, groups]) => [
      vpcId,
      workload === 'backup' ? groups.backupGroup : groups.drillGroup,
    ]),
  );
}
