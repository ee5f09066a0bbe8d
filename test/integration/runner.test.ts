/**
 * The Fargate runner's entry point (lambda/runner/main.ts) run as a process, as the ECS task runs
 * it: `tsx lambda/runner/main.ts <handler>` with the event in RESTORABLE_EVENT, against a real
 * PostgreSQL and the local S3 server. Secrets Manager and Step Functions have no local server and
 * the process is not ours to mock, so one small HTTP endpoint answers their JSON protocol
 * (GetSecretValue; SendTaskSuccess / SendTaskFailure, recorded) through the SDK's per-service
 * endpoint variables.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { listBackups } from '../../lambda/core/catalog';
import { dumpDatabase } from '../../lambda/core/dump';
import { keysOfManifest, parseManifest, type Manifest } from '../../lambda/core/manifest';
import { readText } from '../../lambda/core/s3';
import { makeStandInBinDir, startHarness, TEST_KMS_KEY, type Harness } from '../support/harness';

const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:restorable-app-AbCdEf';
const TOKEN = 'task-token-for-this-test';
const MIB = 1024 * 1024;

let h: Harness;
let aws: http.Server;
let awsEndpoint: string;
/** Step Functions calls the runner made: X-Amz-Target and body. */
const sfnCalls: { target: string; body: Record<string, unknown> }[] = [];
/** SendTaskHeartbeat calls (their task tokens). */
const heartbeats: string[] = [];
interface PutMetricData {
  Namespace: string;
  MetricData: {
    MetricName: string;
    Value: number;
    Unit: string;
    Dimensions: { Name: string; Value: string }[];
  }[];
}
/** PutMetricData calls (RESTORABLE_METRICS=cloudwatch). */
const metricCalls: PutMetricData[] = [];
/** The metrics sent, as `name{DatabaseId=x}=value`. */
const sentMetrics = () =>
  metricCalls.flatMap((c) =>
    c.MetricData.map(
      (m) =>
        `${c.Namespace}/${m.MetricName}{${m.Dimensions.map((d) => `${d.Name}=${d.Value}`).join(',')}}=${m.Value}`,
    ),
  );

beforeAll(async () => {
  h = await startHarness();
  aws = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
      const reply = (status: number, json: unknown, type: string) => {
        res.writeHead(status, { 'content-type': type }).end(JSON.stringify(json));
      };
      if (target === 'secretsmanager.GetSecretValue' && body.SecretId === SECRET_ARN) {
        return reply(
          200,
          {
            ARN: SECRET_ARN,
            Name: 'restorable-app',
            SecretString: h.secretString(),
          },
          'application/x-amz-json-1.1',
        );
      }
      if (target === 'AWSStepFunctions.SendTaskHeartbeat') {
        heartbeats.push(body.taskToken as string);
        return reply(200, {}, 'application/x-amz-json-1.0');
      }
      if (target.startsWith('AWSStepFunctions.SendTask')) {
        sfnCalls.push({ target: target.replace('AWSStepFunctions.', ''), body });
        return reply(200, {}, 'application/x-amz-json-1.0');
      }
      if (target === 'GraniteServiceVersion20100801.PutMetricData') {
        metricCalls.push(body as unknown as PutMetricData);
        return reply(200, {}, 'application/x-amz-json-1.0');
      }
      reply(400, { __type: 'UnknownOperationException', message: target }, 'application/x-amz-json-1.1');
    });
  });
  await new Promise<void>((resolve) => aws.listen(0, '127.0.0.1', resolve));
  awsEndpoint = `http://127.0.0.1:${(aws.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => aws?.close(resolve));
  await h?.stop();
});

beforeEach(() => {
  sfnCalls.length = 0;
  heartbeats.length = 0;
  metricCalls.length = 0;
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line: the handler's result. */
  result(): unknown;
  /** The last stderr line: `{ errorType, errorMessage }`. */
  error(): { errorType: string; errorMessage: string };
}

function runRunner(args: string[], env: Record<string, string>): Promise<Run> {
  const child = spawn(TSX, [path.join(ROOT, 'lambda', 'runner', 'main.ts'), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...h.s3server.env,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: awsEndpoint,
      AWS_ENDPOINT_URL_SFN: awsEndpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH: awsEndpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      BACKUP_BUCKET: h.bucket,
      BACKUP_KMS_KEY_ARN: TEST_KMS_KEY,
      OBJECT_LOCK_MODE: 'COMPLIANCE',
      POWERTOOLS_METRICS_NAMESPACE: 'Restorable',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const last = (text: string) => text.trim().split('\n').pop() ?? '';
  return new Promise((resolve) =>
    child.once('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        result: () => JSON.parse(last(stdout)) as unknown,
        error: () => JSON.parse(last(stderr)) as { errorType: string; errorMessage: string },
      }),
    ),
  );
}

/**
 * An HTTP proxy in front of the local S3 server that lets the first `allow` object writes (PUTs)
 * under a directory backup's `.dir/` prefix through, then resets the connection of every later
 * one (retries included): a network fault in the middle of a directory upload, seen by the
 * runner process as its S3 endpoint failing. Everything else (claims, listings, aborts) passes.
 */
async function faultyS3Proxy(
  allow: number,
): Promise<{ endpoint: string; reset: () => number; close(): Promise<void> }> {
  const upstream = new URL(h.s3server.endpoint);
  let passed = 0;
  let resets = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && /\.dir\//.test(req.url ?? '') && ++passed > allow) {
      resets++;
      req.socket.destroy();
      return;
    }
    const headers = { ...req.headers };
    delete headers.expect;
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    reset: () => resets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await h.s3.send(new ListObjectsV2Command({ Bucket: h.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** Overwrites a stored manifest (the local server has no Object Lock; real S3 would refuse). */
async function putManifest(key: string, manifest: Manifest | Record<string, unknown>): Promise<void> {
  await h.s3.send(
    new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: JSON.stringify(manifest, null, 2) }),
  );
}

const dumpEvent = (databaseId: string) =>
  JSON.stringify({ databaseId, secretArn: SECRET_ARN, sslMode: 'disable', tier: 'daily' });

describe('the Fargate runner entry point, as a process', () => {
  it('dumps with the Lambda handler code, reports SendTaskSuccess, and its backup verifies through the runner', async () => {
    const run = await runRunner(['dump'], {
      RESTORABLE_EVENT: dumpEvent('app'),
      PG_BIN_DIRS: h.realBinDir,
      TASK_TOKEN: TOKEN,
      DEADLINE_SECONDS: '600',
      RESTORABLE_METRICS: 'cloudwatch',
    });
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = run.result() as { manifestKey: string; databaseId: string; bytes: number };
    expect(result).toMatchObject({ databaseId: 'app', tier: 'daily' });
    const manifest = parseManifest(await readText(h.s3, h.bucket, result.manifestKey));
    expect(manifest.compression).toMatchObject({ kind: 'zstd-wrapped', level: 3 });
    expect(manifest.object.bytes).toBe(result.bytes);
    expect(sfnCalls).toEqual([
      { target: 'SendTaskSuccess', body: { taskToken: TOKEN, output: JSON.stringify(result) } },
    ]);
    // Alive from the start (the state's heartbeat timeout fails a task that dies without answering).
    expect(heartbeats[0]).toBe(TOKEN);
    // Metrics by PutMetricData (EMF in awslogs makes none), under the names the alarms watch.
    expect(sentMetrics()).toEqual(
      expect.arrayContaining([
        'Restorable/BackupSuccess{DatabaseId=app}=1',
        'Restorable/BackupFailure{DatabaseId=app}=0',
      ]),
    );

    // verify, by argv this time and without a token (ecs:runTask.sync: the exit code is the outcome).
    const verify = await runRunner(
      ['verify', JSON.stringify({ databaseId: 'app', manifestKey: result.manifestKey })],
      {
        PG_BIN_DIRS: h.realBinDir,
      },
    );
    expect({ code: verify.code, stderr: verify.code === 0 ? '' : verify.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(verify.result()).toMatchObject({ ok: true, sha256: manifest.object.sha256 });
    expect(sfnCalls).toHaveLength(1);
  });

  it('layout directory from the task environment dumps with pg_dump -Fd -j2; verify names a corrupted file', async () => {
    const run = await runRunner(['dump'], {
      RESTORABLE_EVENT: dumpEvent('app-dir'),
      PG_BIN_DIRS: h.realBinDir,
      RUNNER: 'fargate',
      DUMP_LAYOUT: 'directory',
      DUMP_JOBS: '2',
      WORK_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'runner-work-')),
    });
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = run.result() as { manifestKey: string };
    const manifest = parseManifest(await readText(h.s3, h.bucket, result.manifestKey));
    expect(manifest.layout).toBe('directory');
    expect(manifest.files!.length).toBeGreaterThan(2);

    const verify = () =>
      runRunner(['verify', JSON.stringify({ databaseId: 'app-dir', manifestKey: result.manifestKey })], {
        PG_BIN_DIRS: h.realBinDir,
      });
    const sound = await verify();
    expect(sound.result()).toMatchObject({ ok: true });

    // One flipped byte in one data file: the verdict names that file.
    const victim = manifest.files!.find((f) => f.name !== 'toc.dat' && f.bytes > 100)!;
    const file = h.s3server.objectPath(h.bucket, victim.key);
    const original = fs.readFileSync(file);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    fs.writeFileSync(file, flipped);
    try {
      const corrupt = await verify();
      expect(corrupt.code).toBe(1);
      expect(corrupt.error()).toMatchObject({
        errorType: 'VerificationFailed',
        errorMessage: expect.stringContaining(`file ${victim.name}:`),
      });
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it('a pg_dump failing mid-stream exits 1, reports SendTaskFailure, and commits nothing', async () => {
    const standIn = makeStandInBinDir(
      { kind: 'exit', bytes: 8 * MIB, code: 1 },
      { realBinDir: h.realBinDir },
    );
    try {
      const run = await runRunner(['dump'], {
        RESTORABLE_EVENT: dumpEvent('runner-fails'),
        PG_BIN_DIRS: standIn,
        TASK_TOKEN: TOKEN,
        RESTORABLE_METRICS: 'cloudwatch',
      });
      expect(run.code).toBe(1);
      expect(run.error()).toMatchObject({
        errorType: 'BackupError',
        errorMessage: expect.stringMatching(/^PG_DUMP_FAILED: pg_dump exited 1/),
      });
      expect(sfnCalls).toEqual([
        {
          target: 'SendTaskFailure',
          body: { taskToken: TOKEN, error: 'BackupError', cause: run.error().errorMessage },
        },
      ]);
      // The failure metric the BackupFailed alarm watches, sent before the task answered.
      expect(sentMetrics()).toEqual([
        'Restorable/BackupSuccess{DatabaseId=runner-fails}=0',
        'Restorable/BackupFailure{DatabaseId=runner-fails}=1',
      ]);
      expect(run.stdout).not.toMatch(/"manifestKey"/);
      expect(await listBackups(h.s3, h.bucket, 'runner-fails', { includeInvalid: true })).toEqual([]);
      expect(h.s3server.pendingUploads(h.bucket)).toEqual([]);
    } finally {
      fs.rmSync(standIn, { recursive: true, force: true });
    }
  });

  it('DEADLINE_SECONDS stands in for Lambda time: a stalled dump stops with DEADLINE naming the fix', async () => {
    const standIn = makeStandInBinDir(
      { kind: 'stall', bytes: 1 * MIB, seconds: 120 },
      { realBinDir: h.realBinDir },
    );
    try {
      const started = Date.now();
      const run = await runRunner(['dump'], {
        RESTORABLE_EVENT: dumpEvent('runner-deadline'),
        PG_BIN_DIRS: standIn,
        DEADLINE_SECONDS: '20',
        SAFETY_MARGIN_SECONDS: '5',
      });
      expect(run.code).toBe(1);
      expect(run.error().errorMessage).toMatch(
        /^DEADLINE: time nearly exhausted.*Lambda's 15 minutes: set databases\[\]\.runner to "fargate"/,
      );
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(await listBackups(h.s3, h.bucket, 'runner-deadline', { includeInvalid: true })).toEqual([]);
      expect(sfnCalls).toEqual([]);

      // On Fargate (RUNNER=fargate, as the task sets it) the fix is more time or more cores and jobs.
      const onFargate = await runRunner(['dump'], {
        RESTORABLE_EVENT: dumpEvent('runner-deadline'),
        PG_BIN_DIRS: standIn,
        RUNNER: 'fargate',
        DEADLINE_SECONDS: '15',
        SAFETY_MARGIN_SECONDS: '5',
      });
      expect(onFargate.code).toBe(1);
      expect(onFargate.error().errorMessage).toMatch(
        /^DEADLINE: .*Fargate task ran out of time: raise databases\[\]\.fargate\.timeoutHours.*fargate\.jobs/,
      );
      expect(await listBackups(h.s3, h.bucket, 'runner-deadline', { includeInvalid: true })).toEqual([]);
    } finally {
      fs.rmSync(standIn, { recursive: true, force: true });
    }
  });

  it('a connection fault in the middle of a directory upload fails the run: no manifest, nothing listed, no pending upload', async () => {
    const proxy = await faultyS3Proxy(1);
    try {
      const run = await runRunner(['dump'], {
        RESTORABLE_EVENT: dumpEvent('runner-dir-fault'),
        PG_BIN_DIRS: h.realBinDir,
        RUNNER: 'fargate',
        DUMP_LAYOUT: 'directory',
        DUMP_JOBS: '2',
        WORK_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'runner-work-')),
        AWS_ENDPOINT_URL_S3: proxy.endpoint,
        TASK_TOKEN: TOKEN,
      });
      expect(proxy.reset()).toBeGreaterThan(0);
      expect(run.code).toBe(1);
      expect(run.error()).toMatchObject({
        errorType: 'BackupError',
        errorMessage: expect.stringMatching(/^UPLOAD_FAILED: /),
      });
      expect(sfnCalls.map((c) => [c.target, c.body.error])).toEqual([['SendTaskFailure', 'BackupError']]);
      expect(run.stdout).not.toMatch(/"manifestKey"/);
      const keys = [
        ...(await keysUnder('daily/runner-dir-fault/')),
        ...(await keysUnder('yearly/runner-dir-fault/')),
      ];
      expect(keys.filter((k) => k.endsWith('.manifest.json'))).toEqual([]);
      // The fault struck mid-set: exactly the one file let through is stored, the rest are not.
      expect(keys.filter((k) => k.includes('.dir/'))).toHaveLength(1);
      expect(h.s3server.pendingUploads(h.bucket)).toEqual([]);
      expect(await listBackups(h.s3, h.bucket, 'runner-dir-fault', { includeInvalid: true })).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('verify through the runner names a truncated zstd stream TRUNCATED, even with size and checksum matching', async () => {
    const run = await runRunner(['dump'], {
      RESTORABLE_EVENT: dumpEvent('runner-cut'),
      PG_BIN_DIRS: h.realBinDir,
    });
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const { manifestKey } = run.result() as { manifestKey: string };
    const manifest = parseManifest(await readText(h.s3, h.bucket, manifestKey));
    expect(manifest.compression).toMatchObject({ kind: 'zstd-wrapped' });
    // The compressor died and the cut stream was committed with its own size and SHA-256: only
    // decompressing to the end can tell.
    const full = fs.readFileSync(h.s3server.objectPath(h.bucket, manifest.object.key));
    const cut = full.subarray(0, Math.floor(full.length * 0.6));
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: manifest.object.key, Body: cut }));
    await putManifest(manifestKey, {
      ...manifest,
      object: {
        ...manifest.object,
        bytes: cut.length,
        sha256: createHash('sha256').update(cut).digest('hex'),
      },
    });
    const verify = await runRunner(['verify', JSON.stringify({ databaseId: 'runner-cut', manifestKey })], {
      PG_BIN_DIRS: h.realBinDir,
    });
    expect(verify.code).toBe(1);
    expect(verify.error()).toMatchObject({
      errorType: 'VerificationFailed',
      errorMessage: expect.stringMatching(/TRUNCATED/),
    });
    expect(verify.error().errorMessage).not.toMatch(/SIZE_MISMATCH|CHECKSUM_MISMATCH/);
  });

  it('a gzip-era backup (pg_dump gzip, manifest without a compression field) verifies through the runner (TOC read) and the drill select step picks it', async () => {
    const written = await dumpDatabase(
      h.dumpOptions({ databaseId: 'runner-gzip', compression: { kind: 'gzip' } }),
    );
    expect(written.compression).toMatchObject({ kind: 'pg-gzip' });
    const manifestKey = keysOfManifest(written).manifest;
    // As written before the field existed.
    const legacy: Partial<Manifest> = { ...written };
    delete legacy.compression;
    await putManifest(manifestKey, legacy);
    expect(parseManifest(await readText(h.s3, h.bucket, manifestKey))).not.toHaveProperty('compression');
    const verify = await runRunner(['verify', JSON.stringify({ databaseId: 'runner-gzip', manifestKey })], {
      PG_BIN_DIRS: h.realBinDir,
    });
    expect({ code: verify.code, stderr: verify.code === 0 ? '' : verify.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    const result = verify.result() as {
      ok: boolean;
      sha256: string;
      checks: { name: string; status: string }[];
    };
    expect(result).toMatchObject({ ok: true, sha256: written.object.sha256 });
    expect(result.checks.find((c) => c.name === 'toc')?.status).toBe('pass');

    // The drill's select step (the part of a drill that runs without an RDS instance) re-verifies
    // it through the gzip decompressor and picks it.
    const select = await runRunner(
      [
        'drill',
        JSON.stringify({ action: 'select', databaseId: 'runner-gzip', drill: { source: 'primary' } }),
      ],
      {
        PG_BIN_DIRS: h.realBinDir,
        DRILL_SUBNET_GROUP: 'restorable-drill',
        DRILL_SECURITY_GROUP_IDS: 'sg-0123456789abcdef0',
      },
    );
    expect({ code: select.code, stderr: select.code === 0 ? '' : select.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(select.result()).toMatchObject({
      databaseId: 'runner-gzip',
      backup: { manifestKey, backupId: written.backupId, bytes: written.object.bytes },
      skippedBackups: [],
    });
  });

  it('refuses an unknown handler or a missing event with exit 1 and says how to call it', async () => {
    const run = await runRunner(['freshness'], { RESTORABLE_EVENT: '{}' });
    expect(run.code).toBe(1);
    expect(run.error()).toEqual({
      errorType: 'RunnerUsageError',
      errorMessage:
        'handler must be one of dump, verify, drill (first argument or RESTORABLE_HANDLER), got freshness',
    });
    const none = await runRunner([], { RESTORABLE_HANDLER: 'dump', TASK_TOKEN: TOKEN });
    expect(none.code).toBe(1);
    expect(none.error().errorMessage).toMatch(/no event: set RESTORABLE_EVENT/);
    expect(sfnCalls.map((c) => c.target)).toEqual(['SendTaskFailure']);
  });
});
