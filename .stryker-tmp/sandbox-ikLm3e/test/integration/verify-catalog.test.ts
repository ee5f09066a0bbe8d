/**
 * Verification and the catalog against real archives in a local S3 server, corrupted for real on
 * disk: a flipped byte (TESTING 3), appended or truncated bytes (4), a missing or garbage manifest
 * (5), a missing replica copy (6), and what "latest good backup" means after each.
 */
// @ts-nocheck

import * as fs from 'node:fs';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { latestValidBackup, listBackups, occupiedPeriods } from '../../lambda/core/catalog';
import { dumpDatabase } from '../../lambda/core/dump';
import { keysOfManifest, type Manifest } from '../../lambda/core/manifest';
import { makeS3Client } from '../../lambda/core/s3';
import { verifyBackup, type VerifyResult } from '../../lambda/core/verify';
import { handler as verifyHandler } from '../../lambda/handlers/verify';
import { replicateLocally } from '../../src/local/replicate';
import { captureOutput, setEnv, type CapturedOutput } from '../support/handler-io';
import { startHarness, type Harness } from '../support/harness';

jest.setTimeout(120_000);

const REPLICA_REGION = 'eu-west-1';
let h: Harness;
let replicaS3: ReturnType<typeof makeS3Client>;
/** Oldest first: yearly, monthly, weekly, daily. */
const backups: Manifest[] = [];

const manifestKey = (m: Manifest) => keysOfManifest(m).manifest;
const newest = () => backups[backups.length - 1];
const previous = () => backups[backups.length - 2];
const codes = (r: VerifyResult) => r.checks.filter((c) => c.code).map((c) => c.code);

/** Copies to the replica bucket whatever it lacks (the tests only ever delete replica objects). */
const replicateAll = () => replicateLocally(h.s3, h.bucket, h.replicaBucket);

const verify = (m: Manifest, extra: { manifestKey?: string } = {}) =>
  verifyBackup({
    s3: h.s3,
    bucket: h.bucket,
    ...(extra.manifestKey ? { manifestKey: extra.manifestKey } : { manifest: m }),
    replica: { s3: replicaS3, bucket: h.replicaBucket, region: REPLICA_REGION },
    pgBinDirs: [h.realBinDir],
  });

/** Runs `fn` with the stored bytes of `key` replaced, then puts the original bytes back. */
async function withStoredBytes(key: string, change: (b: Buffer) => Buffer, fn: () => Promise<void>) {
  const file = h.s3server.objectPath(h.bucket, key);
  const original = fs.readFileSync(file);
  fs.writeFileSync(file, change(Buffer.from(original)));
  try {
    await fn();
  } finally {
    fs.writeFileSync(file, original);
  }
}

beforeAll(async () => {
  h = await startHarness();
  replicaS3 = makeS3Client(REPLICA_REGION);
  // Monday to Thursday of ISO week 2026-W10: yearly, monthly, weekly, daily by first success.
  for (const day of ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']) {
    backups.push(await dumpDatabase(h.dumpOptions({ now: () => new Date(`${day}T02:00:00Z`) })));
  }
  await replicateAll();
});

afterAll(async () => {
  replicaS3?.destroy();
  await h?.stop();
});

describe('verifyBackup', () => {
  test('passes size, checksum, TOC (hostile table names included), roles file and replica', async () => {
    expect(backups.map((b) => b.tier)).toEqual(['yearly', 'monthly', 'weekly', 'daily']);
    const r = await verify(newest(), { manifestKey: manifestKey(newest()) });
    expect(r.checks.map((c) => [c.name, c.status])).toEqual([
      ['manifest', 'pass'],
      ['size', 'pass'],
      ['checksum', 'pass'],
      ['toc', 'pass'],
      ['globals', 'pass'],
      ['replica', 'pass'],
    ]);
    expect(r).toMatchObject({
      ok: true,
      pending: false,
      bytes: newest().object.bytes,
      sha256: newest().object.sha256,
    });
  });

  test('one flipped byte is a checksum mismatch, not a size error; the latest good backup skips it (TESTING 3)', async () => {
    const m = newest();
    await withStoredBytes(
      m.object.key,
      (b) => {
        const i = Math.floor(b.length * 0.75);
        b[i] ^= 0x01;
        return b;
      },
      async () => {
        const r = await verify(m);
        expect(r.ok).toBe(false);
        expect(codes(r)).toEqual(['CHECKSUM_MISMATCH']);
        expect(r.checks.find((c) => c.name === 'checksum')!.detail).toMatch(
          /corruption found: sha256 is [0-9a-f]{64}/,
        );
        expect(r.checks.find((c) => c.name === 'size')!.status).toBe('pass');

        // Its size still matches, so it is listed; the verified "latest good" skips it.
        expect((await latestValidBackup(h.s3, h.bucket, 'app'))?.backupId).toBe(m.backupId);
        const skipped: string[] = [];
        const good = await latestValidBackup(h.s3, h.bucket, 'app', {
          verify: { pgBinDirs: [h.realBinDir] },
          onSkip: (e) => skipped.push(e.backupId),
        });
        expect(skipped).toEqual([m.backupId]);
        expect(good?.backupId).toBe(previous().backupId);
        expect(good?.verification?.ok).toBe(true);
      },
    );
  });

  test.each([
    ['appended', (b: Buffer) => Buffer.concat([b, Buffer.from([0xde, 0xad, 0xbe, 0xef])]), /bytes appended/],
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 4), /truncated/],
  ])(
    'four bytes %s are a size mismatch, distinct from the checksum error (TESTING 4)',
    async (_what, change, detail) => {
      const m = newest();
      await withStoredBytes(m.object.key, change, async () => {
        const r = await verify(m);
        expect(r.ok).toBe(false);
        expect(codes(r)).toEqual(['SIZE_MISMATCH']);
        const size = r.checks.find((c) => c.name === 'size')!;
        expect(size.detail).toMatch(/invalid size: object is \d+ bytes, manifest says \d+/);
        expect(size.detail).toMatch(detail);
        expect(r.checks.find((c) => c.name === 'checksum')!.status).toBe('skipped');

        // A size that disagrees with the manifest makes the backup invalid in the catalog.
        const all = await listBackups(h.s3, h.bucket, 'app', { includeInvalid: true });
        expect(all.find((e) => e.backupId === m.backupId)).toMatchObject({
          valid: false,
          problem: expect.stringMatching(/dump is \d+ bytes, manifest says/),
        });
        expect((await latestValidBackup(h.s3, h.bucket, 'app'))?.backupId).toBe(previous().backupId);
      });
    },
  );

  test('a table missing from the archive TOC fails the TOC check, naming it', async () => {
    const m = newest();
    const doctored: Manifest = {
      ...m,
      tables: [
        ...m.tables,
        { ...m.tables[0], schema: 'Mixed Case', name: 'not "there"', kind: 'r' },
        { ...m.tables[0], schema: 'shop', name: 'ghost_parent', kind: 'p' },
      ],
    };
    const r = await verifyBackup({
      s3: h.s3,
      bucket: h.bucket,
      manifest: doctored,
      pgBinDirs: [h.realBinDir],
    });
    expect(codes(r)).toEqual(['TOC_MISSING_TABLES']);
    const detail = r.checks.find((c) => c.name === 'toc')!.detail;
    expect(detail).toContain('Mixed Case.not "there" (TABLE)');
    expect(detail).toContain('Mixed Case.not "there" (TABLE DATA)');
    expect(detail).toContain('shop.ghost_parent (TABLE)');
    expect(detail).not.toContain('ghost_parent (TABLE DATA)');
  });

  test('a missing replica copy fails verification, naming the replica region (TESTING 6)', async () => {
    const m = newest();
    await h.s3.send(new DeleteObjectCommand({ Bucket: h.replicaBucket, Key: m.object.key }));
    try {
      const r = await verify(m);
      expect(r.ok).toBe(false);
      expect(codes(r)).toEqual(['REPLICA_MISSING']);
      expect(r.checks.find((c) => c.name === 'replica')!.detail).toContain(
        `replica copy missing in replica bucket replica in ${REPLICA_REGION}`,
      );
    } finally {
      await replicateAll();
    }
  });
});

describe('catalog with a missing or unreadable manifest (TESTING 5)', () => {
  test.each([
    ['deleted', undefined, /manifest missing/, 'MANIFEST_MISSING'],
    [
      'garbage',
      'this is {not json',
      /manifest unreadable: manifest is not valid JSON/,
      'MANIFEST_UNREADABLE',
    ],
    [
      'valid JSON of the wrong shape',
      '{"formatVersion":1}',
      /manifest unreadable: manifest is invalid/,
      'MANIFEST_UNREADABLE',
    ],
  ])(
    'a %s manifest is not a valid backup; the previous one is the latest',
    async (_what, body, problem, code) => {
      const m = newest();
      const key = manifestKey(m);
      const file = h.s3server.objectPath(h.bucket, key);
      const original = fs.readFileSync(file, 'utf8');
      if (body === undefined) await h.s3.send(new DeleteObjectCommand({ Bucket: h.bucket, Key: key }));
      else await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: body }));
      try {
        const valid = await listBackups(h.s3, h.bucket, 'app');
        expect(valid.map((e) => e.backupId)).toEqual(
          [...backups]
            .reverse()
            .slice(1)
            .map((b) => b.backupId),
        );
        const all = await listBackups(h.s3, h.bucket, 'app', { includeInvalid: true });
        expect(all[0]).toMatchObject({
          backupId: m.backupId,
          valid: false,
          problem: expect.stringMatching(problem),
        });
        expect((await latestValidBackup(h.s3, h.bucket, 'app'))?.backupId).toBe(previous().backupId);
        const r = await verifyBackup({
          s3: h.s3,
          bucket: h.bucket,
          manifestKey: key,
          pgBinDirs: [h.realBinDir],
        });
        expect(r.ok).toBe(false);
        expect(codes(r)).toEqual([code]);
      } finally {
        await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: original }));
      }
    },
  );

  test('a period whose only manifest is unreadable counts as free for placement', async () => {
    const weekly = backups[2];
    const key = manifestKey(weekly);
    const original = fs.readFileSync(h.s3server.objectPath(h.bucket, key), 'utf8');
    const at = new Date('2026-03-06T02:00:00Z');
    expect(await occupiedPeriods(h.s3, h.bucket, 'app', at)).toEqual(
      new Set(['yearly/2026', 'monthly/2026-03', 'weekly/2026-W10']),
    );
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: 'garbage' }));
    try {
      expect(await occupiedPeriods(h.s3, h.bucket, 'app', at)).toEqual(
        new Set(['yearly/2026', 'monthly/2026-03']),
      );
    } finally {
      await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: original }));
    }
  });

  test('lists newest first across tiers, with LastModified and sizes', async () => {
    const all = await listBackups(h.s3, h.bucket, 'app');
    expect(all.map((e) => [e.backupId, e.tier, e.period])).toEqual([
      ['app-20260305T020000Z', 'daily', '2026-03-05'],
      ['app-20260304T020000Z', 'weekly', '2026-W10'],
      ['app-20260303T020000Z', 'monthly', '2026-03'],
      ['app-20260302T020000Z', 'yearly', '2026'],
    ]);
    for (const e of all) {
      expect(e.valid).toBe(true);
      expect(e.lastModified).toBeInstanceOf(Date);
      expect(e.bytes).toBe(e.manifest!.object.bytes);
    }
    expect((await listBackups(h.s3, h.bucket, 'app', { tier: 'weekly' })).map((e) => e.backupId)).toEqual([
      'app-20260304T020000Z',
    ]);
    expect(await listBackups(h.s3, h.bucket, 'other-db')).toEqual([]);
  });
});

describe('verify handler', () => {
  let output: CapturedOutput;
  let restoreEnv: () => void;
  beforeEach(() => {
    restoreEnv = setEnv({
      BACKUP_BUCKET: h.bucket,
      REPLICA_BUCKET: h.replicaBucket,
      REPLICA_REGION,
      PG_BIN_DIRS: h.realBinDir,
    });
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
    restoreEnv();
  });
  const emf = () => output.emf();

  test('returns the passed checks for a good backup and emits VerifySuccess', async () => {
    const out = await verifyHandler({ databaseId: 'app', manifestKey: manifestKey(newest()) });
    expect(out).toMatchObject({ ok: true, backupId: newest().backupId, sha256: newest().object.sha256 });
    expect(emf()).toEqual([
      expect.objectContaining({ DatabaseId: 'app', VerifySuccess: 1, VerifyFailure: 0, ReplicaMissing: 0 }),
    ]);
  });

  test('throws VerificationFailed naming the replica region, and emits VerifyFailure and ReplicaMissing', async () => {
    const m = newest();
    await h.s3.send(new DeleteObjectCommand({ Bucket: h.replicaBucket, Key: m.object.key }));
    try {
      const err = await verifyHandler({ databaseId: 'app', manifestKey: manifestKey(m) }).catch(
        (e: Error) => e,
      );
      expect((err as Error).name).toBe('VerificationFailed');
      expect((err as Error).message).toMatch(new RegExp(`REPLICA_MISSING: .*${REPLICA_REGION}`));
      expect(emf()).toEqual([
        expect.objectContaining({ DatabaseId: 'app', VerifySuccess: 0, VerifyFailure: 1, ReplicaMissing: 1 }),
      ]);
    } finally {
      await replicateAll();
    }
  });

  test('rejects a manifest key of another database', async () => {
    const err = await verifyHandler({ databaseId: 'billing', manifestKey: manifestKey(newest()) }).catch(
      (e: Error) => e,
    );
    expect((err as Error).name).toBe('EventError');
  });
});
