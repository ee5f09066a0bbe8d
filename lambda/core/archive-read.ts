/**
 * Reading a stored archive back, in one pass over its bytes: every byte is counted and hashed
 * (the manifest's size and SHA-256) while the same chunks go through the decompressor the
 * manifest's kind calls for, and the plain custom archive goes on to a sink — `pg_restore --list`
 * for verify, the file `pg_restore -j` needs for restore. Download, hash, decompress and write
 * overlap; nothing is read twice.
 *
 * Verdicts are ordered so the most basic one is named: size, then checksum, then what the
 * decompressor said (a truncated object is a SIZE_MISMATCH first; a stream that matches its
 * manifest yet ends early — the compressor died and the dump still committed — is TRUNCATED).
 *
 * Restore's work dir lives here too: leftovers of an earlier invocation (a warm Lambda keeps
 * `/tmp`) are removed at start, and free space is checked against the plain archive's size before
 * a byte is written.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  CompressionError,
  ArchiveDecompressor,
  OutputWriteError,
  type CompressionErrorCode,
} from './compression';
import { storedFormatOf, type ArchiveFormat, type Compression } from './compression-settings';

export type ArchiveReadCode =
  'SIZE_MISMATCH' | 'CHECKSUM_MISMATCH' | 'INSUFFICIENT_SPACE' | CompressionErrorCode;

export class ArchiveReadError extends Error {
  constructor(
    readonly code: ArchiveReadCode,
    message: string,
  ) {
    super(message);
    this.name = 'ArchiveReadError';
  }
}

export interface ArchiveScan {
  /** Bytes of the stored object read. */
  readonly bytes: number;
  readonly sha256: string;
  /** What the first bytes were. */
  readonly format: ArchiveFormat | undefined;
  /** Bytes of plain custom archive the decompressor produced. */
  readonly plainBytes: number;
  /** Why decompressing failed (TRUNCATED, CORRUPT, FORMAT_MISMATCH); undefined when it did not. */
  readonly decompressError?: CompressionError;
}

export interface ScanOptions {
  /** The outer format the stored object must have; undefined accepts any known format. */
  readonly expect?: ArchiveFormat;
  /** Where the plain archive goes. */
  readonly sink?: Writable;
  /**
   * The sink may close before the end (pg_restore --list exits once it has the TOC). The rest is
   * still decompressed and discarded, so a truncated or corrupt zstd stream is found.
   */
  readonly sinkMayCloseEarly?: boolean;
  /**
   * The sink has a file descriptor of its own (a file's fs.WriteStream opened with `fd`, a
   * child's stdin): a zstd stream's plain bytes are written into it by the decompressing zstd
   * itself and never pass through this process (with `sinkMayCloseEarly`, `zstd -t` checks the
   * whole stream alongside). Other formats are written by this process as usual.
   */
  readonly direct?: boolean;
  readonly onBytes?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

function waitWritable(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    w.on('drain', done).on('close', done).on('error', done);
  });
}

/**
 * Reads `body` to its end: hashes and counts it, decompresses it and hands the plain archive to
 * the sink. Throws only for read errors of `body` and (unless it may close early) sink errors;
 * a decompression failure is returned as `decompressError`.
 */
export async function scanArchive(body: Readable, options: ScanOptions = {}): Promise<ArchiveScan> {
  const { sink, sinkMayCloseEarly = false } = options;
  const hash = createHash('sha256');
  let bytes = 0;
  let plainBytes = 0;
  let decompressError: CompressionError | undefined;
  let sinkError: Error | undefined;
  let sinkOpen = !!sink;
  if (sink) {
    sink.on('error', (e) => {
      sinkOpen = false;
      if (!sinkMayCloseEarly) sinkError = e;
    });
    sink.on('close', () => (sinkOpen = false));
  }

  const dec = new ArchiveDecompressor(
    options.expect,
    sink && options.direct ? { to: sink, mayCloseEarly: sinkMayCloseEarly } : undefined,
  );
  const plain = (async () => {
    try {
      for await (const chunk of dec as AsyncIterable<Buffer>) {
        plainBytes += chunk.length;
        if (sink && sinkOpen && !sink.write(chunk)) await waitWritable(sink);
      }
    } catch (e) {
      // zstd writing the sink itself failed (disk full): the sink's fault, thrown like one.
      if (e instanceof OutputWriteError) sinkError = e;
      else
        decompressError =
          e instanceof CompressionError
            ? e
            : new CompressionError('CORRUPT', `decompressing failed: ${(e as Error).message}`);
    }
  })();

  // Only the sink needs the plain bytes; with a pass-through format there is nothing left to
  // check once it has closed.
  const feeding = () => !decompressError && !dec.destroyed && (sinkOpen || dec.format !== 'custom');
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      if (sinkError) throw sinkError;
      hash.update(chunk);
      bytes += chunk.length;
      options.onBytes?.(bytes);
      if (feeding() && !dec.write(chunk) && feeding()) await waitWritable(dec);
    }
  } catch (e) {
    dec.destroy();
    await plain;
    throw e;
  }
  if (!dec.destroyed) dec.end();
  await plain;
  plainBytes = dec.directBytes() ?? plainBytes;
  if (sink && dec.direct) {
    // Never written from here; closing this process's copy of the descriptor is all that is left
    // (ending a pipe would shut it down for the zstd still writing into it).
    sink.destroy();
  } else if (sink && sinkOpen) {
    // The reader may exit before taking the rest (pg_restore --list stops after the TOC): then the
    // flush fails with EPIPE and 'finish' never comes, so any of finish, close or error ends it.
    await new Promise<void>((resolve) => {
      sink
        .once('finish', resolve)
        .once('close', resolve)
        .once('error', () => resolve());
      sink.end();
    });
  }
  if (sinkError) throw sinkError;
  return { bytes, sha256: hash.digest('hex'), format: dec.format, plainBytes, decompressError };
}

/** Turns a scan into the first verdict that applies, or undefined when the archive is sound. */
export function scanVerdict(
  scan: ArchiveScan,
  expected: { key: string; bytes: number; sha256: string },
): ArchiveReadError | undefined {
  if (scan.bytes !== expected.bytes) {
    return new ArchiveReadError(
      'SIZE_MISMATCH',
      `size mismatch for ${expected.key}: manifest says ${expected.bytes} bytes, read ${scan.bytes}`,
    );
  }
  if (scan.sha256 !== expected.sha256) {
    return new ArchiveReadError(
      'CHECKSUM_MISMATCH',
      `SHA-256 mismatch for ${expected.key}: manifest ${expected.sha256}, read ${scan.sha256}`,
    );
  }
  if (scan.decompressError) {
    return new ArchiveReadError(
      scan.decompressError.code,
      `${expected.key}: ${scan.decompressError.message}`,
    );
  }
  return undefined;
}

/** The bytes a restore writes to disk for an archive: the plain archive's size. */
export function plainArchiveBytes(object: { bytes: number }, compression: Compression): number {
  return compression.kind === 'zstd-wrapped' ? (compression.rawBytes ?? object.bytes) : object.bytes;
}

const MIB = 1024 * 1024;
const fmt = (n: number) =>
  n >= 1024 * MIB ? `${(n / 1024 / MIB).toFixed(2)} GiB` : `${(n / MIB).toFixed(1)} MiB`;

export type StatFs = (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

/**
 * Refuses, before anything is written, when `dir` cannot hold `needed` bytes plus headroom
 * (1 % or 64 MiB, whichever is larger). `statfs` is the seam tests replace.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html (/tmp up to 10,240 MB)
 */
export async function ensureFreeSpace(
  dir: string,
  needed: number,
  options: { statfs?: StatFs; what?: string } = {},
): Promise<{ available: number; required: number }> {
  const st = await (options.statfs ?? ((d: string) => fs.promises.statfs(d)))(dir);
  const available = Number(st.bavail) * Number(st.bsize);
  const required = needed + Math.max(64 * MIB, Math.ceil(needed / 100));
  if (available < required) {
    throw new ArchiveReadError(
      'INSUFFICIENT_SPACE',
      `not enough free space in ${dir} for ${options.what ?? 'the archive'}: need ${fmt(required)} ` +
        `(${fmt(needed)} plus headroom), ${fmt(available)} available. On Lambda /tmp holds at most ` +
        `10 GiB; restore this backup with the Fargate runner (ephemeral storage up to 200 GiB) or a ` +
        `machine with more disk`,
    );
  }
  return { available, required };
}

export const WORK_DIR_PREFIX = 'restorable-restore-';
const OWNER_FILE = 'owner.json';
/** Work dirs this process holds right now (a warm Lambda reuses its pid across invocations). */
const activeDirs = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A work dir whose owner is gone: a dead pid, this process but not active, or unowned and old. */
function isLeftover(dir: string, now: number): boolean {
  if (activeDirs.has(dir)) return false;
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as { pid?: unknown };
    if (typeof owner.pid !== 'number') return true;
    return owner.pid === process.pid || !isAlive(owner.pid);
  } catch {
    // No owner file: written by code that predates it, or a crash right after mkdtemp. A minute
    // is far longer than the gap between mkdtemp and writing the owner file.
    try {
      return now - fs.statSync(dir).mtimeMs > 60_000;
    } catch {
      return false;
    }
  }
}

export interface WorkDir {
  readonly dir: string;
  /** Leftover dirs of earlier invocations removed at start. */
  readonly removed: readonly string[];
  /** Removes the dir and everything in it. */
  release(): Promise<void>;
}

/**
 * Removes leftovers of earlier invocations under `base`, then creates a fresh 0700 work dir owned
 * by this process. Another live process's dir (two CLI restores at once) is left alone.
 */
export async function prepareWorkDir(base: string = os.tmpdir(), prefix = WORK_DIR_PREFIX): Promise<WorkDir> {
  const now = Date.now();
  const removed: string[] = [];
  for (const name of await fs.promises.readdir(base).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const dir = path.join(base, name);
    if (!isLeftover(dir, now)) continue;
    await fs.promises.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  const dir = await fs.promises.mkdtemp(path.join(base, prefix));
  activeDirs.add(dir);
  await fs.promises.writeFile(
    path.join(dir, OWNER_FILE),
    JSON.stringify({ pid: process.pid, startedAt: new Date(now).toISOString() }),
    { mode: 0o600 },
  );
  return {
    dir,
    removed,
    release: async () => {
      await fs.promises.rm(dir, { recursive: true, force: true });
      activeDirs.delete(dir);
    },
  };
}

export interface DownloadArchiveOptions {
  /** The stored object's bytes (a GetObject body). */
  readonly body: Readable;
  readonly object: { readonly key: string; readonly bytes: number; readonly sha256: string };
  readonly compression: Compression;
  /** The plain archive's path; created 0600, must not exist. */
  readonly file: string;
  readonly statfs?: StatFs;
  readonly onBytes?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

/**
 * Restore's one pass: checks free space for the plain archive, then streams the object through
 * hash + count + decompressor into `file`. Throws ArchiveReadError (INSUFFICIENT_SPACE,
 * SIZE_MISMATCH, CHECKSUM_MISMATCH, TRUNCATED, CORRUPT, FORMAT_MISMATCH); on any error the
 * partial file is removed.
 */
export async function downloadArchive(options: DownloadArchiveOptions): Promise<ArchiveScan> {
  const { object, compression, file } = options;
  await ensureFreeSpace(path.dirname(file), plainArchiveBytes(object, compression), {
    statfs: options.statfs,
    what: `the plain archive of ${object.key}`,
  }).catch((e: unknown) => {
    options.body.destroy();
    throw e;
  });
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    options.body.destroy();
    throw e;
  }
  const sink = fs.createWriteStream(file, { fd, highWaterMark: 1024 * 1024 });
  try {
    // zstd writes the plain archive into the file itself: the plain bytes never pass through Node.
    const scan = await scanArchive(options.body, {
      expect: storedFormatOf(compression.kind),
      sink,
      direct: true,
      onBytes: options.onBytes,
      signal: options.signal,
    });
    const verdict = scanVerdict(scan, object);
    if (verdict) throw verdict;
    return scan;
  } catch (e) {
    sink.destroy();
    await fs.promises.rm(file, { force: true });
    throw e;
  }
}
