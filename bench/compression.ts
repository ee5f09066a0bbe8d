/**
 * Compression and throughput benchmark (issue 10): one run, variants alternated round by round so
 * background load on a shared machine falls on all of them alike.
 *
 *   npm run bench                       ~100 MB of realistic rows, 3 rounds
 *   npm run bench -- --size-mb 1024     ~1 GB
 *   npm run bench -- --rounds 5 --level 1 --out /tmp/bench.md   (zstd level, default 3)
 *
 * Backup: raw `pg_dump -Fc > /dev/null` (pg_dump's gzip), `pg_dump -Fc -Z0 | zstd -T<cores> -3 >
 * /dev/null`, our pipeline (startDump → SHA-256 → multipart upload) and the plain
 * `pg_dump -Fc | one multipart upload` script, both into the same local S3 server running in its
 * own process. Restore: our one pass (download → hash → decompress → file, then `pg_restore -j2`)
 * vs raw `pg_restore -j2` of a local file of the same plain archive. Verify: our stream + SHA-256
 * + decompress + TOC vs `sha256sum` of the same stored bytes. Writes the results as Markdown.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { spawn, execFileSync } from 'node:child_process';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Client } from 'pg';
import { downloadArchive, prepareWorkDir, scanArchive, scanVerdict } from '../lambda/core/archive-read';
import { availableCores, startDump, zstdCommand } from '../lambda/core/compression';
import { manifestCompression, type CompressionSettings } from '../lambda/core/compression-settings';
import { startLocalCluster, type LocalCluster } from '../lambda/core/local-cluster';
import { findPgBinary } from '../lambda/core/pg-bin';
import { makeS3Client } from '../lambda/core/s3';
import { libpqEnv, withPgPassFile } from '../lambda/core/secrets';
import { LOCAL_S3_CREDENTIALS } from '../src/local/s3-server';
import { fillRealistic } from './realistic-data';
import { load, MIB, mib, median, run, sampler, startS3Process, summary, timed } from './support';
import { writeReport, type BenchResults } from './compression-report';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const SIZE_MB = Number(arg('size-mb', process.env.BENCH_MB ?? '100'));
const ROUNDS = Number(arg('rounds', '3'));
const OUT = arg('out', path.join(__dirname, '..', 'BENCHMARKS.md'));
const CORES = availableCores();
const LEVEL = Number(arg('level', '3'));
const ZSTD: CompressionSettings = { kind: 'zstd-wrapped', level: LEVEL, threads: CORES };
const BUCKET = 'backups';
const partSize = (dbBytes: number) => Math.max(5 * MIB, Math.ceil((dbBytes * 1.2) / 10_000));

interface Ctx {
  cluster: LocalCluster;
  binDir: string;
  major: number;
  env: NodeJS.ProcessEnv;
  s3: S3Client;
  dbBytes: number;
  work: string;
}

/** Our backup: pg_dump -Z0 → zstd → SHA-256 + count → multipart upload (as dump.ts streams). */
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

async function freshDb(ctx: Ctx, name: string): Promise<void> {
  const c = new Client(ctx.cluster.connection());
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.query(`CREATE DATABASE ${name}`);
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
  const t = await timed(async () => {
    const wd = await prepareWorkDir(ctx.work);
    const file = path.join(wd.dir, 'archive.dump');
    const res = await ctx.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    await downloadArchive({
      body: res.Body as NodeJS.ReadableStream as never,
      object: { key, ...object },
      compression,
      file,
    });
    await run(path.join(ctx.binDir, 'pg_restore'), ['-j', '2', '--no-owner', '-d', 'restore_ours', file], {
      env: restoreEnv(ctx, 'restore_ours'),
      watch: mem.watch,
    });
    await wd.release();
  });
  return { seconds: t.seconds, rss: mem.stop() };
}

async function rawRestore(ctx: Ctx, file: string) {
  await freshDb(ctx, 'restore_raw');
  const t = await timed(() =>
    run(path.join(ctx.binDir, 'pg_restore'), ['-j', '2', '--no-owner', '-d', 'restore_raw', file], {
      env: restoreEnv(ctx, 'restore_raw'),
    }),
  );
  return t.seconds;
}

/** Our verify: stream back, SHA-256 + size, decompress, pg_restore --list reads the TOC. */
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
    const scan = await scanArchive(res.Body as never, {
      expect: 'zstd',
      sink: list.stdin,
      sinkMayCloseEarly: true,
    });
    const verdict = scanVerdict(scan, { key, ...object });
    if (verdict) throw verdict;
    if ((await closed) !== 0 || !/TABLE DATA shop orders/.test(listing)) throw new Error('TOC check failed');
  });
  return { seconds: t.seconds, rss: mem.stop() };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-bench-'));
  console.log(`bench: ~${SIZE_MB} MB of realistic rows, ${ROUNDS} rounds, ${CORES} cores, load ${load()}`);
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
    const client = new Client(cluster.connection('bench'));
    client.on('error', (e) => console.error('pg client:', e.message));
    await client.connect();
    const gen = await timed(() => fillRealistic(client, SIZE_MB * MIB, console.log));
    await client.end();
    const dbBytes = gen.value;
    console.log(`generated ${mib(dbBytes)} in ${gen.seconds.toFixed(0)} s`);

    const conn = cluster.connection('bench');
    const results = await withPgPassFile(conn, async (passFile) => {
      const env = libpqEnv(conn, { sslMode: 'disable' }, passFile);
      const ctx: Ctx = { cluster, binDir, major: pgDump.major, env, s3, dbBytes, work };
      const dumpBin = path.join(binDir, 'pg_dump');
      // Sizes and the local files the baselines read, made once.
      const gzFile = path.join(work, 'gzip.dump');
      await run(dumpBin, ['--format=custom'], { env, stdoutFile: gzFile });
      const r: BenchResults = {
        dbBytes,
        cores: CORES,
        level: LEVEL,
        rounds: ROUNDS,
        gzipBytes: fs.statSync(gzFile).size,
        zstdBytes: 0,
        plainBytes: 0,
        times: {},
        rss: {},
        loads: [load()],
        levels: [],
        versions: {
          node: process.version,
          pgDump: pgDump.version,
          zstd: execFileSync(zstdCommand(), ['--version'], { encoding: 'utf8' }).trim(),
          cpu: os.cpus()[0]?.model ?? 'unknown',
          memory: `${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB`,
          kernel: `${os.type()} ${os.release()}`,
        },
      };
      fs.rmSync(gzFile);
      const add = (name: string, s: number) => ((r.times[name] ??= []).push(s), s);
      const peak = (name: string, v: number) => (r.rss[name] = Math.max(r.rss[name] ?? 0, v));
      let stored: Awaited<ReturnType<typeof ourBackup>> | undefined;
      let storedKey = '';
      const plainFile = path.join(work, 'plain.dump');

      const backups: [string, (round: number) => Promise<unknown>][] = [
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
              {
                env,
              },
            ),
        ],
        [
          'ours: pg_dump -Z0 → zstd → SHA-256 → multipart upload',
          async (round) => {
            const key = `ours-${round}.dump`;
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
          (round) => plainScript(ctx, `plain-${round}.dump`),
        ],
      ];
      for (let round = 0; round < ROUNDS; round++) {
        // Rotate the order each round so no variant always runs first (cold) or last.
        for (let i = 0; i < backups.length; i++) {
          const [name, fn] = backups[(i + round) % backups.length];
          const t = await timed(() => fn(round));
          console.log(`round ${round + 1}: ${name}: ${add(name, t.seconds).toFixed(2)} s (load ${load()})`);
        }
        r.loads.push(load());
      }
      if (!stored) throw new Error('no backup stored');
      const object = { bytes: stored.bytes, sha256: stored.sha256 };
      r.plainBytes = stored.compression.rawBytes ?? 0;
      // The same plain archive as a local file, and the stored bytes as a local file.
      const storedFile = path.join(work, 'stored.zst');
      const body = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: storedKey }));
      await fs.promises.writeFile(storedFile, body.Body as never);
      await run(zstdCommand(), ['-d', '-q', '-c', storedFile], { stdoutFile: plainFile });

      for (const level of [1, 2, 3, 6]) {
        const out = path.join(work, `level-${level}.zst`);
        const t = await timed(() =>
          run(zstdCommand(), [`-T${CORES}`, `-${level}`, '-q', '-c', plainFile], { stdoutFile: out }),
        );
        r.levels.push({ level, bytes: fs.statSync(out).size, seconds: t.seconds });
        fs.rmSync(out);
      }

      const restores: [string, () => Promise<number>][] = [
        [
          'ours: download → SHA-256 → zstd -d → file, pg_restore -j2',
          async () => {
            const out = await ourRestore(ctx, storedKey, object, stored!.compression);
            peak('restore: node', out.rss.nodePeak);
            return out.seconds;
          },
        ],
        ['raw: pg_restore -j2 of the local plain archive', () => rawRestore(ctx, plainFile)],
        [
          'ours: verify (stream + SHA-256 + zstd -d + TOC)',
          async () => {
            const out = await ourVerify(ctx, storedKey, object);
            peak('verify: node', out.rss.nodePeak);
            return out.seconds;
          },
        ],
        [
          'sha256sum of the stored bytes',
          async () => (await timed(() => run('sha256sum', [storedFile]))).seconds,
        ],
      ];
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < restores.length; i++) {
          const [name, fn] = restores[(i + round) % restores.length];
          const s = await fn();
          console.log(`round ${round + 1}: ${name}: ${add(name, s).toFixed(2)} s (load ${load()})`);
        }
        r.loads.push(load());
      }
      return r;
    });
    const report = writeReport(OUT, results, { summary, median, mib });
    console.log(report);
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
