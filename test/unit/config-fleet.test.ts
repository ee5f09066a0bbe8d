/**
 * `selection` and `fleet` in the config: the shape a config deploys, and every rule between
 * selection, fleet and databases[] with the message that explains it.
 */
import { DEFAULT_BACKUP_SCHEDULE } from '../../lambda/core/backup-settings';
import { DEFAULT_DRILL_SCHEDULE } from '../../lambda/core/drill-settings';
import { parseConfig } from '../../lib/config';
import { MAX_FLEET_NETWORKS } from '../../lib/config/fleet';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/app-AbC123';
const VPC = {
  vpcId: 'vpc-0123456789abcdef0',
  subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  securityGroupIds: ['sg-0123456789abcdef0'],
};

type Input = Record<string, unknown> & {
  databases?: Record<string, unknown>[];
  fleet?: Record<string, unknown>;
};

function base(): Input {
  return {
    account: '123456789012',
    primaryRegion: 'eu-west-1',
    replicaRegion: 'eu-central-1',
    databases: [{ id: 'app', secretArn: SECRET }],
  };
}

function problemsOf(input: Input): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^\s*- /, ''));
  }
  throw new Error('expected the config to be rejected');
}

/** The n-th other network: its own VPC, two subnets, one security group. */
const otherNetwork = (n: number) => {
  const hex = (v: number) => v.toString(16).padStart(17, '0');
  return {
    vpcId: `vpc-${hex(0x100 + n)}`,
    subnetIds: [`subnet-${hex(0x200 + 2 * n)}`, `subnet-${hex(0x201 + 2 * n)}`],
    securityGroupIds: [`sg-${hex(0x300 + n)}`],
  };
};
const SELECTED = { selection: { tags: { backup: 'nightly' } } };

const many = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `db-${i}`, secretArn: SECRET }));

describe('config: selection and fleet', () => {
  it('keeps the per-database shape for a small listed config, with the fleet defaults', () => {
    const config = parseConfig(base());
    expect(config.fleet).toEqual({
      shape: 'per-database',
      maxConcurrentBackups: 10,
      maxConcurrentDrills: 2,
      startJitterMinutes: 30,
      schedule: DEFAULT_BACKUP_SCHEDULE,
      drillSchedule: DEFAULT_DRILL_SCHEDULE,
      rpoHours: 24,
    });
    expect(config.selection).toBeUndefined();
  });

  it('deploys the fleet shape when databases are selected by tag, with an empty databases[]', () => {
    const config = parseConfig({
      ...base(),
      databases: undefined,
      selection: { tags: { backup: 'nightly' } },
      fleet: { vpc: VPC, maxConcurrentBackups: 25 },
    });
    expect(config.fleet.shape).toBe('fleet');
    expect(config.fleet.maxConcurrentBackups).toBe(25);
    expect(config.databases).toEqual([]);
    expect(config.selection).toEqual({
      tags: { backup: 'nightly' },
      engines: ['postgres', 'aurora-postgresql'],
    });
  });

  it('deploys the fleet shape for a listed config when asked', () => {
    expect(parseConfig({ ...base(), databases: many(30), fleet: { shape: 'fleet' } }).fleet.shape).toBe(
      'fleet',
    );
  });

  it('requires databases[] or selection', () => {
    expect(problemsOf({ ...base(), databases: [] })).toEqual([
      expect.stringMatching(/^databases is required unless `selection` finds databases by tag/),
    ]);
  });

  it('refuses more databases than the per-database shape fits, and says to switch', () => {
    expect(problemsOf({ ...base(), databases: many(9) })).toEqual([
      expect.stringMatching(
        /^databases lists 9 databases: the per-database shape fits at most 8 .*set fleet\.shape to "fleet"/,
      ),
    ]);
    expect(() => parseConfig({ ...base(), databases: many(8) })).not.toThrow();
  });

  it('refuses a selection with the per-database shape', () => {
    expect(
      problemsOf({ ...base(), selection: { tags: { a: 'b' } }, fleet: { shape: 'per-database', vpc: VPC } }),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^fleet\.shape "per-database" cannot back up tag-selected databases/),
      ]),
    );
  });

  it('requires fleet.vpc with two subnets for tag-selected databases', () => {
    expect(problemsOf({ ...base(), selection: { tags: { a: 'b' } } })).toEqual([
      expect.stringMatching(/^fleet\.vpc is required with `selection`/),
    ]);
    expect(
      problemsOf({
        ...base(),
        selection: { tags: { a: 'b' } },
        fleet: { vpc: { ...VPC, subnetIds: [VPC.subnetIds[0]] } },
      }),
    ).toEqual([expect.stringMatching(/^fleet\.vpc\.subnetIds lists 1 subnet\(s\): .*two AZs/)]);
  });

  it('refuses fleet-only settings in the per-database shape', () => {
    expect(problemsOf({ ...base(), fleet: { vpc: VPC } })).toEqual([
      'fleet.vpc is only used by the fleet shape: set fleet.shape to "fleet", or remove it',
    ]);
  });

  it('refuses a jitter as long as a listed or the tag-selected RPO, naming the database', () => {
    expect(
      problemsOf({
        ...base(),
        databases: [{ id: 'fast', secretArn: SECRET, rpoHours: 1 }],
        selection: { tags: { a: 'b' } },
        fleet: { vpc: VPC, startJitterMinutes: 90, rpoHours: 1 },
      }),
    ).toEqual([
      expect.stringMatching(
        /^fleet\.startJitterMinutes \(90\) must be shorter than the RPO of "fast" \(60 minutes\)/,
      ),
      expect.stringMatching(
        /^fleet\.startJitterMinutes \(90\) must be shorter than the RPO of "\(tag-selected\)"/,
      ),
    ]);
  });

  it('reports selection problems with their paths: empty tags, aws: keys, unknown engines, a bound over 40', () => {
    const problems = problemsOf({
      ...base(),
      selection: { tags: {}, engines: ['mysql'] },
      fleet: { shape: 'fleet', vpc: VPC, maxConcurrentDrills: 41 },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^selection\.tags must name at least one tag/),
        expect.stringMatching(/^selection\.engines\[0\] must be one of "postgres", "aurora-postgresql"/),
        expect.stringMatching(/^fleet\.maxConcurrentDrills \(41\) must be at most 40/),
      ]),
    );
    expect(
      problemsOf({
        ...base(),
        selection: { tags: { 'aws:cloudformation:stack-name': 'x' } },
        fleet: { vpc: VPC },
      }),
    ).toEqual([
      expect.stringMatching(
        /^selection\.tags\["aws:cloudformation:stack-name"\] tag key .* must not start with "aws:"/,
      ),
    ]);
  });

  describe('fleet.networks', () => {
    it('takes more networks of tag-selected databases, one per VPC, in the shape of fleet.vpc', () => {
      const config = parseConfig({
        ...base(),
        ...SELECTED,
        fleet: { vpc: VPC, networks: [otherNetwork(1), otherNetwork(2)] },
      });
      expect(config.fleet.networks?.map((n) => n.vpcId)).toEqual([
        otherNetwork(1).vpcId,
        otherNetwork(2).vpcId,
      ]);
      expect(config.fleet.networks?.[0]).toEqual({ ...otherNetwork(1), provisionEndpoints: false });
    });

    it('refuses a VPC that already has a fleet network, naming the first one', () => {
      expect(
        problemsOf({
          ...base(),
          ...SELECTED,
          fleet: {
            vpc: VPC,
            networks: [otherNetwork(1), { ...otherNetwork(2), vpcId: VPC.vpcId }, otherNetwork(1)],
          },
        }),
      ).toEqual([
        `fleet.networks[1].vpcId ${VPC.vpcId} is already the VPC of fleet.vpc: discovery routes a database by its VPC alone, ` +
          'so a VPC has one fleet network; merge the two (their subnets and security groups)',
        expect.stringMatching(
          new RegExp(
            `^fleet\\.networks\\[2\\]\\.vpcId ${otherNetwork(1).vpcId} is already the VPC of fleet\\.networks\\[0\\]:`,
          ),
        ),
      ]);
    });

    it('refuses a network with one subnet (its drills need two AZs), and one with none', () => {
      const one = { ...otherNetwork(1), subnetIds: [otherNetwork(1).subnetIds[0]] };
      expect(
        problemsOf({ ...base(), ...SELECTED, fleet: { vpc: VPC, networks: [otherNetwork(2), one] } }),
      ).toEqual([
        `fleet.networks[1].subnetIds lists 1 subnet(s): tag-selected databases in ${one.vpcId} are drilled in this network, ` +
          'and an RDS subnet group needs two AZs',
      ]);
      expect(
        problemsOf({
          ...base(),
          ...SELECTED,
          fleet: { vpc: VPC, networks: [{ ...otherNetwork(1), subnetIds: [] }] },
        }),
      ).toEqual([expect.stringMatching(/^fleet\.networks\[0\]\.subnetIds /)]);
    });

    it('refuses networks without a selection (nothing would run there), and without fleet.vpc', () => {
      expect(problemsOf({ ...base(), fleet: { shape: 'fleet', networks: [otherNetwork(1)] } })).toEqual([
        'fleet.networks is only used by tag-selected databases (each network runs the ones discovered in its VPC): ' +
          'set `selection`, or remove it',
      ]);
      expect(problemsOf({ ...base(), ...SELECTED, fleet: { networks: [otherNetwork(1)] } })).toEqual([
        expect.stringMatching(/^fleet\.vpc is required with `selection`/),
      ]);
    });

    it(`refuses more than ${MAX_FLEET_NETWORKS} networks (the discovery environment's 4 KB)`, () => {
      const networks = Array.from({ length: MAX_FLEET_NETWORKS + 1 }, (_, i) => otherNetwork(i + 1));
      expect(problemsOf({ ...base(), ...SELECTED, fleet: { vpc: VPC, networks } })).toEqual([
        expect.stringMatching(/^fleet\.networks /),
      ]);
      expect(() =>
        parseConfig({ ...base(), ...SELECTED, fleet: { vpc: VPC, networks: networks.slice(1) } }),
      ).not.toThrow();
    });
  });

  describe('provisionEndpoints', () => {
    const ROUTES = { provisionEndpoints: true, routeTableIds: ['rtb-0123456789abcdef0'] };

    it('is refused in the fleet shape wherever it is set, rather than silently not created', () => {
      expect(
        problemsOf({
          ...base(),
          databases: [{ id: 'app', secretArn: SECRET, vpc: { ...VPC, ...ROUTES } }],
          ...SELECTED,
          fleet: { vpc: { ...VPC, ...ROUTES }, networks: [{ ...otherNetwork(1), ...ROUTES }] },
        }),
      ).toEqual(
        ['fleet.vpc', 'fleet.networks[0]', 'databases[0].vpc'].map((path) =>
          expect.stringContaining(`${path}.provisionEndpoints is not supported in the fleet shape yet`),
        ),
      );
      expect(() => parseConfig({ ...base(), ...SELECTED, fleet: { vpc: VPC } })).not.toThrow();
    });

    it('per database: one set of endpoints per VPC (private DNS is one endpoint per service per VPC)', () => {
      const db = (id: string, vpc: Record<string, unknown>) => ({ id, secretArn: SECRET, vpc });
      expect(
        problemsOf({
          ...base(),
          databases: [
            db('a', { ...VPC, ...ROUTES }),
            db('b', { ...VPC, ...ROUTES }),
            db('c', { ...otherNetwork(1), ...ROUTES }),
          ],
        }),
      ).toEqual([
        expect.stringMatching(
          /^databases\[1\]\.vpc\.provisionEndpoints vpc-0123456789abcdef0 already gets its endpoints from databases\[0\]\.vpc/,
        ),
      ]);
      // Two databases of one VPC share the endpoints one of them creates.
      expect(() =>
        parseConfig({ ...base(), databases: [db('a', { ...VPC, ...ROUTES }), db('b', VPC)] }),
      ).not.toThrow();
    });
  });
});
