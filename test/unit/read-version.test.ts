/**
 * Version-aware readers (issue 12), at the S3 SDK boundary: the local S3 server (s3rver) has no
 * versioning and never returns a VersionId, so a versioned bucket is faked here with
 * aws-sdk-client-mock on S3Client — every key holds a list of versions, a read without VersionId
 * gets the newest (404 when that is a delete marker), a read with one gets exactly that version.
 * A new version or a delete marker is written between the reader's HeadObject and its GetObject,
 * and the reader must still read the bytes it checked.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type GetObjectCommandInput,
  type HeadObjectCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { versionOf } from '../../lambda/core/dump-stream';
import type { Manifest } from '../../lambda/core/manifest';
import { downloadVerified } from '../../lambda/core/restore';
import { atVersion } from '../../lambda/core/s3';
import { verifyBackup } from '../../lambda/core/verify';

const BUCKET = 'backups';
const REPLICA = 'backups-replica';
const BASE = 'daily/orders/2025-01-05/orders-20250105T020000Z';
const DUMP = `${BASE}.dump`;
const GLOBALS = `${BASE}.globals.sql`;
const good = Buffer.from('PGDMP the bytes the manifest describes');
const roles = Buffer.from('CREATE ROLE app;\n');
/** Another version of the same size: only the checksum can tell it apart. */
const swapped = Buffer.from(good.toString('utf8').toUpperCase());
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A versioned bucket: newest last; `undefined` body is a delete marker. */
type Version = { id: string; body?: Buffer };
let store: Map<string, Version[]>;
/** The replica bucket's versions (REPLICA); `store` is the primary's. */
let replicaStore: Map<string, Version[]>;
/** Runs once after the first HeadObject of a key: the write that races the reader. */
let afterHead: Map<string, () => void>;
/** Whether the fake reports VersionIds (false: an unversioned server like s3rver). */
let versioned: boolean;

const notFound = () =>
  Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

/** What S3 answers to a read naming a delete marker's version. */
const methodNotAllowed = () =>
  Object.assign(new Error('MethodNotAllowed'), {
    name: 'MethodNotAllowed',
    $metadata: { httpStatusCode: 405 },
  });

function pick(input: { Bucket?: string; Key?: string; VersionId?: string }): Version {
  const versions = (input.Bucket === REPLICA ? replicaStore : store).get(input.Key!) ?? [];
  const v = input.VersionId ? versions.find((x) => x.id === input.VersionId) : versions[versions.length - 1];
  if (v && !v.body && input.VersionId) throw methodNotAllowed();
  if (!v || !v.body) throw notFound();
  return v;
}

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
afterAll(() => s3Mock.restore());

beforeEach(() => {
  s3Mock.reset();
  store = new Map();
  replicaStore = new Map();
  afterHead = new Map();
  versioned = true;
  s3Mock.on(HeadObjectCommand).callsFake((input: HeadObjectCommandInput) => {
    const v = pick(input);
    const hook = afterHead.get(input.Key!);
    afterHead.delete(input.Key!);
    hook?.();
    return { ContentLength: v.body!.length, ...(versioned ? { VersionId: v.id } : {}) };
  });
  s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const v = pick(input);
    // A stream with the SDK's helper, as GetObject's Body is.
    const Body = Object.assign(Readable.from([v.body!]), {
      transformToByteArray: async () => new Uint8Array(v.body!),
    });
    return { Body, ...(versioned ? { VersionId: v.id } : {}) };
  });
});

function manifestOf(object: Manifest['object'], globals?: Manifest['globals']): Manifest {
  return {
    backupId: 'orders-20250105T020000Z',
    databaseId: 'orders',
    tier: 'daily',
    period: '2025-01-05',
    object,
    globals: globals ?? { present: false, reason: 'test' },
    tables: [],
    pgDump: { major: 15 },
  } as unknown as Manifest;
}

const inputs = (cmd: typeof GetObjectCommand | typeof HeadObjectCommand, key: string, bucket = BUCKET) =>
  s3Mock
    .commandCalls(cmd)
    .map((c) => c.args[0].input as { Bucket?: string; Key?: string; VersionId?: string })
    .filter((i) => i.Key === key && i.Bucket === bucket);

const check = (r: Awaited<ReturnType<typeof verifyBackup>>, name: string) =>
  r.checks.find((c) => c.name === name);

describe('verify', () => {
  test('old manifest (no versionId): the read is pinned to the version HeadObject saw', async () => {
    store.set(DUMP, [{ id: 'v1', body: good }]);
    afterHead.set(DUMP, () => store.get(DUMP)!.push({ id: 'v2', body: swapped }));
    const r = await verifyBackup({
      s3,
      bucket: BUCKET,
      manifest: manifestOf({ key: DUMP, bytes: good.length, sha256: sha(good) }),
      toc: false,
    });
    expect(check(r, 'checksum')).toMatchObject({ status: 'pass' });
    expect(inputs(HeadObjectCommand, DUMP)[0].VersionId).toBeUndefined();
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
  });

  test('unversioned server: nothing to pin, so the swap is read (what the pin prevents)', async () => {
    versioned = false;
    store.set(DUMP, [{ id: 'v1', body: good }]);
    afterHead.set(DUMP, () => store.get(DUMP)!.push({ id: 'v2', body: swapped }));
    const r = await verifyBackup({
      s3,
      bucket: BUCKET,
      manifest: manifestOf({ key: DUMP, bytes: good.length, sha256: sha(good) }),
      toc: false,
    });
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual([undefined]);
    expect(check(r, 'size')).toMatchObject({ status: 'pass' });
    expect(check(r, 'checksum')).toMatchObject({ status: 'fail', code: 'CHECKSUM_MISMATCH' });
  });

  test("the manifest's versionId wins, even when a delete marker is the current version", async () => {
    store.set(DUMP, [
      { id: 'v1', body: good },
      { id: 'v2', body: Buffer.from('PGDMP newer') },
      { id: 'dm', body: undefined },
    ]);
    store.set(GLOBALS, [
      { id: 'g1', body: roles },
      { id: 'g2', body: undefined },
    ]);
    const r = await verifyBackup({
      s3,
      bucket: BUCKET,
      manifest: manifestOf(
        { key: DUMP, bytes: good.length, sha256: sha(good), versionId: 'v1' },
        { present: true, key: GLOBALS, bytes: roles.length, sha256: sha(roles), versionId: 'g1' },
      ),
      toc: false,
    });
    expect(r.ok).toBe(true);
    expect(inputs(HeadObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
    expect(inputs(GetObjectCommand, GLOBALS).map((i) => i.VersionId)).toEqual(['g1']);
  });
});

describe("verify's replica check: the copy of this backup's version, not the replica key's newest", () => {
  const MANIFEST_KEY = `${BASE}.manifest.json`;
  const replica = { s3, bucket: REPLICA, region: 'eu-west-1' };
  /** Primary and replica as replication leaves them: the same version ids. */
  function replicated() {
    store.set(DUMP, [{ id: 'v1', body: good }]);
    store.set(MANIFEST_KEY, [{ id: 'm1', body: Buffer.from('{}') }]);
    replicaStore.set(DUMP, [{ id: 'v1', body: good }]);
    replicaStore.set(MANIFEST_KEY, [{ id: 'm1', body: Buffer.from('{}') }]);
  }
  const verifyReplica = async (object: Manifest['object']) =>
    check(
      await verifyBackup({
        s3,
        bucket: BUCKET,
        manifestKey: MANIFEST_KEY,
        manifest: manifestOf(object),
        toc: false,
        replica,
      }),
      'replica',
    );
  const recorded = { key: DUMP, bytes: good.length, sha256: sha(good), versionId: 'v1' };

  test('a newer same-sized version over the replica key does not hide that the copy is there', async () => {
    replicated();
    replicaStore.get(DUMP)!.push({ id: 'v9', body: swapped });
    expect(await verifyReplica(recorded)).toMatchObject({ status: 'pass' });
    expect(inputs(HeadObjectCommand, DUMP, REPLICA).map((i) => i.VersionId)).toEqual(['v1']);
    // The manifest key's version comes from the primary's HEAD (a manifest does not record its own).
    expect(inputs(HeadObjectCommand, MANIFEST_KEY, REPLICA).map((i) => i.VersionId)).toEqual(['m1']);
  });

  test("this backup's version gone from the replica is REPLICA_MISSING, though a same-sized one is there", async () => {
    replicated();
    // Our version never arrived (or was removed with a governance bypass); someone wrote another.
    replicaStore.set(DUMP, [{ id: 'v9', body: swapped }]);
    expect(await verifyReplica(recorded)).toMatchObject({ status: 'fail', code: 'REPLICA_MISSING' });
    // A version id that answers 405 (a delete marker's) is missing too, not an infrastructure error.
    replicaStore.set(DUMP, [{ id: 'v1', body: undefined }]);
    expect(await verifyReplica(recorded)).toMatchObject({ status: 'fail', code: 'REPLICA_MISSING' });
  });

  test("an old manifest (no versionId) is judged at the primary HEAD's version", async () => {
    replicated();
    replicaStore.set(DUMP, [{ id: 'v9', body: swapped }]);
    const old = { ...recorded, versionId: undefined };
    expect(await verifyReplica(old)).toMatchObject({ status: 'fail', code: 'REPLICA_MISSING' });
    expect(inputs(HeadObjectCommand, DUMP, BUCKET).map((i) => i.VersionId)).toEqual([undefined]);
    expect(inputs(HeadObjectCommand, DUMP, REPLICA).map((i) => i.VersionId)).toEqual(['v1']);
  });

  test('unversioned (s3rver): nothing to pin, the newest replica is judged', async () => {
    versioned = false;
    replicated();
    const old = { ...recorded, versionId: undefined };
    expect(await verifyReplica(old)).toMatchObject({ status: 'pass' });
    expect(inputs(HeadObjectCommand, DUMP, REPLICA).map((i) => i.VersionId)).toEqual([undefined]);
  });
});

describe('restore download', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'read-version-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("downloads the manifest's version although a delete marker is current", async () => {
    store.set(DUMP, [
      { id: 'v1', body: good },
      { id: 'dm', body: undefined },
    ]);
    const file = path.join(dir, 'a');
    await downloadVerified(
      s3,
      BUCKET,
      { key: DUMP, bytes: good.length, sha256: sha(good), versionId: 'v1' },
      file,
    );
    expect(fs.readFileSync(file)).toEqual(good);
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
  });

  test('old manifest: a delete marker written after the HeadObject does not make the download fail', async () => {
    store.set(DUMP, [{ id: 'v1', body: good }]);
    afterHead.set(DUMP, () => store.get(DUMP)!.push({ id: 'dm', body: undefined }));
    const file = path.join(dir, 'a');
    await downloadVerified(s3, BUCKET, { key: DUMP, bytes: good.length, sha256: sha(good) }, file);
    expect(fs.readFileSync(file)).toEqual(good);
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
  });
});

describe('writing the version into the manifest', () => {
  test('versionOf takes PutObject / Upload VersionId, nothing when absent', () => {
    expect(versionOf({ VersionId: 'abc' })).toEqual({ versionId: 'abc' });
    expect(versionOf({ ETag: '"x"' })).toEqual({});
    expect(versionOf({ VersionId: '' })).toEqual({});
    expect(versionOf(undefined)).toEqual({});
    expect(atVersion('abc')).toEqual({ VersionId: 'abc' });
    expect(atVersion(undefined)).toEqual({});
  });
});
