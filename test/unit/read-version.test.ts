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
/** Runs once after the first HeadObject of a key: the write that races the reader. */
let afterHead: Map<string, () => void>;
/** Whether the fake reports VersionIds (false: an unversioned server like s3rver). */
let versioned: boolean;

const notFound = () =>
  Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

function pick(input: { Key?: string; VersionId?: string }): Version {
  const versions = store.get(input.Key!) ?? [];
  const v = input.VersionId ? versions.find((x) => x.id === input.VersionId) : versions[versions.length - 1];
  if (!v || !v.body) throw notFound();
  return v;
}

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: 'us-east-1' });
afterAll(() => s3Mock.restore());

beforeEach(() => {
  s3Mock.reset();
  store = new Map();
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

const inputs = (cmd: typeof GetObjectCommand | typeof HeadObjectCommand, key: string) =>
  s3Mock
    .commandCalls(cmd)
    .map((c) => c.args[0].input as { Key?: string; VersionId?: string })
    .filter((i) => i.Key === key);

const check = (r: Awaited<ReturnType<typeof verifyBackup>>, name: string) =>
  r.checks.find((c) => c.name === name);

describe('verify', () => {
  /** Verify of `good` under a manifest written before versionIds were recorded. */
  const verifyOldManifest = () =>
    verifyBackup({
      s3,
      bucket: BUCKET,
      manifest: manifestOf({ key: DUMP, bytes: good.length, sha256: sha(good) }),
      toc: false,
    });

  test('old manifest (no versionId): the read is pinned to the version HeadObject saw', async () => {
    store.set(DUMP, [{ id: 'v1', body: good }]);
    afterHead.set(DUMP, () => store.get(DUMP)!.push({ id: 'v2', body: swapped }));
    const r = await verifyOldManifest();
    expect(check(r, 'checksum')).toMatchObject({ status: 'pass' });
    expect(inputs(HeadObjectCommand, DUMP)[0].VersionId).toBeUndefined();
    expect(inputs(GetObjectCommand, DUMP).map((i) => i.VersionId)).toEqual(['v1']);
  });

  test('unversioned server: nothing to pin, so the swap is read (what the pin prevents)', async () => {
    versioned = false;
    store.set(DUMP, [{ id: 'v1', body: good }]);
    afterHead.set(DUMP, () => store.get(DUMP)!.push({ id: 'v2', body: swapped }));
    const r = await verifyOldManifest();
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
