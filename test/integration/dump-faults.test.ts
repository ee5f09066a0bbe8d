/**
 * Failure paths of the dump, with stand-in pg_dump executables against a real cluster and the local
 * S3 server: death mid-stream (TESTING 1), empty/short/non-archive output (2), a server newer than
 * every pg_dump (7), and the Lambda deadline (8). Every failure must leave no dump object, no
 * manifest and no incomplete multipart upload, and throw a BackupError.
 */
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BackupError, dumpDatabase } from '../../lambda/core/dump';
import { handler as dumpHandler } from '../../lambda/handlers/dump';
import { s3Client as handlerS3Client } from '../../lambda/handlers/s3-clients';
import { captureOutput, setEnv } from '../support/handler-io';
import {
  makeStandInBinDir,
  startHarness,
  TEST_KMS_KEY,
  type Harness,
  type StandIn,
} from '../support/harness';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';

jest.setTimeout(120_000);

const MIB = 1024 * 1024;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ seed: { customers: 20, products: 5, orders: 40, events: 50 } });
});

afterAll(async () => {
  await h?.stop();
});

/** Every S3 command the code under test sends, by name. */
function recordCommands() {
  const sent: { name: string; input: Record<string, unknown>; output?: Record<string, unknown> }[] = [];
  const original = h.s3.send.bind(h.s3) as (...a: unknown[]) => Promise<Record<string, unknown>>;
  const spy = jest.spyOn(h.s3, 'send').mockImplementation((async (...args: unknown[]) => {
    const cmd = args[0] as { constructor: { name: string }; input: Record<string, unknown> };
    const entry: (typeof sent)[number] = { name: cmd.constructor.name, input: cmd.input };
    sent.push(entry);
    entry.output = await original(...args);
    return entry.output;
  }) as never);
  return { sent, restore: () => spy.mockRestore() };
}

async function bucketKeys(): Promise<string[]> {
  const out = await h.s3.send(new ListObjectsV2Command({ Bucket: h.bucket }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/**
 * No dump, roles file or manifest, and no incomplete upload. A failed run's backup-id claim stays
 * (the dump role has no delete permission; the daily lifecycle rule expires claims).
 */
async function expectNothingCommitted(): Promise<void> {
  expect((await bucketKeys()).filter((k) => !k.endsWith('.claim'))).toEqual([]);
  expect(h.s3server.pendingUploads(h.bucket)).toEqual([]);
}

/** The dump role has no s3:DeleteObject: no run may send a delete of any kind. */
function expectNoDeletes(sent: readonly { name: string }[]): void {
  expect(sent.filter((c) => /^Delete/.test(c.name)).map((c) => c.name)).toEqual([]);
}

async function failingDump(standIn: StandIn, extra: Parameters<Harness['dumpOptions']>[0] = {}) {
  const dir = makeStandInBinDir(standIn, { realBinDir: h.realBinDir });
  const err = await dumpDatabase(h.dumpOptions({ pgBinDirs: [dir], partSizeBytes: 5 * MIB, ...extra })).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackupError);
  return err as BackupError;
}

describe('pg_dump dies mid-stream (TESTING 1)', () => {
  test.each([
    ['exits 1', { kind: 'exit', bytes: 40 * MIB, code: 1 } as StandIn, 'PG_DUMP_FAILED', /pg_dump exited 1/],
    ['is killed', { kind: 'killed', bytes: 40 * MIB } as StandIn, 'PG_DUMP_SIGNALED', /killed by SIGKILL/],
  ])(
    'aborts the multipart upload and writes no manifest when pg_dump %s after a valid header',
    async (_what, standIn, reason, message) => {
      const rec = recordCommands();
      let err: BackupError;
      try {
        err = await failingDump(standIn);
      } finally {
        rec.restore();
      }
      expect(err.reason).toBe(reason);
      expect(err.message).toMatch(message);
      // Parts really were uploaded (12 MiB in 5 MiB parts), so there was something to abort...
      const created = rec.sent.filter((c) => c.name === CreateMultipartUploadCommand.name);
      expect(created).toHaveLength(1);
      expect(rec.sent.filter((c) => c.name === UploadPartCommand.name).length).toBeGreaterThanOrEqual(2);
      // ...and an explicit AbortMultipartUpload went out for exactly that upload id.
      const uploadId = created[0].output!.UploadId;
      const aborts = rec.sent.filter((c) => c.name === AbortMultipartUploadCommand.name);
      expect(aborts.map((a) => a.input.UploadId)).toContain(uploadId);
      expect(rec.sent.some((c) => c.name === 'CompleteMultipartUploadCommand')).toBe(false);
      // The claim was written and is not taken back; the only single PUTs are claims (a run in the
      // same second as the previous case's finds that id taken and claims the next second).
      const puts = rec.sent.filter((c) => c.name === 'PutObjectCommand').map((c) => String(c.input.Key));
      expect(puts.length).toBeGreaterThanOrEqual(1);
      expect(puts.filter((k) => !k.endsWith('.claim'))).toEqual([]);
      expectNoDeletes(rec.sent);
      await expectNothingCommitted();
    },
  );

  test('the dump handler fails the run and emits BackupFailure', async () => {
    const secrets = mockClient(SecretsManagerClient);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: h.secretString() });
    const dir = makeStandInBinDir({ kind: 'exit', bytes: 40 * MIB, code: 1 }, { realBinDir: h.realBinDir });
    const restoreEnv = setEnv({
      BACKUP_BUCKET: h.bucket,
      BACKUP_KMS_KEY_ARN: TEST_KMS_KEY,
      PG_BIN_DIRS: dir,
    });
    // The handler's own S3 client, denying deletes as the dump role does (and recording them).
    const client = handlerS3Client();
    const original = client.send.bind(client) as (...a: unknown[]) => Promise<unknown>;
    const sent: { name: string }[] = [];
    const denyDeletes = jest.spyOn(client, 'send').mockImplementation((async (...args: unknown[]) => {
      const name = (args[0] as { constructor: { name: string } }).constructor.name;
      sent.push({ name });
      if (/^Delete/.test(name)) {
        throw Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        });
      }
      return original(...args);
    }) as never);
    const output = captureOutput();
    let error: Error | undefined;
    try {
      await dumpHandler(
        {
          databaseId: 'app',
          secretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app',
          sslMode: 'disable',
        },
        { getRemainingTimeInMillis: () => 900_000 },
      ).catch((e: Error) => (error = e));
    } finally {
      output.restore();
      denyDeletes.mockRestore();
      secrets.restore();
      restoreEnv();
    }
    expect(sent.some((c) => c.name === 'PutObjectCommand')).toBe(true); // it did reach S3
    expectNoDeletes(sent);
    expect(output.lines.join('')).not.toMatch(/AccessDenied|Access Denied/);
    expect(error?.name).toBe('BackupError');
    expect(error?.message).toMatch(/^PG_DUMP_FAILED: pg_dump exited 1/);
    const emf = output.emf();
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ DatabaseId: 'app', BackupFailure: 1, BackupSuccess: 0 });
    expect(emf[0]._aws).toMatchObject({
      CloudWatchMetrics: [{ Namespace: 'Restorable', Dimensions: [['DatabaseId']] }],
    });
    await expectNothingCommitted();
  });
});

describe('pg_dump "succeeds" with unusable output (TESTING 2)', () => {
  test.each([
    ['no output at all', { kind: 'short', bytes: 0 } as StandIn, 'EMPTY_OUTPUT'],
    ['output below the size floor', { kind: 'short', bytes: 300 } as StandIn, 'OUTPUT_TOO_SMALL'],
    ['output that is not a PGDMP archive', { kind: 'not-archive' } as StandIn, 'NOT_AN_ARCHIVE'],
  ])('fails and writes no manifest on %s', async (_what, standIn, reason) => {
    const err = await failingDump(standIn);
    expect(err.reason).toBe(reason);
    await expectNothingCommitted();
  });

  test('a configured floor rejects a multi-part dump that is too small for this database', async () => {
    const err = await failingDump({ kind: 'short', bytes: 6 * MIB }, { minBytes: 8 * MIB });
    expect(err.reason).toBe('OUTPUT_TOO_SMALL');
    expect(err.message).toMatch(/below the 8388608-byte floor/);
    await expectNothingCommitted();
  });
});

describe('version preflight (TESTING 7)', () => {
  test('refuses before any upload when the server is newer than every pg_dump, naming both versions', async () => {
    const old = makeStandInBinDir(
      { kind: 'exit', bytes: 0, code: 0 },
      { realBinDir: h.realBinDir, major: 11 },
    );
    const rec2 = recordCommands();
    let err2: unknown;
    try {
      err2 = await dumpDatabase(h.dumpOptions({ pgBinDirs: [old] })).catch((e: unknown) => e);
    } finally {
      rec2.restore();
    }
    expect(err2).toBeInstanceOf(BackupError);
    expect((err2 as BackupError).reason).toBe('VERSION_UNSUPPORTED');
    expect((err2 as BackupError).message).toContain(`server is PostgreSQL ${h.cluster.major}`);
    expect((err2 as BackupError).message).toMatch(/newest pg_dump available is 11/);
    expect(rec2.sent).toEqual([]); // not one S3 request: no claim, no upload
    await expectNothingCommitted();
  });
});

describe('Lambda deadline (TESTING 8)', () => {
  test('aborts the upload before the deadline when time runs out mid-dump', async () => {
    const started = Date.now();
    const deadline = started + 4_000;
    const rec = recordCommands();
    let err: BackupError;
    try {
      err = await failingDump(
        // Writes 6 MiB (one 5 MiB part goes up, so a multipart upload exists), then stalls for a minute.
        // pg_dump's own gzip: zstd would hold a stalled dump's last job of input back, and no part
        // would go up to be aborted.
        { kind: 'stall', bytes: 6 * MIB, seconds: 60 },
        {
          remainingTimeMs: () => deadline - Date.now(),
          safetyMarginMs: 1_500,
          compression: { kind: 'gzip' },
        },
      );
    } finally {
      rec.restore();
    }
    const finished = Date.now();
    expect(err.reason).toBe('DEADLINE');
    expect(finished).toBeLessThan(deadline);
    const created = rec.sent.filter((c) => c.name === CreateMultipartUploadCommand.name);
    expect(created).toHaveLength(1);
    expect(
      rec.sent.filter((c) => c.name === AbortMultipartUploadCommand.name).map((c) => c.input.UploadId),
    ).toContain(created[0].output!.UploadId);
    await expectNothingCommitted();
  });

  test('does not start a dump when the time left is already inside the safety margin', async () => {
    const rec = recordCommands();
    const err = await failingDump(
      { kind: 'exit', bytes: 0, code: 0 },
      { deadline: new Date(Date.now() + 30_000), safetyMarginMs: 60_000 },
    ).finally(() => rec.restore());
    expect(err.reason).toBe('DEADLINE');
    expect(rec.sent).toEqual([]);
    await expectNothingCommitted();
  });
});
