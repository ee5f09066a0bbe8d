/**
 * The fleet fixture of the fleet tests: a config of 300 databases — 240 listed with varied
 * settings (12 backup networks, databases outside any VPC drilled in a VPC of their own, three
 * backup schedules, two drill schedules, RPOs, compression, lock waits, schemas, drills on other
 * instance classes or off, four on the Fargate runner) and a tag selection for the rest, found in fleet.vpc and two more
 * fleet networks that no listed database uses — and the app bin/app.ts builds from it.
 */
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { addFleetGroupStacks, type FleetGroupStack } from '../../lib/stacks/fleet-group-stack';
import { parseConfig, type RestorableConfig } from '../../lib/config';
import { exampleConfigInput, newApp } from './cdk-support';

export const LISTED = 240;
/** Tag-selected at run time: they cost no resource, so the template is the same for any number. */
export const TAG_SELECTED = 60;
/** fleet.vpc, then fleet.networks: where tag-selected databases may be. */
export const FLEET_NETWORKS = [12, 13, 14];

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');
export const network = (n: number) => ({
  vpcId: `vpc-${hex(0xa0 + n)}`,
  subnetIds: [`subnet-${hex(0x100 + 2 * n)}`, `subnet-${hex(0x101 + 2 * n)}`],
  securityGroupIds: [`sg-${hex(0x200 + n)}`],
});

/**
 * Listed databases on the Fargate runner (index → `fargate`, or null for the defaults): two of
 * different sizes sharing network 7's Fargate group (its task must cover both: the largest CPU,
 * and 30720 MiB rounded up to a memory 8192 CPU units allow), a directory dump on network 3, the
 * defaults on network 11.
 */
export const FARGATE_LISTED: Readonly<Record<number, Record<string, unknown> | null>> = {
  7: { cpu: 4096, memoryMiB: 30720, ephemeralStorageGiB: 50, timeoutHours: 20 },
  47: null,
  87: { cpu: 4096, memoryMiB: 8192, ephemeralStorageGiB: 100, layout: 'directory', jobs: 4 },
  127: { cpu: 8192, memoryMiB: 16384, timeoutHours: 6 },
};

export function fleetConfigInput(listed = LISTED): Record<string, unknown> {
  const input = exampleConfigInput() as Record<string, unknown>;
  input.databases = Array.from({ length: listed }, (_, i) => {
    const id = `db-${String(i + 1).padStart(3, '0')}`;
    const secretArn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/${id}-AbC123`;
    const external = i % 20 === 19;
    return {
      id,
      secretArn,
      engine: external ? 'external' : 'postgres',
      ...(external ? {} : { vpc: network(i % 12) }),
      schedule: ['cron(0 2 * * ? *)', 'cron(30 1 * * ? *)', 'cron(0 4 * * ? *)'][i % 3],
      rpoHours: [24, 12, 48, 6][i % 4],
      ...(i % 5 === 0 ? { compression: { kind: 'gzip', level: 6 } } : {}),
      ...(i % 7 === 0 ? { lockWaitTimeoutSeconds: 120 } : {}),
      ...(i % 9 === 0 ? { schemas: { include: ['public'] } } : {}),
      ...(i in FARGATE_LISTED
        ? { runner: 'fargate', ...(FARGATE_LISTED[i] ? { fargate: FARGATE_LISTED[i] } : {}) }
        : {}),
      drill: {
        enabled: i % 6 !== 5,
        ...(i % 4 === 1 ? { schedule: 'cron(0 5 ? * 1L *)' } : {}),
        ...(i % 8 === 2 ? { instanceClass: 'db.r6g.large' } : {}),
        ...(external ? { vpc: { vpcId: network(0).vpcId, subnetIds: network(0).subnetIds } } : {}),
        ...(i % 10 === 3
          ? { rtoTargetMinutes: 30, checks: [{ name: 'rows', sql: 'select 1', expect: { rows: 1 } }] }
          : {}),
      },
    };
  });
  input.selection = { tags: { 'restorable:backup': 'nightly' } };
  input.fleet = {
    shape: 'fleet',
    vpc: network(FLEET_NETWORKS[0]),
    networks: FLEET_NETWORKS.slice(1).map(network),
    maxConcurrentBackups: 25,
    maxConcurrentDrills: 3,
    startJitterMinutes: 45,
  };
  return input;
}

export function fleetConfig(listed = LISTED): RestorableConfig {
  return parseConfig(fleetConfigInput(listed));
}

/** The stacks bin/app.ts creates from `config`. */
export function fleetApp(config: RestorableConfig = fleetConfig()) {
  const app = newApp();
  const replica = new ReplicaStack(app, 'RestorableReplica', { config });
  const backup = new BackupStack(app, 'RestorableBackup', { config });
  backup.addStackDependency(replica);
  const groups: FleetGroupStack[] = addFleetGroupStacks(app, backup);
  return { app, replica, backup, groups };
}
