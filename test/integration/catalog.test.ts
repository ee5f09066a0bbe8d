/**
 * The catalog against the local S3 server (no PostgreSQL: fake backups whose manifests match their
 * bytes): what counts as a valid backup, why the others are not, the order "newest" means, the
 * periods placement sees as occupied, and "latest good" when the newest one's bytes are corrupt.
 * The server returns three keys per ListObjectsV2 page, so every listing follows continuation.
 */
import * as fs from 'node:fs';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  backupIdTime,
  latestValidBackup,
  listBackups,
  occupiedPeriods,
  type BackupEntry,
} from '../../lambda/core/catalog';
import { directoryPrefixOf, keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { makeS3Client } from '../../lambda/core/s3';
import { putFakeBackup } from '../support/fake-backup';
import { startS3Harness, type S3Harness } from '../support/harness';

jest.setTimeout(60_000);

let h: S3Harness;

const at = (iso: string) => new Date(iso);
const put = (key: string, body: string | Buffer) =>
  h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: body }));
/** Rewrites a stored manifest with `change` applied (as a buggy or hostile writer would). */
const rewriteManifest = (m: Manifest, change: (copy: Record<string, unknown>) => void) => {
  const copy = structuredClone(m) as unknown as Record<string, unknown>;
  change(copy);
  return put(keysOfManifest(m).manifest, JSON.stringify(copy));
};
const summary = (entries: BackupEntry[]) =>
  entries.map((e) => ({ backupId: e.backupId, tier: e.tier, valid: e.valid, problem: e.problem }));

beforeAll(async () => {
  // Three keys per listing page: every listing below crosses pages, as a real bucket's do.
  h = await startS3Harness({ listPageSize: 3 });
});

afterAll(async () => {
  await h?.stop();
});

describe('backupIdTime', () => {
  test('reads the UTC time at the end of a backup id', () => {
    expect(backupIdTime('orders-20261122T020304Z').toISOString()).toBe('2026-11-22T02:03:04.000Z');
    expect(backupIdTime('a-b-20270101T235959Z').toISOString()).toBe('2027-01-01T23:59:59.000Z');
  });

  test('refuses an id without one, naming it', () => {
    expect(() => backupIdTime('orders-latest')).toThrow('backup id "orders-latest" has no timestamp');
    expect(() => backupIdTime('orders-20261122T020304Zx')).toThrow(/has no timestamp/);
  });
});

describe('listBackups', () => {
  let good: Manifest[];

  beforeAll(async () => {
    good = [
      await putFakeBackup(h.s3, h.bucket, {
        databaseId: 'shop',
        at: at('2026-03-02T02:00:00Z'),
        bytes: 100,
        tier: 'yearly',
      }),
      await putFakeBackup(h.s3, h.bucket, {
        databaseId: 'shop',
        at: at('2026-03-03T02:00:00Z'),
        bytes: 200,
        tier: 'monthly',
      }),
      await putFakeBackup(h.s3, h.bucket, {
        databaseId: 'shop',
        at: at('2026-03-04T02:00:00Z'),
        bytes: 300,
        tier: 'weekly',
      }),
      await putFakeBackup(h.s3, h.bucket, { databaseId: 'shop', at: at('2026-03-05T02:00:00Z'), bytes: 400 }),
    ];
    // Another database whose id starts the same way: never part of "shop".
    await putFakeBackup(h.s3, h.bucket, { databaseId: 'shop-eu', at: at('2026-03-06T02:00:00Z'), bytes: 50 });
  });

  test('lists the valid backups of one database across tiers, newest first, with sizes and times', async () => {
    const entries = await listBackups(h.s3, h.bucket, 'shop');
    expect(entries.map((e) => e.backupId)).toEqual([
      'shop-20260305T020000Z',
      'shop-20260304T020000Z',
      'shop-20260303T020000Z',
      'shop-20260302T020000Z',
    ]);
    expect(entries[0]).toMatchObject({
      databaseId: 'shop',
      tier: 'daily',
      period: '2026-03-05',
      manifestKey: 'daily/shop/2026-03-05/shop-20260305T020000Z.manifest.json',
      dumpKey: 'daily/shop/2026-03-05/shop-20260305T020000Z.dump',
      valid: true,
      bytes: 400,
      createdAt: at('2026-03-05T02:00:00Z'),
    });
    expect(entries[0].problem).toBeUndefined();
    expect(entries[0].manifest).toEqual(good[3]);
    expect(entries[0].lastModified).toBeInstanceOf(Date);
    expect(Math.abs(entries[0].lastModified!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(entries.map((e) => e.tier)).toEqual(['daily', 'weekly', 'monthly', 'yearly']);
  });

  test('narrows to one tier, and to one period of it', async () => {
    expect((await listBackups(h.s3, h.bucket, 'shop', { tier: 'weekly' })).map((e) => e.backupId)).toEqual([
      'shop-20260304T020000Z',
    ]);
    expect(await listBackups(h.s3, h.bucket, 'shop', { tier: 'weekly', period: '2026-W10' })).toHaveLength(1);
    expect(await listBackups(h.s3, h.bucket, 'shop', { tier: 'weekly', period: '2026-W11' })).toEqual([]);
    // A period alone (without a tier) narrows nothing: periods are per tier.
    expect(await listBackups(h.s3, h.bucket, 'shop', { period: '2026-W11' })).toHaveLength(4);
  });

  test('a backup whose manifest or dump is wrong is not valid, and includeInvalid says why', async () => {
    const db = 'broken';
    const base = Date.UTC(2026, 4, 1, 2);
    const day = (n: number) => new Date(base + n * 86_400_000);
    const ms: Manifest[] = [];
    for (let i = 0; i < 8; i++) {
      ms.push(await putFakeBackup(h.s3, h.bucket, { databaseId: db, at: day(i), bytes: 100 + i }));
    }
    await rewriteManifest(ms[1], (c) => (c.backupId = 'broken-20990101T000000Z'));
    await rewriteManifest(ms[2], (c) => (c.databaseId = 'other'));
    await rewriteManifest(ms[3], (c) => (c.period = '2026-05-31'));
    await rewriteManifest(ms[4], (c) => (c.object = { ...ms[4].object, key: 'daily/broken/elsewhere.dump' }));
    await put(ms[5].object.key, Buffer.alloc(ms[5].object.bytes + 1)); // the dump changed size
    fs.rmSync(h.s3server.objectPath(h.bucket, ms[6].object.key)); // the dump vanished
    await put(keysOfManifest(ms[7]).manifest, '{ not json'); // garbage manifest
    // A dump whose manifest was never written (a failed run), and one of another database.
    await put('daily/broken/2026-05-20/broken-20260520T020000Z.dump', 'PGDMP partial');
    await put('daily/broken/2026-05-20/other-20260520T020000Z.dump', 'PGDMP');
    await put('daily/broken/2026-05-20/notes.txt', 'not a backup');

    expect((await listBackups(h.s3, h.bucket, db)).map((e) => e.backupId)).toEqual([
      'broken-20260501T020000Z',
    ]);

    const all = await listBackups(h.s3, h.bucket, db, { includeInvalid: true });
    expect(summary(all)).toEqual([
      {
        backupId: 'broken-20260520T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'manifest missing (run failed, still running, or manifest deleted)',
      },
      {
        backupId: 'broken-20260508T020000Z',
        tier: 'daily',
        valid: false,
        problem: expect.stringMatching(/^manifest unreadable: manifest is not valid JSON/),
      },
      { backupId: 'broken-20260507T020000Z', tier: 'daily', valid: false, problem: 'dump object missing' },
      {
        backupId: 'broken-20260506T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'dump is 106 bytes, manifest says 105',
      },
      {
        backupId: 'broken-20260505T020000Z',
        tier: 'daily',
        valid: false,
        problem:
          'manifest names dump daily/broken/elsewhere.dump, expected daily/broken/2026-05-05/broken-20260505T020000Z.dump',
      },
      {
        backupId: 'broken-20260504T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'manifest tier/period daily/2026-05-31 does not match its key',
      },
      {
        backupId: 'broken-20260503T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'manifest databaseId other does not match its key',
      },
      {
        backupId: 'broken-20260502T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'manifest backupId broken-20990101T000000Z does not match its key',
      },
      { backupId: 'broken-20260501T020000Z', tier: 'daily', valid: true, problem: undefined },
    ]);
    // The orphaned dump is described from the object itself.
    expect(all[0]).toMatchObject({
      manifestKey: 'daily/broken/2026-05-20/broken-20260520T020000Z.manifest.json',
      dumpKey: 'daily/broken/2026-05-20/broken-20260520T020000Z.dump',
      bytes: 13,
      period: '2026-05-20',
      databaseId: db,
      createdAt: at('2026-05-20T02:00:00Z'),
    });
    expect(all[0].lastModified).toBeInstanceOf(Date);
    expect(all[0].manifest).toBeUndefined();
    // An unreadable manifest still points at the dump its key implies.
    expect(all[1]).toMatchObject({ dumpKey: 'daily/broken/2026-05-08/broken-20260508T020000Z.dump' });
    // A manifest that parsed is kept, with the manifest's own view of the dump.
    expect(all[4]).toMatchObject({ dumpKey: 'daily/broken/elsewhere.dump', bytes: 104 });
    expect(all[4].manifest?.databaseId).toBe(db);
  });

  test('a tier mismatch alone makes a backup invalid', async () => {
    const m = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'tiered',
      at: at('2026-06-01T02:00:00Z'),
      bytes: 10,
    });
    await rewriteManifest(m, (c) => (c.tier = 'weekly'));
    expect(summary(await listBackups(h.s3, h.bucket, 'tiered', { includeInvalid: true }))).toEqual([
      {
        backupId: 'tiered-20260601T020000Z',
        tier: 'daily',
        valid: false,
        problem: 'manifest tier/period weekly/2026-06-01 does not match its key',
      },
    ]);
  });

  test('two backups with the same time are ordered by manifest LastModified, then by id', async () => {
    // The same second in two tiers (an operator's forced tier beside the scheduled one).
    const t = at('2026-07-01T02:00:00Z');
    const daily = await putFakeBackup(h.s3, h.bucket, { databaseId: 'tie', at: t, bytes: 10 });
    const weekly = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'tie',
      at: t,
      bytes: 20,
      tier: 'weekly',
    });
    const setTime = (m: Manifest, iso: string) =>
      fs.utimesSync(h.s3server.objectPath(h.bucket, keysOfManifest(m).manifest), at(iso), at(iso));
    setTime(daily, '2026-07-01T03:00:00Z');
    setTime(weekly, '2026-07-01T02:30:00Z');
    expect((await listBackups(h.s3, h.bucket, 'tie')).map((e) => e.tier)).toEqual(['daily', 'weekly']);
    setTime(daily, '2026-07-01T02:10:00Z');
    expect((await listBackups(h.s3, h.bucket, 'tie')).map((e) => e.tier)).toEqual(['weekly', 'daily']);
    setTime(daily, '2026-07-01T02:30:00Z');
    // Same id in both: the order must still be total and stable (no throw, both listed).
    expect(await listBackups(h.s3, h.bucket, 'tie')).toHaveLength(2);
  });
});

describe('directory layout and sizes from the listing', () => {
  test('a directory-layout backup names its .dir/toc.dat, not a .dump, and is judged by it', async () => {
    const db = 'dirdb';
    const m = await putFakeBackup(h.s3, h.bucket, {
      databaseId: db,
      at: at('2026-06-01T02:00:00Z'),
      bytes: 64,
    });
    const toc = `${directoryPrefixOf(m)}toc.dat`;
    const dump = fs.readFileSync(__filename).subarray(0, 64);
    await put(toc, dump);
    await rewriteManifest(m, (c) => {
      c.layout = 'directory';
      (c.pgDump as Record<string, unknown>).format = 'directory';
      c.object = { ...(c.object as object), key: toc };
      c.files = [{ name: 'toc.dat', key: toc, bytes: 64, sha256: (m.object as { sha256: string }).sha256 }];
    });
    expect(summary(await listBackups(h.s3, h.bucket, db))).toEqual([
      { backupId: m.backupId, tier: 'daily', valid: true, problem: undefined },
    ]);
    // The same manifest naming the .dump while saying directory: not this backup's object.
    await rewriteManifest(m, (c) => {
      c.layout = 'directory';
      (c.pgDump as Record<string, unknown>).format = 'directory';
    });
    expect((await listBackups(h.s3, h.bucket, db, { includeInvalid: true }))[0]).toMatchObject({
      valid: false,
      problem: `manifest names dump ${m.object.key}, expected ${toc}`,
    });
  });

  test('dumpFromListing: presence and size from the listing, with the same verdicts as HeadObject', async () => {
    const db = 'listed-sizes';
    const ok = await putFakeBackup(h.s3, h.bucket, {
      databaseId: db,
      at: at('2026-07-01T02:00:00Z'),
      bytes: 120,
    });
    const short = await putFakeBackup(h.s3, h.bucket, {
      databaseId: db,
      at: at('2026-07-02T02:00:00Z'),
      bytes: 80,
    });
    await put(short.object.key, Buffer.from('PGDMP'));
    const gone = await putFakeBackup(h.s3, h.bucket, {
      databaseId: db,
      at: at('2026-07-03T02:00:00Z'),
      bytes: 50,
    });
    await h.s3.send(new DeleteObjectCommand({ Bucket: h.bucket, Key: gone.object.key }));
    const expected = [
      { backupId: gone.backupId, tier: 'daily', valid: false, problem: 'dump object missing' },
      { backupId: short.backupId, tier: 'daily', valid: false, problem: 'dump is 5 bytes, manifest says 80' },
      { backupId: ok.backupId, tier: 'daily', valid: true, problem: undefined },
    ];
    const opts = { includeInvalid: true };
    expect(summary(await listBackups(h.s3, h.bucket, db, { ...opts, dumpFromListing: true }))).toEqual(
      expected,
    );
    expect(summary(await listBackups(h.s3, h.bucket, db, opts))).toEqual(expected);
  });
});

describe('races and errors while listing', () => {
  /** A client on the same server that runs `after` once a response of `command` has arrived. */
  function clientWith(command: string, after: (output: Record<string, unknown>) => void): S3Client {
    const s3 = makeS3Client();
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === command) after(out.output as unknown as Record<string, unknown>);
        return out;
      },
      { step: 'initialize', name: 'testRace' },
    );
    return s3;
  }

  test('a manifest deleted between listing and reading is reported, not thrown', async () => {
    const m = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'race',
      at: at('2026-08-01T02:00:00Z'),
      bytes: 10,
    });
    const manifest = keysOfManifest(m).manifest;
    // Delete the manifest from the store as soon as a listing has seen it.
    const s3 = clientWith('ListObjectsV2Command', (out) => {
      if ((out.Contents as { Key?: string }[] | undefined)?.some((o) => o.Key === manifest)) {
        fs.rmSync(h.s3server.objectPath(h.bucket, manifest), { force: true });
      }
    });
    try {
      expect(summary(await listBackups(s3, h.bucket, 'race', { includeInvalid: true }))).toEqual([
        { backupId: m.backupId, tier: 'daily', valid: false, problem: 'manifest disappeared while listing' },
      ]);
    } finally {
      s3.destroy();
    }
  });

  test('an error other than not-found while checking the dump fails the listing', async () => {
    await putFakeBackup(h.s3, h.bucket, { databaseId: 'denied', at: at('2026-08-02T02:00:00Z'), bytes: 10 });
    const s3 = clientWith('HeadObjectCommand', () => {
      throw Object.assign(new Error('Access Denied'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    });
    try {
      await expect(listBackups(s3, h.bucket, 'denied')).rejects.toThrow('Access Denied');
    } finally {
      s3.destroy();
    }
  });
});

describe('occupiedPeriods', () => {
  test('the yearly, monthly and weekly periods of the moment that hold a valid backup', async () => {
    await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'occ',
      at: at('2026-09-01T02:00:00Z'),
      bytes: 10,
      tier: 'yearly',
    });
    await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'occ',
      at: at('2026-09-07T02:00:00Z'),
      bytes: 10,
      tier: 'weekly',
    });
    // Last month's monthly does not occupy this month.
    await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'occ',
      at: at('2026-08-31T02:00:00Z'),
      bytes: 10,
      tier: 'monthly',
    });
    const occupied = await occupiedPeriods(h.s3, h.bucket, 'occ', at('2026-09-08T02:00:00Z'));
    expect([...occupied].sort()).toEqual(['weekly/2026-W37', 'yearly/2026']);
    expect([...(await occupiedPeriods(h.s3, h.bucket, 'occ', at('2027-01-01T02:00:00Z')))]).toEqual([]);
  });
});

describe('latestValidBackup', () => {
  test('the newest valid backup, or the newest that re-verifies, reporting the ones skipped', async () => {
    const older = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'rot',
      at: at('2026-10-01T02:00:00Z'),
      bytes: 64,
    });
    const newer = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'rot',
      at: at('2026-10-02T02:00:00Z'),
      bytes: 64,
    });
    // Bit rot in the newer dump: same size, one byte flipped.
    const file = h.s3server.objectPath(h.bucket, newer.object.key);
    const bytes = fs.readFileSync(file);
    bytes[40] ^= 0xff;
    fs.writeFileSync(file, bytes);

    expect((await latestValidBackup(h.s3, h.bucket, 'rot'))?.backupId).toBe(newer.backupId);

    const skipped: string[] = [];
    const latest = await latestValidBackup(h.s3, h.bucket, 'rot', {
      verify: { toc: false },
      onSkip: (entry, result) => skipped.push(`${entry.backupId}: ${result.ok}`),
    });
    expect(latest?.backupId).toBe(older.backupId);
    expect(latest?.verification?.ok).toBe(true);
    expect(skipped).toEqual([`${newer.backupId}: false`]);

    expect(await latestValidBackup(h.s3, h.bucket, 'rot', { tier: 'weekly' })).toBeUndefined();
    expect(
      await latestValidBackup(h.s3, h.bucket, 'nothing-here', { verify: { toc: false } }),
    ).toBeUndefined();
  });

  test('undefined when every candidate fails verification', async () => {
    const only = await putFakeBackup(h.s3, h.bucket, {
      databaseId: 'allbad',
      at: at('2026-10-03T02:00:00Z'),
      bytes: 64,
    });
    const file = h.s3server.objectPath(h.bucket, only.object.key);
    const bytes = fs.readFileSync(file);
    bytes[10] ^= 0x01;
    fs.writeFileSync(file, bytes);
    expect(await latestValidBackup(h.s3, h.bucket, 'allbad', { verify: { toc: false } })).toBeUndefined();
  });
});
