/**
 * Compression and throughput benchmark (issue 10): one run at one or more database sizes, variants
 * alternated round by round so background load on a shared machine falls on all of them alike.
 *
 *   npm run bench                             ~100 MB, then ~1 GB of realistic rows, 3 rounds each
 *   BENCH_SIZES=100 npm run bench             only the small size (or: npm run bench -- --sizes 100)
 *   npm run bench -- --sizes 100,1024 --rounds 5,3 --level 1 --out /tmp/bench.md
 *   npm run bench -- --layouts-up-to 100     the whole-operation and layout variants at ~100 MB only
 *   npm run bench -- --sizes 1024 --include /tmp/restorable-bench-results.json
 *                                            add a size to an earlier run's (--json names the file)
 *
 * The database grows from one size to the next (the same rows plus more), so the sizes share their
 * shape. At each size, in three groups rotated round by round:
 * - Backup: raw `pg_dump -Fc > /dev/null` (pg_dump's gzip), `pg_dump -Fc -Z0 | zstd -T<cores> -3 >
 *   /dev/null`, our stream (startDump → SHA-256 → multipart upload), the plain
 *   `pg_dump -Fc | one multipart upload` script, and the whole backup (dumpDatabase: preflight,
 *   counts, dump, manifest) in the single-stream and the directory (`pg_dump -Fd -j2`) layout.
 *   Every upload goes to the same local S3 server, running in its own process.
 * - Restore: our one pass (download → hash → zstd -d → file, then `pg_restore -j2`) vs raw
 *   `pg_restore -j2` of a local file of the same plain archive, and the whole restore
 *   (restoreBackup -j2) of each layout.
 * - Verify: the local S3 server alone (a GetObject drained, no work on the bytes), our read
 *   (stream + SHA-256 + zstd + TOC) vs `sha256sum` of the same stored bytes, and the whole
 *   verify (verifyBackup) of each layout. CPU seconds (this process and its children, plus the S3
 *   server process) are recorded next to the wall time: they do not depend on the machine's load.
 * Writes the results as Markdown (the "Compression and throughput" section of BENCHMARKS.md).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { spawn, execFileSync } from 'node:child_process';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client } from 'pg';
import { downloadArchive, prepareWorkDir, scanArchive, scanVerdict } from '../lambda/core/archive-read';
import { availableCores, startDump, zstdCommand } from '../lambda/core/compression';
import { manifestCompression, type CompressionSettings } from '../lambda/core/compression-settings';
import { dumpDatabase } from '../lambda/core/dump';
import { startLocalCluster, type LocalCluster } from '../lambda/core/local-cluster';
import type { Manifest } from '../lambda/core/manifest';
import { findPgBinary } from '../lambda/core/pg-bin';
import { restoreBackup } from '../lambda/core/restore';
import { makeS3Client } from '../lambda/core/s3';
import { libpqEnv, withPgPassFile } from '../lambda/core/secrets';
import { verifyBackup } from '../lambda/core/verify';
import { LOCAL_S3_CREDENTIALS } from '../src/local/s3-server';
import { fillRealistic } from './realistic-data';
import { cpuSeconds, load, MIB, mib, median, run, sampler, startS3Process, summary, timed } from './support';
import { writeReport, type BenchResults, type SizeResults } from './compression-report';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** Database sizes in MiB, ascending: `--sizes 100,1024`, `--size-mb N`, BENCH_SIZES or BENCH_MB. */
const SIZES = arg('sizes', arg('size-mb', process.env.BENCH_SIZES ?? process.env.BENCH_MB ?? '100,1024'))
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
if (SIZES.length === 0 || SIZES.some((s) => !Number.isFinite(s) || s <= 0)) {
  throw new Error(`--sizes wants positive MiB values like 100,1024`);
}
/** Rounds per size (`--rounds 3` or `--rounds 3,2`: the last value holds for the larger sizes). */
const ROUND_LIST = arg('rounds', process.env.BENCH_ROUNDS ?? '3')
  .split(',')
  .map(Number);
const roundsFor = (i: number) => ROUND_LIST[Math.min(i, ROUND_LIST.length - 1)];
/**
 * The whole backup/restore/verify in both layouts (dumpDatabase, restoreBackup, verifyBackup) run
 * at sizes up to this many MiB only: they triple the time of a size. @default - every size
 */
const LAYOUTS_UP_TO = Number(arg('layouts-up-to', process.env.BENCH_LAYOUTS_UP_TO ?? 'Infinity'));
/** Results of an earlier run (its --json file) whose sizes this run does not measure again. */
const INCLUDE = arg('include', '');
/** Where the raw results go as JSON (for --include). */
const JSON_OUT = arg('json', path.join(os.tmpdir(), 'restorable-bench-results.json'));
const OUT = arg('out', path.join(__dirname, '..', 'BENCHMARKS.md'));
const CORES = availableCores();
const LEVEL = Number(arg('level', '3'));
const JOBS = 2;
const ZSTD: CompressionSettings = { kind: 'zstd-wrapped', level: LEVEL, threads: CORES };
const BUCKET = 'backups';
/** Any well-formed key ARN: the local S3 server records it and encrypts nothing. */
const KMS_KEY = 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555';
const partSize = (dbBytes: number) => Math.max(5 * MIB, Math.ceil((dbBytes * 1.2) / 10_000));

interface Ctx {
  cluster: LocalCluster;
  binDir: string;
  major: number;
  env: NodeJS.ProcessEnv;
  s3: S3Client;
  s3Pid: number | undefined;
  dbBytes: number;
  work: string;
}

/** Our backup stream: pg_dump -Z0 → zstd → SHA-256 + count → multipart upload (as dump.ts streams). */
async function ourBackup(ctx: Ctx, key: string) {
  const mem = sampler();
  const dump = startDump({
    pgDumpPath: path.join(ctx.binDir, 'pg_dump'),
    pgDumpMajor: ctx.major,
    args: ['--format=custom', '--no-password'],
    env: ctx.env,
    compression: ZSTD,
  });
  mem.watch(dump.pgDump);
  mem.watch(dump.compressor?.child);
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  dump.output.on('error', (e) => tap.destroy(e));
  dump.output.pipe(tap);
  const upload = new Upload({
    client: ctx.s3,
    queueSize: 2,
    partSize: partSize(ctx.dbBytes),
    leavePartsOnError: false,
    params: { Bucket: BUCKET, Key: key, Body: tap },
  });
  await upload.done();
  await dump.exited;
  return {
    bytes,
    sha256: hash.digest('hex'),
    compression: manifestCompression(ZSTD, dump.rawBytes()),
    rss: mem.stop(),
  };
}

/** The plain script: pg_dump -Fc (its gzip) straight into one multipart upload. */
async function plainScript(ctx: Ctx, key: string) {
  const child = spawn(path.join(ctx.binDir, 'pg_dump'), ['--format=custom', '--no-password'], {
    env: ctx.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('close', r));
  const upload = new Upload({
    client: ctx.s3,
    queueSize: 2,
    partSize: partSize(ctx.dbBytes),
    params: { Bucket: BUCKET, Key: key, Body: child.stdout },
  });
  await upload.done();
  if ((await exited) !== 0) throw new Error('pg_dump failed in the plain script');
}

/** The whole backup as the runner does it, in either layout. */
async function wholeBackup(ctx: Ctx, layout: 'custom' | 'directory') {
  const mem = sampler();
  const manifest = await dumpDatabase({
    databaseId: 'bench',
    connection: ctx.cluster.connection('bench'),
    s3: ctx.s3,
    bucket: BUCKET,
    sslMode: 'disable',
    kmsKeyId: KMS_KEY,
    objectLockMode: 'COMPLIANCE',
    pgBinDirs: [ctx.binDir],
    compression: { kind: 'zstd', level: LEVEL },
    compressionThreads: CORES,
    layout,
    jobs: JOBS,
    workDir: ctx.work,
    partSizeBytes: partSize(ctx.dbBytes),
  });
  return { manifest, rss: mem.stop() };
}

async function freshDb(ctx: Ctx, name: string): Promise<void> {
  const c = new Client(ctx.cluster.connection());
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
}

async function dropDb(ctx: Ctx, name: string): Promise<void> {
  const c = new Client(ctx.cluster.connection());
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.end();
}

function restoreEnv(ctx: Ctx, db: string): NodeJS.ProcessEnv {
  return { ...ctx.env, PGDATABASE: db };
}

/** Our restore: one pass to the plain archive file, then pg_restore -j2 from it. */
async function ourRestore(
  ctx: Ctx,
  key: string,
  object: { bytes: number; sha256: string },
  compression: ReturnType<typeof manifestCompression>,
) {
  await freshDb(ctx, 'restore_ours');
  const mem = sampler();
  let downloadSeconds = 0;
  const t = await timed(async () => {
    const wd = await prepareWorkDir(ctx.work);
    const file = path.join(wd.dir, 'archive.dump');
    const d = await timed(async () => {
      const res = await ctx.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      await downloadArchive({ body: res.Body as Readable, object: { key, ...object }, compression, file });
    });
    downloadSeconds = d.seconds;
    await run(
      path.join(ctx.binDir, 'pg_restore'),
      ['-j', String(JOBS), '--no-owner', '-d', 'restore_ours', file],
      { env: restoreEnv(ctx, 'restore_ours'), watch: mem.watch },
    );
    await wd.release();
  });
  await dropDb(ctx, 'restore_ours');
  return { seconds: t.seconds, downloadSeconds, rss: mem.stop() };
}

async function rawRestore(ctx: Ctx, file: string) {
  await freshDb(ctx, 'restore_raw');
  const t = await timed(() =>
    run(path.join(ctx.binDir, 'pg_restore'), ['-j', String(JOBS), '--no-owner', '-d', 'restore_raw', file], {
      env: restoreEnv(ctx, 'restore_raw'),
    }),
  );
  await dropDb(ctx, 'restore_raw');
  return t.seconds;
}

/** The whole restore as the CLI and drills run it (target checks, download, pg_restore -j2, counts). */
async function wholeRestore(ctx: Ctx, manifest: Manifest, db: string) {
  await freshDb(ctx, db);
  const mem = sampler();
  const t = await timed(() =>
    restoreBackup(
      { s3: ctx.s3, bucket: BUCKET, manifest },
      { ...ctx.cluster.connection(db), sslMode: 'disable' },
      { jobs: JOBS, pgBinDirs: [ctx.binDir], tempDir: ctx.work },
    ),
  );
  await dropDb(ctx, db);
  return { seconds: t.seconds, rss: mem.stop() };
}

/** Our verify read: stream back, SHA-256 + size, decompress, pg_restore --list reads the TOC. */
async function ourVerify(ctx: Ctx, key: string, object: { bytes: number; sha256: string }) {
  const mem = sampler();
  const t = await timed(async () => {
    const res = await ctx.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const list = spawn(path.join(ctx.binDir, 'pg_restore'), ['--list'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    mem.watch(list);
    let listing = '';
    list.stdout.setEncoding('utf8').on('data', (d: string) => (listing += d));
    const closed = new Promise<number | null>((r) => list.once('close', r));
    const scan = await scanArchive(res.Body as Readable, {
      expect: 'zstd',
      sink: list.stdin,
      sinkMayCloseEarly: true,
      direct: true,
    });
    const verdict = scanVerdict(scan, { key, ...object });
    if (verdict) throw verdict;
    if ((await closed) !== 0 || !/TABLE DATA shop orders/.test(listing)) throw new Error('TOC check failed');
  });
  return { seconds: t.seconds, rss: mem.stop() };
}

/** What the local S3 server can serve: one GetObject drained, nothing done with the bytes. */
async function drain(ctx: Ctx, key: string): Promise<number> {
  const res = await ctx.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  let n = 0;
  for await (const chunk of res.Body as AsyncIterable<Buffer>) n += chunk.length;
  return n;
}

async function wholeVerify(ctx: Ctx, manifest: Manifest) {
  const mem = sampler();
  const verdict = await verifyBackup({ s3: ctx.s3, bucket: BUCKET, manifest, pgBinDirs: [ctx.binDir] });
  if (!verdict.ok) throw new Error(`verify failed: ${JSON.stringify(verdict.checks)}`);
  return mem.stop();
}

/** This run's sizes plus those of `--include` it did not measure, ascending. */
function withIncluded(results: BenchResults): BenchResults {
  if (!INCLUDE) return results;
  const earlier = JSON.parse(fs.readFileSync(INCLUDE, 'utf8')) as BenchResults;
  const mine = new Set(results.sizes.map((s) => s.sizeMb));
  const sizes = [...earlier.sizes.filter((s) => !mine.has(s.sizeMb)), ...results.sizes];
  return { ...results, sizes: sizes.sort((a, b) => a.sizeMb - b.sizeMb) };
}

type Variant = [name: string, fn: (round: number) => Promise<number | void>];

/** Runs the variants `r.rounds` times, rotating their order, recording wall and CPU seconds. */
async function rotate(r: SizeResults, ctx: Ctx, group: string, variants: Variant[]): Promise<void> {
  const cpu = () => cpuSeconds('self', true) + (ctx.s3Pid ? cpuSeconds(ctx.s3Pid) : 0);
  for (let round = 0; round < r.rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const [name, fn] = variants[(i + round) % variants.length];
      const c0 = cpu();
      const t = await timed(() => fn(round));
      // A variant that times itself (without its setup) returns its own seconds.
      const s = typeof t.value === 'number' ? t.value : t.seconds;
      (r.times[name] ??= []).push(s);
      (r.cpu[name] ??= []).push(cpu() - c0);
      console.log(`${r.sizeMb} MB ${group} round ${round + 1}: ${name}: ${s.toFixed(2)} s (load ${load()})`);
    }
    r.loads.push(load());
  }
}

async function measureSize(ctx: Ctx, sizeMb: number, index: number): Promise<SizeResults> {
  const first = index === 0;
  const layouts = sizeMb <= LAYOUTS_UP_TO;
  const onlyWithLayouts = (vs: Variant[]): Variant[] => (layouts ? vs : []);
  const dumpBin = path.join(ctx.binDir, 'pg_dump');
  const { env } = ctx;
  const gzFile = path.join(ctx.work, 'gzip.dump');
  await run(dumpBin, ['--format=custom'], { env, stdoutFile: gzFile });
  const r: SizeResults = {
    sizeMb,
    rounds: roundsFor(index),
    dbBytes: ctx.dbBytes,
    gzipBytes: fs.statSync(gzFile).size,
    zstdBytes: 0,
    plainBytes: 0,
    directoryBytes: 0,
    times: {},
    cpu: {},
    rss: {},
    loads: [load()],
    levels: [],
    downloadSeconds: [],
  };
  fs.rmSync(gzFile);
  const peak = (name: string, v: number) => (r.rss[name] = Math.max(r.rss[name] ?? 0, v));
  let stored: Awaited<ReturnType<typeof ourBackup>> | undefined;
  let storedKey = '';
  let streamManifest: Manifest | undefined;
  let dirManifest: Manifest | undefined;

  await rotate(r, ctx, 'backup', [
    ['pg_dump -Fc > /dev/null', () => run(dumpBin, ['--format=custom'], { env })],
    [
      `pg_dump -Fc -Z0 | zstd -T${CORES} -${LEVEL} > /dev/null`,
      () =>
        run(
          'sh',
          [
            '-c',
            `"${dumpBin}" --format=custom -Z0 | ${zstdCommand()} -T${CORES} -${LEVEL} -q -c > /dev/null`,
          ],
          { env },
        ),
    ],
    [
      'ours: pg_dump -Z0 → zstd → SHA-256 → multipart upload',
      async (round) => {
        const key = `ours-${sizeMb}-${round}.dump`;
        const out = await ourBackup(ctx, key);
        peak('backup: node', out.rss.nodePeak);
        peak('backup: node + pg_dump + zstd', out.rss.totalPeak);
        r.zstdBytes = out.bytes;
        stored = out;
        storedKey = key;
      },
    ],
    [
      'plain script: pg_dump -Fc | one multipart upload',
      (round) => plainScript(ctx, `plain-${sizeMb}-${round}.dump`),
    ],
    ...onlyWithLayouts([
      [
        'whole backup, single stream (zstd)',
        async () => {
          const out = await wholeBackup(ctx, 'custom');
          peak('whole backup, single stream: node', out.rss.nodePeak);
          streamManifest = out.manifest;
        },
      ],
      [
        `whole backup, directory layout (pg_dump -Fd -j${JOBS}, its gzip)`,
        async () => {
          const out = await wholeBackup(ctx, 'directory');
          peak('whole backup, directory: node', out.rss.nodePeak);
          dirManifest = out.manifest;
          r.directoryBytes = (out.manifest.files ?? []).reduce((n, f) => n + f.bytes, 0);
        },
      ],
    ]),
  ]);
  if (!stored || (layouts && (!streamManifest || !dirManifest))) throw new Error('no backup stored');
  const object = { bytes: stored.bytes, sha256: stored.sha256 };
  r.plainBytes = stored.compression.rawBytes ?? 0;
  // The same plain archive as a local file, and the stored bytes as a local file.
  const plainFile = path.join(ctx.work, 'plain.dump');
  const storedFile = path.join(ctx.work, 'stored.zst');
  const body = await ctx.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: storedKey }));
  await fs.promises.writeFile(storedFile, body.Body as Readable);
  await run(zstdCommand(), ['-d', '-q', '-c', storedFile], { stdoutFile: plainFile });

  if (first) {
    for (const level of [1, 2, 3, 6]) {
      const out = path.join(ctx.work, `level-${level}.zst`);
      const t = await timed(() =>
        run(zstdCommand(), [`-T${CORES}`, `-${level}`, '-q', '-c', plainFile], { stdoutFile: out }),
      );
      r.levels.push({ level, bytes: fs.statSync(out).size, seconds: t.seconds });
      fs.rmSync(out);
    }
  }

  await rotate(r, ctx, 'restore', [
    [
      `ours: download → SHA-256 → zstd -d → file, pg_restore -j${JOBS}`,
      async () => {
        const out = await ourRestore(ctx, storedKey, object, stored!.compression);
        peak('restore: node', out.rss.nodePeak);
        r.downloadSeconds.push(out.downloadSeconds);
        return out.seconds;
      },
    ],
    [`raw: pg_restore -j${JOBS} of the local plain archive`, () => rawRestore(ctx, plainFile)],
    ...onlyWithLayouts([
      [
        `whole restore, single stream (restoreBackup -j${JOBS})`,
        async () => {
          const out = await wholeRestore(ctx, streamManifest!, 'restore_whole_stream');
          peak('whole restore, single stream: node', out.rss.nodePeak);
          return out.seconds;
        },
      ],
      [
        `whole restore, directory layout (restoreBackup -j${JOBS})`,
        async () => {
          const out = await wholeRestore(ctx, dirManifest!, 'restore_whole_dir');
          peak('whole restore, directory: node', out.rss.nodePeak);
          return out.seconds;
        },
      ],
    ]),
  ]);

  await rotate(r, ctx, 'verify', [
    [
      'local S3 server alone: GetObject drained, bytes unused',
      async () => {
        if ((await drain(ctx, storedKey)) !== object.bytes) throw new Error('short read');
      },
    ],
    [
      'ours: verify read (stream + SHA-256 + zstd -t, zstd -d → pg_restore --list)',
      async () => {
        const out = await ourVerify(ctx, storedKey, object);
        peak('verify: node', out.rss.nodePeak);
        return out.seconds;
      },
    ],
    ['sha256sum of the stored bytes (local file)', () => run('sha256sum', [storedFile])],
    ...onlyWithLayouts([
      [
        'whole verify, single stream (verifyBackup)',
        async () => {
          peak('whole verify, single stream: node', (await wholeVerify(ctx, streamManifest!)).nodePeak);
        },
      ],
      [
        'whole verify, directory layout (verifyBackup)',
        async () => {
          peak('whole verify, directory: node', (await wholeVerify(ctx, dirManifest!)).nodePeak);
        },
      ],
    ]),
  ]);
  fs.rmSync(plainFile);
  fs.rmSync(storedFile);
  return r;
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-bench-'));
  console.log(
    `bench: sizes ${SIZES.join(', ')} MB of realistic rows, rounds ${SIZES.map((_, i) => roundsFor(i)).join(', ')}, ` +
      `${CORES} cores, load ${load()}`,
  );
  const cluster = await startLocalCluster({ settings: { max_wal_size: '4GB', checkpoint_timeout: '30min' } });
  const s3proc = await startS3Process();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: s3proc.endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  const s3 = makeS3Client();
  const pgDump = findPgBinary('pg_dump', [cluster.binDir]);
  const binDir = path.dirname(pgDump.path);
  try {
    const admin = new Client(cluster.connection());
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const conn = cluster.connection('bench');
    const results: BenchResults = {
      cores: CORES,
      level: LEVEL,
      jobs: JOBS,
      sizes: [],
      versions: {
        node: process.version,
        pgDump: pgDump.version,
        zstd: execFileSync(zstdCommand(), ['--version'], { encoding: 'utf8' }).trim(),
        cpu: os.cpus()[0]?.model ?? 'unknown',
        memory: `${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB`,
        kernel: `${os.type()} ${os.release()}`,
      },
    };
    for (const [i, sizeMb] of SIZES.entries()) {
      const client = new Client(conn);
      client.on('error', (e) => console.error('pg client:', e.message));
      await client.connect();
      const gen = await timed(() => fillRealistic(client, sizeMb * MIB, console.log));
      await client.end();
      console.log(`generated ${mib(gen.value)} in ${gen.seconds.toFixed(0)} s`);
      const sized = await withPgPassFile(conn, async (passFile) => {
        const env = libpqEnv(conn, { sslMode: 'disable' }, passFile);
        const ctx: Ctx = {
          cluster,
          binDir,
          major: pgDump.major,
          env,
          s3,
          s3Pid: s3proc.pid,
          dbBytes: gen.value,
          work,
        };
        return measureSize(ctx, sizeMb, i);
      });
      results.sizes.push(sized);
      // Written after every size, so a long run that is stopped still leaves what it measured.
      fs.writeFileSync(JSON_OUT, JSON.stringify(results));
      writeReport(OUT, withIncluded(results), { summary, median, mib });
    }
    console.log(writeReport(OUT, withIncluded(results), { summary, median, mib }));
    console.log(`raw results: ${JSON_OUT}`);
  } catch (e) {
    // The server's own view helps when a connection is terminated under us.
    const log = path.join(path.dirname(cluster.dataDir), 'server.log');
    if (fs.existsSync(log)) console.error(fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n'));
    throw e;
  } finally {
    s3.destroy();
    s3proc.stop();
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
