// @ts-nocheck
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import type { Manifest } from '../../lambda/core/manifest';
import { parseTocListing, tocHas, tocMissing, verifyBackup } from '../../lambda/core/verify';

const LISTING = `;
; Archive created at 2026-11-22 04:10:25 UTC
;     dbname: app
;
7; 2615 16489 SCHEMA - Mixed Case postgres
231; 1259 16491 TABLE Mixed Case Audit Log postgres
232; 1259 16499 TABLE Mixed Case x"; DROP TABLE shop.products;-- postgres
233; 1259 16504 TABLE Mixed Case données_é postgres
226; 1259 16467 TABLE shop events postgres
227; 1259 16471 TABLE shop events_2026_10 postgres
3253; 0 0 TABLE ATTACH shop events_2026_10 postgres
3455; 0 16491 TABLE DATA Mixed Case Audit Log postgres
3456; 0 16499 TABLE DATA Mixed Case x"; DROP TABLE shop.products;-- postgres
3457; 0 16504 TABLE DATA Mixed Case données_é postgres
3451; 0 16471 TABLE DATA shop events_2026_10 postgres
3287; 2606 16498 CONSTRAINT Mixed Case Audit Log Audit Log_pkey postgres
3470; 0 0 SEQUENCE SET shop events_id_seq postgres
`;

describe('pg_restore --list parsing', () => {
  const entries = parseTocListing(LISTING);

  test('keeps entries, drops comments', () => {
    expect(entries).toHaveLength(13);
    expect(entries[0]).toEqual({ dumpId: 7, text: 'SCHEMA - Mixed Case postgres' });
  });

  test.each([
    ['TABLE', 'Mixed Case', 'Audit Log', true],
    ['TABLE DATA', 'Mixed Case', 'Audit Log', true],
    ['TABLE', 'Mixed Case', 'x"; DROP TABLE shop.products;--', true],
    ['TABLE DATA', 'Mixed Case', 'données_é', true],
    ['TABLE', 'shop', 'events', true], // partitioned parent: a TABLE entry...
    ['TABLE DATA', 'shop', 'events', false], // ...and no data of its own
    ['TABLE', 'shop', 'events_2026_11', false],
  ] as const)('%s %s.%s → %s', (desc, schema, name, present) => {
    expect(tocHas(entries, desc, schema, name)).toBe(present);
  });

  test('a line belongs to the longest matching name, so a missing "Audit" is not hidden by "Audit Log"', () => {
    const wanted = [
      { desc: 'TABLE' as const, schema: 'Mixed Case', name: 'Audit' },
      { desc: 'TABLE' as const, schema: 'Mixed Case', name: 'Audit Log' },
    ];
    expect(tocMissing(entries, wanted)).toEqual([wanted[0]]);
    const both = parseTocListing(
      '1; 1259 1 TABLE Mixed Case Audit postgres\n2; 1259 2 TABLE Mixed Case Audit Log postgres\n',
    );
    expect(tocMissing(both, wanted)).toEqual([]);
  });

  test('names that print identically need one line each', () => {
    // "Mixed"."Case Audit Log" and "Mixed Case"."Audit Log" look the same in the listing.
    const wanted = [
      { desc: 'TABLE' as const, schema: 'Mixed', name: 'Case Audit Log' },
      { desc: 'TABLE' as const, schema: 'Mixed Case', name: 'Audit Log' },
    ];
    expect(tocMissing(entries, wanted)).toEqual(wanted);
    const two = parseTocListing(
      '1; 1259 1 TABLE Mixed Case Audit Log postgres\n2; 1259 2 TABLE Mixed Case Audit Log postgres\n',
    );
    expect(tocMissing(two, wanted)).toEqual([]);
  });

  test('a schema called DATA does not confuse TABLE with TABLE DATA', () => {
    const e = parseTocListing('1; 0 5 TABLE DATA shop t postgres\n');
    expect(tocMissing(e, [{ desc: 'TABLE DATA', schema: 'shop', name: 't' }])).toEqual([]);
    expect(
      tocMissing(e, [
        { desc: 'TABLE DATA', schema: 'shop', name: 't' },
        { desc: 'TABLE', schema: 'DATA', name: 'shop' },
      ]),
    ).toEqual([{ desc: 'TABLE', schema: 'DATA', name: 'shop' }]);
  });

  test('TABLE does not match TABLE ATTACH or TABLE DATA lines', () => {
    const only = parseTocListing('1; 0 0 TABLE ATTACH shop t postgres\n2; 0 1 TABLE DATA shop u postgres\n');
    expect(tocHas(only, 'TABLE', 'shop', 't')).toBe(false);
    expect(tocHas(only, 'TABLE', 'shop', 'u')).toBe(false);
  });

  test('names with newlines are matched as pg_restore prints them (newline → space)', () => {
    const e = parseTocListing('5; 1259 1 TABLE odd line one line two postgres\n');
    expect(tocHas(e, 'TABLE', 'odd', 'line one\nline two')).toBe(true);
  });
});

describe('replica check against S3 replication status', () => {
  const body = Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(100, 7)]);
  const manifest = {
    formatVersion: 1,
    backupId: 'orders-20261122T020000Z',
    databaseId: 'orders',
    tier: 'daily',
    period: '2026-11-22',
    object: {
      key: 'daily/orders/2026-11-22/orders-20261122T020000Z.dump',
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
    },
    globals: { present: false, reason: 'test' },
    tables: [],
    pgDump: { major: 15 },
  } as unknown as Manifest;
  const manifestKey = 'daily/orders/2026-11-22/orders-20261122T020000Z.manifest.json';
  const s3Mock = mockClient(S3Client);
  const s3 = new S3Client({ region: 'us-east-1' });
  const replicaS3 = new S3Client({ region: 'eu-west-1' });

  beforeEach(() => {
    s3Mock.reset();
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([body]) }));
  });
  afterAll(() => s3Mock.restore());

  const run = () =>
    verifyBackup({
      s3,
      bucket: 'primary',
      manifest,
      toc: false,
      replica: { s3: replicaS3, bucket: 'replica', region: 'eu-west-1' },
    });
  const notFound = Object.assign(new Error('NotFound'), {
    name: 'NotFound',
    $metadata: { httpStatusCode: 404 },
  });

  test('COMPLETED at the source and REPLICA at the destination passes', async () => {
    s3Mock
      .on(HeadObjectCommand, { Bucket: 'primary' })
      .resolves({ ContentLength: body.length, ReplicationStatus: 'COMPLETED' });
    s3Mock
      .on(HeadObjectCommand, { Bucket: 'replica' })
      .resolves({ ContentLength: body.length, ReplicationStatus: 'REPLICA' });
    s3Mock.on(HeadObjectCommand, { Bucket: 'primary', Key: manifestKey }).resolves({ ContentLength: 10 });
    s3Mock.on(HeadObjectCommand, { Bucket: 'replica', Key: manifestKey }).resolves({ ContentLength: 10 });
    const r = await run();
    expect(r).toMatchObject({ ok: true, pending: false });
  });

  test('PENDING with no copy yet is "replication pending", not a failure', async () => {
    s3Mock
      .on(HeadObjectCommand, { Bucket: 'primary' })
      .resolves({ ContentLength: body.length, ReplicationStatus: 'PENDING' });
    s3Mock.on(HeadObjectCommand, { Bucket: 'replica' }).rejects(notFound);
    const r = await run();
    expect(r).toMatchObject({ ok: false, pending: true });
    const replica = r.checks.find((c) => c.name === 'replica')!;
    expect(replica).toMatchObject({ status: 'pending', code: 'REPLICA_PENDING' });
    expect(replica.detail).toMatch(/replication to eu-west-1 pending/);
  });

  test('FAILED fails the check', async () => {
    s3Mock
      .on(HeadObjectCommand, { Bucket: 'primary' })
      .resolves({ ContentLength: body.length, ReplicationStatus: 'FAILED' });
    s3Mock.on(HeadObjectCommand, { Bucket: 'replica' }).rejects(notFound);
    const r = await run();
    expect(r).toMatchObject({ ok: false, pending: false });
    expect(r.checks.find((c) => c.name === 'replica')).toMatchObject({
      status: 'fail',
      code: 'REPLICA_FAILED',
    });
  });

  test('a replica of a different size fails, naming the region', async () => {
    s3Mock.on(HeadObjectCommand, { Bucket: 'primary' }).resolves({ ContentLength: body.length });
    s3Mock.on(HeadObjectCommand, { Bucket: 'replica' }).resolves({ ContentLength: body.length - 1 });
    const r = await run();
    const replica = r.checks.find((c) => c.name === 'replica')!;
    expect(replica).toMatchObject({ status: 'fail', code: 'REPLICA_SIZE_MISMATCH' });
    expect(replica.detail).toMatch(/replica in eu-west-1 is 104 bytes, expected 105/);
  });
});
