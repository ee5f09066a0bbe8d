/**
 * Compression with real processes: a real pg_dump of a real cluster through a real zstd, stand-in
 * pg_dumps that fail, a zstd killed mid-stream, truncated and corrupted streams, gzip-era
 * archives, and the restore's free-space and leftover checks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { Client } from 'pg';
import {
  downloadArchive,
  prepareWorkDir,
  scanArchive,
  scanVerdict,
  WORK_DIR_PREFIX,
} from '../../lambda/core/archive-read';
import { readArchiveToc } from '../../lambda/core/archive-toc';
import {
  CompressionError,
  decompressedArchive,
  startDump,
  type DumpStream,
} from '../../lambda/core/compression';
import { compressionOf, type Compression } from '../../lambda/core/compression-settings';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { libpqEnv, withPgPassFile } from '../../lambda/core/secrets';
import { seedDatabase, TEST_SEED } from '../../src/local/seed';

let cluster: LocalCluster;
let binDir: string;
let major: number;
let work: string;
/** The plain custom archive of the seeded database (pg_dump -Fc -Z0), and its zstd-wrapped form. */
let plain: Buffer;
let wrapped: Buffer;
let wrappedRaw: number;

/** A stream of 64 KiB chunks, as S3 delivers a body. */
const chunked = (b: Buffer) =>
  Readable.from(
    Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536)),
  );
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function collect(s: DumpStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s.output as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function collectError(s: DumpStream): Promise<CompressionError> {
  try {
    await collect(s);
  } catch (e) {
    return e as CompressionError;
  }
  throw new Error('the dump stream ended without an error');
}

async function realDump(
  compression: Parameters<typeof startDump>[0]['compression'],
): Promise<{ s: DumpStream; body: Buffer }> {
  const conn = cluster.connection('app');
  // The pass file only has to outlive pg_dump's connection; read while it runs (pipes hold 64 KiB).
  return withPgPassFile(conn, async (passFile) => {
    const s = startDump({
      pgDumpPath: path.join(binDir, 'pg_dump'),
      pgDumpMajor: major,
      args: ['--format=custom', '--no-password'],
      env: libpqEnv(conn, { sslMode: 'disable' }, passFile),
      compression,
    });
    return { s, body: await collect(s) };
  });
}

/** A `pg_dump` shell script for fault injection. */
function standIn(body: string): string {
  const file = path.join(work, `pg_dump-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected a rejection');
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const ZSTD = { kind: 'zstd-wrapped', level: 1, threads: 2 } as const;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-compression-test-'));
  cluster = await startLocalCluster();
  const admin = new Client(cluster.connection());
  await admin.connect();
  await admin.query('CREATE DATABASE app');
  await admin.end();
  const client = new Client(cluster.connection('app'));
  await client.connect();
  await seedDatabase(client, TEST_SEED);
  // Enough data that the archive outlasts pg_restore --list's read of the TOC.
  await client.query(
    `CREATE TABLE shop.bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS body FROM generate_series(1, 100000) g`,
  );
  await client.end();
  const pgDump = findPgBinary('pg_dump', [cluster.binDir]);
  binDir = path.dirname(pgDump.path);
  major = pgDump.major;

  // Read all of each stream while pg_dump runs (a pipe holds only 64 KiB).
  const conn = cluster.connection('app');
  await withPgPassFile(conn, async (passFile) => {
    const env = libpqEnv(conn, { sslMode: 'disable' }, passFile);
    const base = { pgDumpPath: pgDump.path, pgDumpMajor: major, args: ['--format=custom'], env };
    const none = startDump({ ...base, compression: { kind: 'none', level: 0, threads: 1 } });
    plain = await collect(none);
    const z = startDump({ ...base, compression: ZSTD });
    wrapped = await collect(z);
    wrappedRaw = z.rawBytes();
  });
});

afterAll(async () => {
  await cluster?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('dump through zstd', () => {
  it('round-trips: the wrapped object is zstd, smaller, and decompresses to a readable custom archive', async () => {
    expect(wrapped.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    expect(wrapped.length).toBeLessThan(plain.length);
    const out: Buffer[] = [];
    for await (const c of decompressedArchive(chunked(wrapped), 'zstd') as AsyncIterable<Buffer>) out.push(c);
    const restored = Buffer.concat(out);
    expect(restored.subarray(0, 5).toString()).toBe('PGDMP');
    expect(restored.length).toBe(wrappedRaw);
    const file = path.join(work, 'roundtrip.dump');
    fs.writeFileSync(file, restored);
    const toc = readArchiveToc(file);
    const tables = toc.entries.filter((e) => e.desc === 'TABLE DATA').map((e) => `${e.namespace}.${e.tag}`);
    expect(tables).toEqual(expect.arrayContaining(['shop.customers', 'shop.orders']));
    const list = spawnSync(path.join(binDir, 'pg_restore'), ['--list', file], { encoding: 'utf8' });
    expect(list.status).toBe(0);
  });

  it('reports the plain archive size and its PGDMP head for the manifest', async () => {
    const { s, body } = await realDump(ZSTD);
    expect(s.rawHead().toString()).toBe('PGDMP');
    expect(s.rawBytes()).toBeGreaterThan(body.length);
  });

  it('keeps gzip mode as pg_dump-s own compression: a plain custom archive, no zstd process', async () => {
    const { s, body } = await realDump({ kind: 'pg-gzip', level: 6, threads: 1 });
    expect(s.compressor).toBeUndefined();
    expect(body.subarray(0, 5).toString()).toBe('PGDMP');
    expect(s.pgDump.spawnargs).toContain('--compress=6');
    expect(body.length).toBeLessThan(plain.length);
  });

  it('fails PG_DUMP_FAILED with its stderr when pg_dump exits 1, and leaves no zstd behind', async () => {
    // A child left behind holds the pipe open: zstd never sees EOF, so only our kill ends it.
    const pgDump = standIn(
      'printf PGDMP; head -c 2000000 /dev/urandom; sleep 5 & echo "pg_dump: error: simulated failure" >&2; exit 1',
    );
    const s = startDump({ pgDumpPath: pgDump, pgDumpMajor: 15, args: [], env: {}, compression: ZSTD });
    const zstdPid = s.compressor!.pid!;
    const err = await collectError(s);
    expect(err).toBeInstanceOf(CompressionError);
    expect(err.code).toBe('PG_DUMP_FAILED');
    expect(err.message).toMatch(/pg_dump exited 1: pg_dump: error: simulated failure/);
    await s.exited;
    expect(processGone(zstdPid)).toBe(true);
  });

  it('fails when pg_dump exits 1 after its last byte, even though zstd finished cleanly', async () => {
    // The whole (small) output is written and stdout closed before the exit status arrives.
    const pgDump = standIn('printf PGDMP; head -c 1000 /dev/urandom; exec 1>&-; sleep 0.3; exit 3');
    const s = startDump({ pgDumpPath: pgDump, pgDumpMajor: 15, args: [], env: {}, compression: ZSTD });
    const err = await collectError(s);
    expect(err.code).toBe('PG_DUMP_FAILED');
    expect(err.message).toMatch(/exited 3/);
  });

  it('fails COMPRESSOR_FAILED when zstd is killed mid-stream, and kills pg_dump', async () => {
    const pgDump = standIn('printf PGDMP; exec cat /dev/urandom');
    const s = startDump({ pgDumpPath: pgDump, pgDumpMajor: 15, args: [], env: {}, compression: ZSTD });
    let seen = 0;
    const failed = (async () => {
      try {
        for await (const c of s.output as AsyncIterable<Buffer>) {
          seen += c.length;
          if (seen > 1_000_000 && s.compressor!.child.exitCode === null)
            process.kill(s.compressor!.pid!, 'SIGKILL');
        }
      } catch (e) {
        return e as CompressionError;
      }
      return undefined;
    })();
    const err = await failed;
    expect(err?.code).toBe('COMPRESSOR_FAILED');
    expect(err?.message).toMatch(/zstd \(compressing\) was killed by SIGKILL/);
    await s.exited;
    expect(processGone(s.pgDump.pid!)).toBe(true);
  });

  it('kills both processes when the consumer gives up (an upload failed)', async () => {
    const pgDump = standIn('printf PGDMP; exec cat /dev/urandom');
    const s = startDump({ pgDumpPath: pgDump, pgDumpMajor: 15, args: [], env: {}, compression: ZSTD });
    await new Promise((r) => s.output.once('data', r));
    const errored = new Promise<Error>((r) => s.output.once('error', r));
    s.output.destroy(new Error('upload failed'));
    expect((await errored).message).toBe('upload failed');
    await s.exited;
    expect(processGone(s.pgDump.pid!)).toBe(true);
    expect(processGone(s.compressor!.pid!)).toBe(true);
  });
});

describe('reading archives back', () => {
  const zstdManifest = (): Compression => ({
    kind: 'zstd-wrapped',
    level: 1,
    threads: 2,
    rawBytes: wrappedRaw,
  });

  it('restores a zstd-wrapped archive in one pass to a file pg_restore reads', async () => {
    const wd = await prepareWorkDir(work);
    const file = path.join(wd.dir, 'archive.dump');
    const object = { key: 'k.dump', bytes: wrapped.length, sha256: sha(wrapped) };
    const scan = await downloadArchive({
      body: chunked(wrapped),
      object,
      compression: zstdManifest(),
      file,
    });
    expect(scan.format).toBe('zstd');
    // zstd wrote the file itself; the size is read back from it.
    expect(scan.plainBytes).toBe(wrappedRaw);
    expect(sha(fs.readFileSync(file))).toBe(
      sha(spawnSync('zstd', ['-dc'], { input: wrapped, maxBuffer: 1 << 30 }).stdout),
    );
    expect(fs.statSync(file).size).toBe(wrappedRaw);
    expect(spawnSync(path.join(binDir, 'pg_restore'), ['--list', file]).status).toBe(0);
    await wd.release();
    expect(fs.existsSync(wd.dir)).toBe(false);
  });

  it('names a truncated zstd stream whose bytes still match the manifest, and removes the partial file', async () => {
    const cut = wrapped.subarray(0, Math.floor(wrapped.length * 0.6));
    const object = { key: 'cut.dump', bytes: cut.length, sha256: sha(cut) };
    const file = path.join(work, 'cut.dump');
    const err = await rejection(
      downloadArchive({ body: chunked(cut), object, compression: zstdManifest(), file }),
    );
    expect(err.code).toBe('TRUNCATED');
    expect(err.message).toMatch(
      /cut\.dump: the zstd stream is truncated \(zstd -d exited 1: .*premature end/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });

  it('reports a truncated object as a size mismatch first', async () => {
    const cut = wrapped.subarray(0, wrapped.length - 100);
    const scan = await scanArchive(chunked(cut), { expect: 'zstd' });
    expect(scan.decompressError?.code).toBe('TRUNCATED');
    const verdict = scanVerdict(scan, { key: 'k', bytes: wrapped.length, sha256: sha(wrapped) });
    expect(verdict?.code).toBe('SIZE_MISMATCH');
  });

  it('names a corrupt zstd stream (one flipped byte, manifest recomputed over it)', async () => {
    const bad = Buffer.from(wrapped);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    const scan = await scanArchive(chunked(bad), { expect: 'zstd' });
    expect(scanVerdict(scan, { key: 'k', bytes: bad.length, sha256: sha(bad) })?.code).toBe('CORRUPT');
  });

  /** Scans `bytes` with `pg_restore --list` as the sink, which exits once it has the TOC. */
  async function scanWithToc(bytes: Buffer, direct = false) {
    const pgRestore = spawn(path.join(binDir, 'pg_restore'), ['--list'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let listing = '';
    pgRestore.stdout.setEncoding('utf8').on('data', (d: string) => (listing += d));
    const closed = new Promise<number | null>((r) => pgRestore.once('close', r));
    const scan = await scanArchive(chunked(bytes), {
      expect: 'zstd',
      sink: pgRestore.stdin,
      sinkMayCloseEarly: true,
      direct,
    });
    return { scan, listing, code: await closed };
  }

  it('reads the whole stream after pg_restore --list took the TOC and exited: sound, truncated, corrupt', async () => {
    const sound = await scanWithToc(wrapped);
    expect(sound.code).toBe(0);
    expect(sound.listing).toMatch(/TABLE DATA shop bulk/);
    expect(sound.scan.decompressError).toBeUndefined();
    expect(sound.scan.plainBytes).toBe(wrappedRaw);
    expect(sound.scan.sha256).toBe(sha(wrapped));

    const cut = await scanWithToc(wrapped.subarray(0, wrapped.length - 50));
    expect(cut.code).toBe(0);
    expect(cut.scan.decompressError?.code).toBe('TRUNCATED');

    // Damage near the end, far past the TOC pg_restore read: only reading on finds it.
    const bad = Buffer.from(wrapped);
    bad[bad.length - 1000] ^= 0xff;
    const corrupt = await scanWithToc(bad);
    expect(corrupt.code).toBe(0);
    expect(corrupt.scan.decompressError?.code).toBe('CORRUPT');
  });

  it('with zstd writing straight into pg_restore --list, zstd -t still judges the whole stream: sound, truncated, corrupt', async () => {
    const sound = await scanWithToc(wrapped, true);
    expect(sound.code).toBe(0);
    expect(sound.listing).toMatch(/TABLE DATA shop bulk/);
    expect(sound.scan.decompressError).toBeUndefined();
    expect(sound.scan.plainBytes).toBe(wrappedRaw);
    expect(sound.scan.sha256).toBe(sha(wrapped));

    const cut = await scanWithToc(wrapped.subarray(0, wrapped.length - 50), true);
    expect(cut.code).toBe(0);
    expect(cut.scan.decompressError?.code).toBe('TRUNCATED');

    // Damage near the end, far past the TOC pg_restore read: only reading on finds it.
    const bad = Buffer.from(wrapped);
    bad[bad.length - 1000] ^= 0xff;
    const corrupt = await scanWithToc(bad, true);
    expect(corrupt.code).toBe(0);
    expect(corrupt.scan.decompressError?.code).toBe('CORRUPT');
    expect(corrupt.scan.decompressError?.message).toMatch(/zstd -t exited 1/);

    // Corrupt before the TOC ends: zstd dies, pg_restore sees the end of its input and fails.
    const early = Buffer.from(wrapped);
    early[20] ^= 0xff;
    const head = await scanWithToc(early, true);
    expect(head.code).not.toBe(0);
    expect(head.scan.decompressError?.code).toBe('CORRUPT');
  });

  it('a disk that fills while zstd writes the plain archive is a write failure, not a CORRUPT verdict', async () => {
    // /dev/full answers every write with ENOSPC: the real fault, on zstd's own writes.
    const fd = fs.openSync('/dev/full', 'w');
    const sink = fs.createWriteStream('/dev/full', { fd });
    const err = await scanArchive(chunked(wrapped), { expect: 'zstd', sink, direct: true }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('OutputWriteError');
    expect(err?.message).toMatch(
      /zstd could not write the plain archive \(exited 70: .*No space left on device/,
    );
  });

  it('treats a gzip-era archive (no compression field) as a plain custom archive', async () => {
    const legacy = compressionOf({});
    expect(legacy.kind).toBe('pg-gzip');
    const file = path.join(work, 'legacy.dump');
    const object = { key: 'legacy.dump', bytes: plain.length, sha256: sha(plain) };
    const scan = await downloadArchive({ body: chunked(plain), object, compression: legacy, file });
    expect(scan.format).toBe('custom');
    expect(fs.readFileSync(file).equals(plain)).toBe(true);
  });

  it('refuses an object whose format is not the one the manifest says', async () => {
    const object = { key: 'wrong.dump', bytes: plain.length, sha256: sha(plain) };
    const file = path.join(work, 'wrong.dump');
    const err = await rejection(
      downloadArchive({ body: chunked(plain), object, compression: zstdManifest(), file }),
    );
    expect(err.code).toBe('FORMAT_MISMATCH');
    expect(err.message).toMatch(/5047444d50 \(custom\), expected zstd/);
  });

  it('decompresses a gzip stream and names a truncated one', async () => {
    const gz = zlib.gzipSync(plain);
    const ok = await scanArchive(chunked(gz));
    expect(ok.format).toBe('gzip');
    expect(ok.plainBytes).toBe(plain.length);
    const cut = await scanArchive(chunked(gz.subarray(0, gz.length - 20)));
    expect(cut.decompressError?.code).toBe('TRUNCATED');
  });

  it('refuses before writing when the disk cannot hold the plain archive', async () => {
    const file = path.join(work, 'nospace.dump');
    const object = { key: 'big.dump', bytes: wrapped.length, sha256: sha(wrapped) };
    const body = chunked(wrapped);
    const err = await rejection(
      downloadArchive({
        body,
        object,
        compression: { kind: 'zstd-wrapped', level: 1, threads: 2, rawBytes: 5 * 1024 ** 3 },
        file,
        statfs: async () => ({ bavail: 1024, bsize: 1024 * 1024 }), // 1 GiB free
      }),
    );
    expect(err.code).toBe('INSUFFICIENT_SPACE');
    expect(err.message).toMatch(/need 5\.0\d GiB .* 1\.00 GiB available.*Fargate runner/);
    expect(fs.existsSync(file)).toBe(false);
    expect(body.destroyed).toBe(true);
  });
});

describe('restore work dir', () => {
  it('removes leftovers of dead owners and of this process, keeps a live process-s dir', async () => {
    const base = fs.mkdtempSync(path.join(work, 'base-'));
    const mk = (name: string, owner?: number) => {
      const dir = path.join(base, WORK_DIR_PREFIX + name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'archive.dump'), 'x'.repeat(1000));
      if (owner !== undefined) fs.writeFileSync(path.join(dir, 'owner.json'), JSON.stringify({ pid: owner }));
      return dir;
    };
    const dead = spawnSync('true').pid;
    const live = spawn('sleep', ['30']);
    try {
      const deadDir = mk('dead', dead);
      const mineDir = mk('mine', process.pid); // a crashed earlier invocation of this warm process
      const liveDir = mk('live', live.pid!);
      const unowned = mk('unowned');
      const old = new Date(Date.now() - 3600_000);
      fs.utimesSync(unowned, old, old);
      const other = path.join(base, 'someone-else');
      fs.mkdirSync(other);

      const wd = await prepareWorkDir(base);
      expect([...wd.removed].sort()).toEqual([deadDir, mineDir, unowned].sort());
      expect(fs.existsSync(liveDir)).toBe(true);
      expect(fs.existsSync(other)).toBe(true);
      // A second invocation while the first still holds its dir leaves it alone.
      const wd2 = await prepareWorkDir(base);
      expect(wd2.removed).toEqual([]);
      expect(fs.existsSync(wd.dir)).toBe(true);
      await wd.release();
      await wd2.release();
    } finally {
      live.kill('SIGKILL');
    }
  });
});
