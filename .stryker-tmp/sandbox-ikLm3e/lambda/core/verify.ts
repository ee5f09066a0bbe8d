/**
 * Verifies a stored backup against its manifest, reporting every problem rather than the first:
 *
 * - `size`     the object's byte count equals the manifest's (appended/truncated → SIZE_MISMATCH)
 * - `checksum` SHA-256 of the bytes read back equals the manifest's (flipped bit → CHECKSUM_MISMATCH;
 *              only judged when the size matched, so the two failures stay distinct)
 * - `toc`      `pg_restore --list`, fed the same stream on stdin, reads the archive's table of
 *              contents and it holds a TABLE entry for every manifest table and a TABLE DATA
 *              entry for every ordinary one (partitioned parents hold no data of their own)
 * - `globals`  the roles file, when the manifest says there is one, has its size and SHA-256
 * - `replica`  the dump, roles file and manifest exist in the replica bucket with the sizes the
 *              manifest records (the primary's size for the manifest itself), and S3 does not
 *              report the replication as pending or failed
 *
 * One read of the object serves size, checksum and TOC. Verification failures come back in the
 * result (`ok: false`); only infrastructure errors (S3 unreachable, access denied, no pg_restore)
 * are thrown.
 */
// @ts-nocheck

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { silentLogger, type CoreLogger } from './logger';
import { keysOfManifest, parseManifest, tableLabel, type Manifest } from './manifest';
import { pgBinDirs as defaultPgBinDirs, pgToolForServer } from './pg-bin';
import { isNotFound, readText } from './s3';

export type VerifyCode =
  | 'MANIFEST_MISSING'
  | 'MANIFEST_UNREADABLE'
  | 'OBJECT_MISSING'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'TOC_UNREADABLE'
  | 'TOC_MISSING_TABLES'
  | 'GLOBALS_MISSING'
  | 'GLOBALS_MISMATCH'
  | 'REPLICA_MISSING'
  | 'REPLICA_SIZE_MISMATCH'
  | 'REPLICA_PENDING'
  | 'REPLICA_FAILED';

export type CheckName = 'manifest' | 'size' | 'checksum' | 'toc' | 'globals' | 'replica';

export interface VerifyCheck {
  readonly name: CheckName;
  /** `pending`: not failed yet, not passed yet (replication in progress). */
  readonly status: 'pass' | 'fail' | 'pending' | 'skipped';
  readonly ok: boolean;
  readonly code?: VerifyCode;
  readonly detail: string;
}

export interface VerifyResult {
  /** Every check passed (skipped checks do not count against it). */
  readonly ok: boolean;
  /** Nothing failed, but something is still pending (replication): retry later. */
  readonly pending: boolean;
  readonly backupId?: string;
  readonly databaseId?: string;
  readonly manifestKey?: string;
  /** Bytes read back and their SHA-256. */
  readonly bytes?: number;
  readonly sha256?: string;
  readonly checks: readonly VerifyCheck[];
  readonly durationSeconds: number;
}

export interface ReplicaTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly region: string;
}

export interface VerifyOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Read the manifest from here... */
  readonly manifestKey?: string;
  /** ...or take it as given (already read and parsed). */
  readonly manifest?: Manifest;
  /** Check the cross-region copy. @default - no replica check */
  readonly replica?: ReplicaTarget;
  /** Run the `pg_restore --list` check. @default true */
  readonly toc?: boolean;
  /** Directories holding pg_restore. @default - pgBinDirs() */
  readonly pgBinDirs?: string[];
  readonly logger?: CoreLogger;
}

/** Thrown for problems that are not a verdict on the backup (S3 unreachable, no pg_restore). */
export class VerifyInfraError extends Error {
  override readonly name = 'VerifyInfraError';
}

const pass = (name: CheckName, detail: string): VerifyCheck => ({ name, status: 'pass', ok: true, detail });
const failed = (name: CheckName, code: VerifyCode, detail: string): VerifyCheck => ({
  name,
  status: 'fail',
  ok: false,
  code,
  detail,
});
const skipped = (name: CheckName, detail: string): VerifyCheck => ({
  name,
  status: 'skipped',
  ok: true,
  detail,
});

function result(
  checks: VerifyCheck[],
  started: number,
  extra: Partial<Omit<VerifyResult, 'checks' | 'ok' | 'pending' | 'durationSeconds'>>,
): VerifyResult {
  const anyFail = checks.some((c) => c.status === 'fail');
  const anyPending = checks.some((c) => c.status === 'pending');
  return {
    ...extra,
    ok: !anyFail && !anyPending,
    pending: !anyFail && anyPending,
    checks,
    durationSeconds: (Date.now() - started) / 1000,
  };
}

export async function verifyBackup(options: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const log = options.logger ?? silentLogger;
  const checks: VerifyCheck[] = [];

  let manifest = options.manifest;
  let manifestKey = options.manifestKey;
  if (!manifest) {
    if (!manifestKey) throw new VerifyInfraError('verifyBackup needs manifestKey or manifest');
    try {
      manifest = parseManifest(await readText(options.s3, options.bucket, manifestKey));
      checks.push(pass('manifest', `manifest ${manifestKey} parsed`));
    } catch (e) {
      if (isNotFound(e)) {
        checks.push(failed('manifest', 'MANIFEST_MISSING', `manifest ${manifestKey} does not exist`));
      } else if (/^manifest (is|is not)/.test((e as Error).message)) {
        checks.push(failed('manifest', 'MANIFEST_UNREADABLE', (e as Error).message));
      } else {
        throw new VerifyInfraError(`cannot read manifest ${manifestKey}: ${(e as Error).message}`);
      }
      return result(checks, started, { manifestKey });
    }
  }
  manifestKey ??= keysOfManifest(manifest).manifest;
  const ids = { backupId: manifest.backupId, databaseId: manifest.databaseId, manifestKey };

  const pgRestore =
    options.toc === false
      ? undefined
      : (() => {
          try {
            return pgToolForServer(
              'pg_restore',
              manifest.pgDump.major,
              options.pgBinDirs ?? defaultPgBinDirs(),
            );
          } catch (e) {
            throw new VerifyInfraError(`cannot check the archive TOC: ${(e as Error).message}`);
          }
        })();

  const read = await readArchive(options.s3, options.bucket, manifest.object.key, pgRestore?.path);
  if (!read) {
    checks.push(failed('size', 'OBJECT_MISSING', `dump ${manifest.object.key} does not exist`));
    checks.push(skipped('checksum', 'no object to check'));
    if (pgRestore) checks.push(skipped('toc', 'no object to check'));
  } else {
    const expected = manifest.object.bytes;
    if (read.bytes !== expected) {
      checks.push(
        failed(
          'size',
          'SIZE_MISMATCH',
          `invalid size: object is ${read.bytes} bytes, manifest says ${expected} (${read.bytes > expected ? 'bytes appended' : 'truncated'})`,
        ),
      );
      checks.push(skipped('checksum', 'not judged: the size already differs'));
    } else {
      checks.push(pass('size', `${read.bytes} bytes`));
      checks.push(
        read.sha256 === manifest.object.sha256
          ? pass('checksum', `sha256 ${read.sha256}`)
          : failed(
              'checksum',
              'CHECKSUM_MISMATCH',
              `corruption found: sha256 is ${read.sha256}, manifest says ${manifest.object.sha256}`,
            ),
      );
    }
    if (read.toc !== undefined) checks.push(tocCheck(manifest, read.toc));
  }

  checks.push(await globalsCheck(options.s3, options.bucket, manifest));
  if (options.replica) checks.push(await replicaCheck(options, manifest, manifestKey));

  const out = result(checks, started, { ...ids, bytes: read?.bytes, sha256: read?.sha256 });
  log.info('verify finished', {
    backupId: manifest.backupId,
    ok: out.ok,
    pending: out.pending,
    failed: checks.filter((c) => c.status === 'fail').map((c) => c.code),
  });
  return out;
}

interface ArchiveRead {
  bytes: number;
  sha256: string;
  /** pg_restore --list outcome, when requested. */
  toc?: { ok: true; listing: string } | { ok: false; error: string };
}

/**
 * Streams the object once: every chunk is hashed and counted, and fed to `pg_restore --list` on
 * stdin until pg_restore has read the TOC it needs and exits (it does not read table data).
 * Undefined when the object does not exist.
 */
async function readArchive(
  s3: S3Client,
  bucket: string,
  key: string,
  pgRestorePath?: string,
): Promise<ArchiveRead | undefined> {
  let body: Readable;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    body = out.Body as Readable;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    if ((e as { name?: string }).name === 'InvalidObjectState') {
      // Yearly backups move to Deep Archive after 90 days; reading them needs a restore first.
      throw new VerifyInfraError(
        `${key} is archived (Deep Archive); restore it with RestoreObject before verifying`,
      );
    }
    throw new VerifyInfraError(`cannot read ${key}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;

  const child = pgRestorePath
    ? spawn(pgRestorePath, ['--list'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '' },
      })
    : undefined;
  let stdinOpen = !!child;
  let listing = '';
  let stderr = '';
  const exited = child
    ? new Promise<{ code: number | null; spawnError?: Error }>((resolve) => {
        child.once('error', (e) => resolve({ code: null, spawnError: e }));
        child.once('close', (code) => resolve({ code }));
      })
    : undefined;
  if (child) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => (listing += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    // pg_restore exits once it has the TOC; later writes fail with EPIPE, which is expected.
    child.stdin.on('error', () => (stdinOpen = false));
    child.stdin.on('close', () => (stdinOpen = false));
  }

  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (child && stdinOpen && !child.stdin.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            child.stdin.off('drain', done);
            child.stdin.off('close', done);
            child.stdin.off('error', done);
            resolve();
          };
          child.stdin.on('drain', done).on('close', done).on('error', done);
        });
      }
    }
  } catch (e) {
    child?.kill('SIGKILL');
    throw new VerifyInfraError(`reading ${key} failed: ${(e as Error).message}`);
  } finally {
    if (child && stdinOpen) child.stdin.end();
  }

  let toc: ArchiveRead['toc'];
  if (child && exited) {
    const { code, spawnError } = await exited;
    if (spawnError) throw new VerifyInfraError(`cannot run pg_restore: ${spawnError.message}`);
    toc =
      code === 0 ? { ok: true, listing } : { ok: false, error: stderr.trim() || `pg_restore exited ${code}` };
  }
  return { bytes, sha256: hash.digest('hex'), toc };
}

export interface TocEntry {
  readonly dumpId: number;
  /** Everything after the OIDs: `<desc> <schema> <name> <owner>`, names unquoted. */
  readonly text: string;
}

/** Parses `pg_restore --list` output: `<dumpId>; <tableoid> <oid> <desc> <schema> <name> <owner>`. */
export function parseTocListing(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (m) entries.push({ dumpId: Number(m[1]), text: m[2] });
  }
  return entries;
}

export interface TocTable {
  readonly desc: 'TABLE' | 'TABLE DATA';
  readonly schema: string;
  readonly name: string;
}

/**
 * Which of `wanted` have no entry in the TOC.
 *
 * pg_restore prints names raw (no quoting; newlines become spaces), space-separated, with the
 * owner last, so a line cannot be split reliably: `TABLE Mixed Case Audit Log postgres` could be
 * table `Audit` owned by `Log postgres`. Instead every TOC line is attributed to the wanted entry
 * with the longest matching `<desc> <schema> <name> ` prefix (so the table `Audit Log` claims
 * that line, not `Audit`), and entries whose printed form is identical (schema `a b`.`c` versus
 * `a`.`b c`) must together have as many lines as there are of them.
 */
export function tocMissing(entries: readonly TocEntry[], wanted: readonly TocTable[]): TocTable[] {
  const san = (s: string) => s.replace(/[\r\n]/g, ' ');
  const prefixOf = (w: TocTable) => `${w.desc} ${san(w.schema)} ${san(w.name)} `;
  const groups = new Map<string, TocTable[]>();
  for (const w of wanted) {
    const p = prefixOf(w);
    groups.set(p, [...(groups.get(p) ?? []), w]);
  }
  const prefixes = [...groups.keys()].sort((a, b) => b.length - a.length);
  const seen = new Map<string, number>();
  for (const e of entries) {
    const line = `${e.text} `;
    const best = prefixes.find((p) => line.startsWith(p));
    if (best) seen.set(best, (seen.get(best) ?? 0) + 1);
  }
  return [...groups.entries()].flatMap(([p, members]) =>
    (seen.get(p) ?? 0) >= members.length ? [] : members,
  );
}

/**
 * Whether one table/table-data entry is in the TOC. On its own it cannot tell `Audit` from a line of
 * `Audit Log`; pass every expected table to tocMissing for that (verifyBackup does).
 */
export function tocHas(
  entries: readonly TocEntry[],
  desc: TocTable['desc'],
  schema: string,
  name: string,
): boolean {
  return tocMissing(entries, [{ desc, schema, name }]).length === 0;
}

function tocCheck(manifest: Manifest, toc: NonNullable<ArchiveRead['toc']>): VerifyCheck {
  if (!toc.ok) return failed('toc', 'TOC_UNREADABLE', `pg_restore --list failed: ${toc.error}`);
  const entries = parseTocListing(toc.listing);
  const wanted: TocTable[] = manifest.tables.flatMap((t) => [
    { desc: 'TABLE' as const, schema: t.schema, name: t.name },
    // Partitioned parents hold no rows of their own, so they have no TABLE DATA entry.
    ...(t.kind === 'r' ? [{ desc: 'TABLE DATA' as const, schema: t.schema, name: t.name }] : []),
  ]);
  const missing = tocMissing(entries, wanted).map((w) => `${tableLabel(w)} (${w.desc})`);
  return missing.length === 0
    ? pass('toc', `${entries.length} TOC entries; all ${manifest.tables.length} tables present`)
    : failed('toc', 'TOC_MISSING_TABLES', `archive TOC lacks: ${missing.join(', ')}`);
}

async function globalsCheck(s3: S3Client, bucket: string, manifest: Manifest): Promise<VerifyCheck> {
  const g = manifest.globals;
  if (!g.present) return skipped('globals', `no roles file: ${g.reason}`);
  let body: Uint8Array;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: g.key }));
    body = await out.Body!.transformToByteArray();
  } catch (e) {
    if (isNotFound(e)) return failed('globals', 'GLOBALS_MISSING', `roles file ${g.key} does not exist`);
    throw new VerifyInfraError(`cannot read ${g.key}: ${(e as Error).message}`);
  }
  const sha = createHash('sha256').update(body).digest('hex');
  if (body.length !== g.bytes || sha !== g.sha256) {
    return failed(
      'globals',
      'GLOBALS_MISMATCH',
      `roles file is ${body.length} bytes sha256 ${sha}, manifest says ${g.bytes} / ${g.sha256}`,
    );
  }
  return pass('globals', `${body.length} bytes`);
}

async function head(s3: S3Client, bucket: string, key: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * The replica bucket must hold the dump, the roles file and the manifest with the primary's sizes.
 * S3 reports replication on the source object: PENDING → not there yet (retry), FAILED → alarm.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html
 */
async function replicaCheck(
  options: VerifyOptions,
  manifest: Manifest,
  manifestKey: string,
): Promise<VerifyCheck> {
  const replica = options.replica!;
  const where = `replica bucket ${replica.bucket} in ${replica.region}`;
  // Expected sizes come from the manifest where it records them, so a replica is judged against
  // what was written, not against a primary copy that may itself be damaged.
  const keys: [string, number | undefined][] = [
    [manifest.object.key, manifest.object.bytes],
    ...(manifest.globals.present ? [[manifest.globals.key, manifest.globals.bytes] as [string, number]] : []),
    [manifestKey, undefined],
  ];
  const problems: string[] = [];
  let pending = false;
  let failedReplication = false;
  let missing = false;
  let sizeMismatch = false;
  try {
    for (const [key, recorded] of keys) {
      const [src, dst] = await Promise.all([
        head(options.s3, options.bucket, key),
        head(replica.s3, replica.bucket, key),
      ]);
      const status = src?.ReplicationStatus;
      if (status === 'FAILED') {
        failedReplication = true;
        problems.push(`${key}: replication to ${replica.region} FAILED`);
        continue;
      }
      if (!dst) {
        if (status === 'PENDING') {
          pending = true;
          problems.push(`${key}: replication to ${replica.region} pending`);
        } else {
          missing = true;
          problems.push(`${key}: replica copy missing in ${where}`);
        }
        continue;
      }
      const expected = recorded ?? src?.ContentLength;
      if (expected !== undefined && dst.ContentLength !== expected) {
        sizeMismatch = true;
        problems.push(
          `${key}: replica in ${replica.region} is ${dst.ContentLength} bytes, expected ${expected}` +
            (recorded !== undefined ? ' (manifest)' : ' (primary)'),
        );
      }
    }
  } catch (e) {
    throw new VerifyInfraError(`cannot check ${where}: ${(e as Error).message}`);
  }
  if (failedReplication) return failed('replica', 'REPLICA_FAILED', problems.join('; '));
  if (missing) return failed('replica', 'REPLICA_MISSING', problems.join('; '));
  if (sizeMismatch) return failed('replica', 'REPLICA_SIZE_MISMATCH', problems.join('; '));
  if (pending)
    return {
      name: 'replica',
      status: 'pending',
      ok: false,
      code: 'REPLICA_PENDING',
      detail: problems.join('; '),
    };
  return pass('replica', `${keys.length} objects present with the same sizes in ${where}`);
}
