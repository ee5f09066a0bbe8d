/**
 * The drill-instance sweeper (TESTING 11): across every page of DescribeDBInstances it deletes
 * exactly the expired, drill-tagged, drill-named instances, leaves everything else alone, and the
 * handler publishes how many it found as OrphanedDrillInstances.
 */
// @ts-nocheck

import {
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { sweepDrillInstances } from '../../lambda/core/sweeper';
import { handler } from '../../lambda/handlers/sweeper';

const rds = mockClient(RDSClient);
const now = new Date('2026-11-28T12:00:00Z');
const past = '2026-11-28T03:00:00.000Z';
const future = '2026-11-29T03:00:00.000Z';

const instance = (id: string, tags: Record<string, string>, status = 'available'): DBInstance => ({
  DBInstanceIdentifier: id,
  DBInstanceStatus: status,
  TagList: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});

const drillTags = (expiresAt: string) => ({
  'restorable:drill': 'true',
  'restorable:expires-at': expiresAt,
  'restorable:database': 'orders',
});

const page1 = [
  instance('restorable-drill-orders-20261127030000', drillTags(past)), // expired: delete
  instance('orders-prod', drillTags(past)), // tagged, but not a drill name: keep
  instance('restorable-drill-orders-20261128110000', drillTags(future)), // not expired: keep
];
const page2 = [
  instance('restorable-drill-billing-20261120030000', { 'restorable:expires-at': past }), // untagged drill: keep
  instance('restorable-drill-billing-20261121030000', drillTags('next tuesday')), // bad expiry: keep
  instance('restorable-drill-billing-20261122030000', drillTags(past), 'deleting'), // already going
  instance('restorable-drill-billing-20261123030000', drillTags(past)), // expired: delete
  instance('analytics', {}), // not ours at all
];

beforeEach(() => {
  rds.reset();
  rds
    .on(DescribeDBInstancesCommand)
    .callsFake(async (input: { Marker?: string }) =>
      input.Marker === 'page-2' ? { DBInstances: page2 } : { DBInstances: page1, Marker: 'page-2' },
    );
  rds.on(DeleteDBInstanceCommand).resolves({});
});

describe('sweepDrillInstances', () => {
  it('deletes only expired instances that are drill-named and drill-tagged, on every page', async () => {
    const result = await sweepDrillInstances({ rds: new RDSClient({}), now: () => now });
    const deleted = rds.commandCalls(DeleteDBInstanceCommand).map((c) => c.args[0].input);
    expect(deleted).toEqual([
      {
        DBInstanceIdentifier: 'restorable-drill-orders-20261127030000',
        SkipFinalSnapshot: true,
        DeleteAutomatedBackups: true,
      },
      {
        DBInstanceIdentifier: 'restorable-drill-billing-20261123030000',
        SkipFinalSnapshot: true,
        DeleteAutomatedBackups: true,
      },
    ]);
    expect(result.found).toBe(3);
    expect(result.deleted).toBe(2);
    expect(result.instances.map((i) => [i.id, i.action])).toEqual([
      ['restorable-drill-orders-20261127030000', 'deleted'],
      ['restorable-drill-billing-20261122030000', 'already-deleting'],
      ['restorable-drill-billing-20261123030000', 'deleted'],
    ]);
    expect(Object.fromEntries(result.kept.map((k) => [k.id, k.reason]))).toEqual({
      'restorable-drill-orders-20261128110000': `expires at ${future}`,
      'restorable-drill-billing-20261120030000': 'not tagged restorable:drill=true',
      'restorable-drill-billing-20261121030000': 'restorable:expires-at "next tuesday" is not a time',
    });
    expect(rds.commandCalls(DescribeDBInstancesCommand)).toHaveLength(2);
  });

  it('deletes nothing in a dry run', async () => {
    const result = await sweepDrillInstances({ rds: new RDSClient({}), now: () => now, dryRun: true });
    expect(result.found).toBe(3);
    expect(result.deleted).toBe(0);
    expect(rds.commandCalls(DeleteDBInstanceCommand)).toHaveLength(0);
  });

  it('records a failed deletion and carries on; an instance that vanished meanwhile is fine', async () => {
    rds
      .on(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'restorable-drill-orders-20261127030000' })
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));
    rds
      .on(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'restorable-drill-billing-20261123030000' })
      .rejects(new DBInstanceNotFoundFault({ message: 'gone', $metadata: {} }));
    const result = await sweepDrillInstances({ rds: new RDSClient({}), now: () => now });
    expect(result.failed).toBe(1);
    expect(result.instances.find((i) => i.action === 'failed')).toMatchObject({
      id: 'restorable-drill-orders-20261127030000',
      error: 'AccessDenied: not authorized',
    });
    expect(result.instances.find((i) => i.id === 'restorable-drill-billing-20261123030000')!.action).toBe(
      'already-deleting',
    );
  });
});

describe('sweeper handler', () => {
  let out: string[];
  let spies: jest.SpyInstance[];
  beforeEach(() => {
    out = [];
    const capture = (chunk: string | Uint8Array) => {
      out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    };
    spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
  });
  afterEach(() => spies.forEach((s) => s.mockRestore()));

  const orphanedMetric = () => {
    const doc = out
      .join('')
      .split('\n')
      .filter((l) => l.includes('"_aws"'))
      .map(
        (l) =>
          JSON.parse(l) as Record<string, unknown> & {
            _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] };
          },
      )
      .find((d) => 'OrphanedDrillInstances' in d)!;
    return { value: doc.OrphanedDrillInstances, dimensions: doc._aws.CloudWatchMetrics[0].Dimensions };
  };

  it('publishes OrphanedDrillInstances with the number of expired drill instances found, without dimensions', async () => {
    jest.useFakeTimers({ now, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval'] });
    try {
      const result = await handler({});
      expect(result.deleted).toBe(2);
    } finally {
      jest.useRealTimers();
    }
    expect(orphanedMetric()).toEqual({ value: 3, dimensions: [[]] });
    const doc = out
      .join('')
      .split('\n')
      .find((l) => l.includes('OrphanedDrillInstances'))!;
    expect(JSON.parse(doc)._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Restorable',
      Metrics: [{ Name: 'OrphanedDrillInstances', Unit: 'Count' }],
    });
  });

  it('publishes 0 when there is nothing to sweep', async () => {
    rds.reset();
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance('orders-prod', {})] });
    const result = await handler({});
    expect(result.found).toBe(0);
    expect(orphanedMetric().value).toBe(0);
  });

  it('fails the invocation when an expired instance could not be deleted, after publishing the metric', async () => {
    rds.on(DeleteDBInstanceCommand).rejects(Object.assign(new Error('throttled'), { name: 'Throttling' }));
    jest.useFakeTimers({ now, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval'] });
    try {
      await expect(handler({})).rejects.toThrow(/could not delete 2 expired drill instance\(s\)/);
    } finally {
      jest.useRealTimers();
    }
    expect(orphanedMetric().value).toBe(3);
  });
});
