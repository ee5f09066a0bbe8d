/**
 * The fleet plan's networks (lib/fleet-plan.ts): every fleet network (fleet.vpc and fleet.networks)
 * gets its backup and drill runner groups whether or not a listed database uses it, tag-selected
 * databases are routed to those networks only (never to a listed database's placement), and
 * group ids and stacks stay put as networks and databases are added.
 */
import { DEFAULT_DRILL_INSTANCE_CLASS } from '../../lambda/core/drill-settings';
import { DrillRunInputSchema } from '../../lambda/handlers/drill';
import { DumpEventSchema } from '../../lambda/handlers/dump';
import { parseConfig } from '../../lib/config';
import { planFleet, RUNNER_GROUP_KEY, runnerGroupsOf, type FleetPlan } from '../../lib/fleet-plan';
import { fleetConfigInput, network } from './fleet-support';

/** 24 listed databases on networks 0-11 (and outside any VPC), fleet.vpc = network 12, plus `extra`. */
function planWith(extra: number[], edit: (input: Record<string, unknown>) => void = () => {}): FleetPlan {
  const input = fleetConfigInput(24);
  const fleet = input.fleet as Record<string, unknown>;
  fleet.networks = extra.length > 0 ? extra.map(network) : undefined;
  edit(input);
  return planFleet(parseConfig(input));
}

const sorted = (values: readonly string[]) => [...values].sort();
const groupsById = (plan: FleetPlan) =>
  new Map([...plan.backupGroups, ...plan.drillGroups].map((g) => [g.id, g]));

describe('planFleet: fleet networks', () => {
  it('gives every fleet network its backup and drill groups, though no listed database is on it', () => {
    const plan = planWith([13, 14]);
    expect(Object.keys(plan.defaults.networks)).toEqual([12, 13, 14].map((n) => network(n).vpcId));
    for (const n of [12, 13, 14]) {
      const { vpcId, subnetIds, securityGroupIds } = network(n);
      const groups = plan.defaults.networks[vpcId];
      expect(plan.backupGroups.find((g) => g.id === groups.backupGroup)?.network).toEqual({
        vpcId,
        subnetIds: sorted(subnetIds),
        securityGroupIds: sorted(securityGroupIds),
      });
      expect(plan.drillGroups.find((g) => g.id === groups.drillGroup)).toMatchObject({
        network: { vpcId, subnetIds: sorted(subnetIds) },
        instanceClasses: [DEFAULT_DRILL_INSTANCE_CLASS],
      });
    }
    for (const n of [13, 14]) {
      expect(
        plan.listed.some((db) => db.backupGroup === plan.defaults.networks[network(n).vpcId].backupGroup),
      ).toBe(false);
    }
    // fleet.vpc stays the default network.
    expect(plan.defaults).toMatchObject(plan.defaults.networks[network(12).vpcId]);
  });

  it("routes tag-selected databases to fleet networks only, never to a listed database's placement", () => {
    const plan = planWith([13]);
    const listedVpcs = new Set(
      plan.backupGroups
        .filter((g) => plan.listed.some((db) => db.backupGroup === g.id))
        .map((g) => g.network?.vpcId),
    );
    expect(listedVpcs.size).toBe(13); // networks 0-11 and outside any VPC
    expect(Object.keys(plan.defaults.networks).filter((vpc) => listedVpcs.has(vpc))).toEqual([]);
    // Discovery adds the group of the database's VPC; the defaults name none.
    expect(plan.defaults.backupExecution).not.toHaveProperty('runnerGroup');
    expect(plan.defaults.drillExecution).not.toHaveProperty('runnerGroup');
    expect(runnerGroupsOf(plan, 'backup')).toEqual({
      [network(12).vpcId]: plan.defaults.networks[network(12).vpcId].backupGroup,
      [network(13).vpcId]: plan.defaults.networks[network(13).vpcId].backupGroup,
    });
    expect(runnerGroupsOf(plan, 'drill')[network(13).vpcId]).toBe(
      plan.defaults.networks[network(13).vpcId].drillGroup,
    );
  });

  it('shares one group between a fleet network and a listed database placed exactly there', () => {
    const plan = planWith([13], (input) => {
      const dbs = input.databases as Record<string, unknown>[];
      dbs[0] = { ...dbs[0], vpc: network(13) };
    });
    const groups = plan.defaults.networks[network(13).vpcId];
    expect(plan.listed[0].backupGroup).toBe(groups.backupGroup);
    expect(plan.backupGroups.filter((g) => g.network?.vpcId === network(13).vpcId)).toHaveLength(1);
  });

  it('keeps every group (id, stack, workflow name) when a fleet network is added, the first one included', () => {
    const before = [planWith([]), planWith([13]), planWith([13, 14])];
    for (let i = 1; i < before.length; i++) {
      const after = groupsById(before[i]);
      for (const [id, group] of groupsById(before[i - 1])) expect(after.get(id)).toEqual(group);
      expect(after.size).toBe(groupsById(before[i - 1]).size + 2);
    }
    // Ids come from the network alone: the same network has the same groups in any config.
    expect(planWith([14]).defaults.networks[network(14).vpcId]).toEqual(
      planWith([13, 14]).defaults.networks[network(14).vpcId],
    );
  });

  it('keeps every group when a database on a known network is appended', () => {
    const before = groupsById(planWith([13, 14]));
    const after = groupsById(
      planWith([13, 14], (input) => {
        const dbs = input.databases as Record<string, unknown>[];
        dbs.push({ ...dbs[3], id: 'db-new' });
      }),
    );
    expect(after).toEqual(before);
  });

  it('plans no fleet network without a selection', () => {
    const plan = planWith([], (input) => {
      delete input.selection;
      delete (input.fleet as Record<string, unknown>).vpc;
    });
    expect(plan.defaults.networks).toEqual({});
    expect(plan.defaults.backupGroup).toBeUndefined();
    expect(runnerGroupsOf(plan, 'backup')).toEqual({});
  });
});

describe('planFleet: Fargate databases', () => {
  /** Listed databases db-001..db-024; `fargate` entries by index (null: runner fargate, defaults). */
  const withFargate = (entries: Record<number, Record<string, unknown> | null>, extra: number[] = []) =>
    planWith(extra, (input) => {
      const dbs = input.databases as Record<string, unknown>[];
      // Only the databases named here run on Fargate (not the fixture's own).
      for (const db of dbs) {
        delete db.runner;
        delete db.fargate;
      }
      for (const [i, fargate] of Object.entries(entries)) {
        dbs[Number(i)] = { ...dbs[Number(i)], runner: 'fargate', ...(fargate ? { fargate } : {}) };
      }
    });
  const listedOf = (plan: FleetPlan, id: string) => plan.listed.find((db) => db.id === id)!;
  const groupOf = (plan: FleetPlan, id: string) =>
    plan.backupGroups.find((g) => g.id === listedOf(plan, id).backupGroup)!;

  it("gives a Fargate database a Fargate backup group of its network, apart from the network's Lambda group", () => {
    // db-004 (index 3) and db-016 (index 15) are both on network 3.
    const lambdaOnly = withFargate({});
    const plan = withFargate({ 3: null });
    const fargate = groupOf(plan, 'db-004');
    expect(fargate).toMatchObject({ runner: 'fargate', network: groupOf(lambdaOnly, 'db-004').network });
    expect(fargate.id).toMatch(/^f[0-9a-f]{8}$/);
    expect(fargate.stateMachineName).toBe(`restorable-fleet-${fargate.stackIndex}-${fargate.id}-backup`);
    // The Lambda group of the network stays, for its other database, with its id.
    // (It may move to another stack: it now first appears with db-016.)
    const lambdaGroup = groupOf(lambdaOnly, 'db-016');
    expect(groupOf(plan, 'db-016')).toMatchObject({ id: lambdaGroup.id, network: lambdaGroup.network });
    expect(groupOf(plan, 'db-016').runner).toBe('lambda');
    // The run is routed there: `runnerGroup` of its execution input.
    expect(listedOf(plan, 'db-004').backupExecution[RUNNER_GROUP_KEY]).toBe(fargate.id);
    expect(listedOf(plan, 'db-016').backupExecution[RUNNER_GROUP_KEY]).toBe(groupOf(plan, 'db-016').id);
    expect(plan.backupGroups).toHaveLength(lambdaOnly.backupGroups.length + 1);
    // Tag-selected databases stay on the fleet networks' Lambda groups.
    for (const groups of Object.values(plan.defaults.networks)) {
      expect(plan.backupGroups.find((g) => g.id === groups.backupGroup)?.runner).toBe('lambda');
    }
  });

  it('keeps Fargate group ids stable: from the network and layout, not the size or the other databases', () => {
    const a = withFargate({ 3: { cpu: 1024, memoryMiB: 2048 } });
    const b = withFargate({ 3: { cpu: 16384, memoryMiB: 32768, timeoutHours: 30 }, 15: null }, [13]);
    expect(groupOf(b, 'db-004').id).toBe(groupOf(a, 'db-004').id);
    expect(groupOf(b, 'db-016').id).toBe(groupOf(a, 'db-004').id);
    // Another layout is another task environment, so another group; another network too.
    const directory = withFargate({
      3: { layout: 'directory', jobs: 4 },
      15: { layout: 'directory', jobs: 8 },
    });
    expect(groupOf(directory, 'db-004').id).not.toBe(groupOf(a, 'db-004').id);
    expect(groupOf(directory, 'db-016').id).not.toBe(groupOf(directory, 'db-004').id);
    expect(groupOf(withFargate({ 4: null }), 'db-005').id).not.toBe(groupOf(a, 'db-004').id);
  });

  it("sizes a Fargate group's task for the largest of its databases, and its deadline for the longest timeout", () => {
    const plan = withFargate({
      // The largest of each is on either database (the first is not simply taken).
      3: { cpu: 4096, memoryMiB: 30720, ephemeralStorageGiB: 60, timeoutHours: 6 },
      15: { cpu: 8192, memoryMiB: 16384, timeoutHours: 20 },
    });
    expect(groupOf(plan, 'db-004').fargate).toEqual({
      // 30720 MiB is not a memory 8192 units allow (16-60 GiB by 4 GiB): the next one is.
      size: { cpu: 8192, memoryMiB: 32768, ephemeralStorageGiB: 60 },
      layout: 'stream',
      jobs: 8,
      timeoutHours: 20,
    });
    expect(groupOf(withFargate({ 3: null }), 'db-004').fargate).toEqual({
      size: { cpu: 2048, memoryMiB: 4096 },
      layout: 'stream',
      jobs: 2,
      timeoutHours: 12,
    });
    expect(
      groupOf(withFargate({ 3: { layout: 'directory', jobs: 3, cpu: 4096 } }), 'db-004').fargate,
    ).toMatchObject({
      layout: 'directory',
      jobs: 3,
    });
  });

  it('drills a Fargate database on a Fargate drill group of its drill network, with its own pg_restore jobs', () => {
    const lambdaOnly = withFargate({});
    const plan = withFargate({
      3: { cpu: 4096, memoryMiB: 8192, ephemeralStorageGiB: 80, timeoutHours: 4 },
      15: { cpu: 2048, memoryMiB: 4096, jobs: 1, timeoutHours: 10 },
    });
    const drillOf = (p: FleetPlan, id: string) => listedOf(p, id).drill!;
    const group = plan.drillGroups.find((g) => g.id === drillOf(plan, 'db-004').group)!;
    expect(group.id).toMatch(/^r[0-9a-f]{8}$/);
    expect(group).toMatchObject({
      runner: 'fargate',
      network: lambdaOnly.drillGroups.find((g) => g.id === drillOf(lambdaOnly, 'db-004').group)!.network,
      fargate: { size: { cpu: 4096, memoryMiB: 8192, ephemeralStorageGiB: 80 }, timeoutHours: 10 },
    });
    // Both share it; each run names it and carries its own jobs (the drill settings of the run).
    expect(drillOf(plan, 'db-016').group).toBe(group.id);
    expect(drillOf(plan, 'db-004').execution).toMatchObject({
      [RUNNER_GROUP_KEY]: group.id,
      drill: { jobs: 4 },
    });
    expect(drillOf(plan, 'db-016').execution).toMatchObject({ drill: { jobs: 1 } });
    // As the runners parse them once the orchestrator has taken runnerGroup out.
    const withoutGroup = (execution: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(execution).filter(([key]) => key !== RUNNER_GROUP_KEY));
    for (const id of ['db-004', 'db-016']) {
      expect(DrillRunInputSchema.safeParse(withoutGroup(drillOf(plan, id).execution)).error).toBeUndefined();
      expect(
        DumpEventSchema.safeParse(withoutGroup(listedOf(plan, id).backupExecution)).error,
      ).toBeUndefined();
    }
    // Network 3 has no Lambda-drilled database left: no Lambda drill group there.
    expect(plan.drillGroups.filter((g) => g.network.vpcId === network(3).vpcId)).toEqual([group]);
    // A Lambda database's run carries no jobs and stays on its Lambda group.
    const other = drillOf(plan, 'db-002');
    expect(plan.drillGroups.find((g) => g.id === other.group)?.runner).toBe('lambda');
    expect(other.execution.drill).not.toHaveProperty('jobs');
  });
});
