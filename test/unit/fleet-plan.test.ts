/**
 * The fleet plan's networks (lib/fleet-plan.ts): every fleet network (fleet.vpc and fleet.networks)
 * gets its backup and drill runner groups whether or not a listed database uses it, tag-selected
 * databases are routed to those networks only (never to a listed database's placement), and
 * group ids and stacks stay put as networks and databases are added.
 */
import { DEFAULT_DRILL_INSTANCE_CLASS } from '../../lambda/core/drill-settings';
import { parseConfig } from '../../lib/config';
import { planFleet, runnerGroupsOf, type FleetPlan } from '../../lib/fleet-plan';
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
