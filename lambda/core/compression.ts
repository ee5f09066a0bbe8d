/**
 * Streaming compression for the dump pipeline and decompression for verify and restore.
 *
 * zstd runs as its own process (`zstd -T<cores> -<level>`), not in Node: it compresses on every
 * core while Node only moves bytes, hashes and uploads, and its memory stays outside the
 * runner's heap. A process is wrapped as a Duplex whose readable side ends only after the process
 * exited 0, so a consumer (the SHA-256 + multipart upload) never sees a clean end of a stream
 * whose compressor died: a zstd that exits non-zero or is killed errors the stream, and a
 * destroyed stream kills its process.
 *
 * `startDump` is the whole dump source: pg_dump (writing uncompressed with `--compress=0` when
 * zstd wraps it) → zstd → output, with pg_dump's failure killing zstd and zstd's failure killing
 * pg_dump, and the output ending only once both exited 0.
 *
 * This file owns the zstd commands, the archive decompressor and `startDump`; the process wrapper
 * (`ProcessStream`) and `CompressionError` live in process-stream.ts and are re-exported here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs';
import {
  Duplex,
  PassThrough,
  Transform,
  type Readable,
  type TransformCallback,
  type Writable,
} from 'node:stream';
import * as zlib from 'node:zlib';
import {
  CUSTOM_MAGIC,
  MAGIC_BYTES,
  detectArchiveFormat,
  pgDumpCompressionArgs,
  ZSTD_MAX_LEVEL,
  type ArchiveFormat,
  type CompressionSettings,
} from './compression-settings';
import {
  CompressionError,
  ProcessStream,
  STDERR_KEEP,
  zstdCommand,
  type ProcessOutput,
} from './process-stream';

export {
  CompressionError,
  OutputWriteError,
  ProcessStream,
  zstdCommand,
  type CompressionErrorCode,
  type ProcessOutput,
} from './process-stream';

/** Cores this process may use (cgroup- and affinity-aware on Node ≥ 18.14). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** `zstd -T<threads> -<level>` from stdin to stdout, with its content checksum (the default). */
export function createZstdCompressor(options: { level: number; threads: number }): ProcessStream {
  const { level, threads } = options;
  if (!Number.isInteger(level) || level < 1 || level > ZSTD_MAX_LEVEL) {
    throw new Error(`zstd level ${level} is not 1-${ZSTD_MAX_LEVEL}`);
  }
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`zstd threads ${threads} is not a positive integer`);
  return new ProcessStream(
    zstdCommand(),
    [`-T${threads}`, `-${level}`, '-c', '-q', '--no-progress'],
    'compress',
  );
}

/**
 * `zstd -d` from stdin to stdout, or straight into `output` (a file, another process's stdin);
 * fails TRUNCATED or CORRUPT naming what zstd said.
 */
export function createZstdDecompressor(output: ProcessOutput = 'pipe'): ProcessStream {
  // --long=31 accepts any window a wrapped archive could have been written with.
  return new ProcessStream(
    zstdCommand(),
    ['-d', '-c', '-q', '--no-progress', '--long=31'],
    'decompress',
    output,
  );
}

/**
 * `zstd -t`: decompresses and checks the whole stream, writes nothing, and prints the plain size
 * (`/*stdin*\ : 71294937 bytes`) on success; fails like createZstdDecompressor.
 */
export function createZstdTester(): ProcessStream {
  return new ProcessStream(zstdCommand(), ['-t', '--no-progress', '--long=31'], 'decompress', 'ignore');
}

/** The plain size `zstd -t` printed, if it did. */
function testedBytes(stderr: string): number | undefined {
  const m = /:\s*(\d+) bytes\s*$/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/**
 * Where a zstd stream's plain bytes go when they need not pass through this process: `to` is a
 * file (its fs.WriteStream, opened with an fd) or a pipe (a child's stdin) that the decompressing
 * zstd writes into directly. With `mayCloseEarly` (pg_restore --list, which exits once it has the
 * TOC) a second process, `zstd -t`, checks the whole stream and gives the verdict, and the zstd
 * feeding `to` is dropped once its reader has gone.
 */
export interface DirectOutput {
  readonly to: Writable;
  readonly mayCloseEarly?: boolean;
}

/** zlib's gunzip error, named like zstd's: TRUNCATED at an early end of input, else CORRUPT. */
function gzipError(e: NodeJS.ErrnoException): CompressionError {
  const truncated = e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message);
  return new CompressionError(
    truncated ? 'TRUNCATED' : 'CORRUPT',
    `the gzip stream is ${truncated ? 'truncated' : 'corrupt'} (${e.message})`,
  );
}

/**
 * A Duplex that reads the first bytes written to it, picks the decompressor for what they are
 * (zstd → `zstd -d`, gzip → gunzip, `PGDMP` → pass-through) and emits the plain custom archive.
 * With `expect`, any other format fails FORMAT_MISMATCH before a byte is passed on.
 */
export class ArchiveDecompressor extends Duplex {
  format: ArchiveFormat | undefined;
  /** True when a zstd stream's plain bytes went to the direct output, not the readable side. */
  direct = false;
  private inner: Duplex | undefined;
  /** The zstd feeding a direct output that may close early (its failure is not a verdict). */
  private side: ProcessStream | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly expect?: ArchiveFormat,
    private readonly output?: DirectOutput,
  ) {
    super({ readableHighWaterMark: 256 * 1024 });
  }

  /**
   * Plain bytes of a zstd stream that went to the direct output: the file's size, or what
   * `zstd -t` counted. Undefined until the stream has ended, and for the other formats (their
   * bytes are on the readable side).
   */
  directBytes(): number | undefined {
    if (!this.direct || !this.readableEnded) return undefined;
    if (this.output?.mayCloseEarly) return testedBytes(this.process?.stderr() ?? '');
    const fd = (this.output?.to as { fd?: unknown }).fd;
    return typeof fd === 'number' ? fs.fstatSync(fd).size : undefined;
  }

  private openZstd(): Duplex {
    if (!this.output) return createZstdDecompressor();
    this.direct = true;
    if (!this.output.mayCloseEarly) return createZstdDecompressor(this.output.to);
    const side = createZstdDecompressor(this.output.to);
    // Its reader exiting (EPIPE) ends it; only the tester's verdict counts.
    side.on('error', () => undefined);
    this.side = side;
    return createZstdTester();
  }

  /** The zstd process when the input is zstd (its pid, for tests and cleanup checks). */
  get process(): ProcessStream | undefined {
    return this.inner instanceof ProcessStream ? this.inner : undefined;
  }

  private open(): Error | undefined {
    const head = Buffer.concat(this.pending);
    const format = detectArchiveFormat(head);
    this.format = format;
    if (format === 'unknown' || (this.expect && format !== this.expect)) {
      const seen = head.subarray(0, MAGIC_BYTES).toString('hex');
      return new CompressionError(
        'FORMAT_MISMATCH',
        `archive starts with ${seen || 'nothing'} (${format})` +
          (this.expect ? `, expected ${this.expect}` : '; expected a custom archive, zstd or gzip'),
      );
    }
    const inner: Duplex =
      format === 'zstd' ? this.openZstd() : format === 'gzip' ? zlib.createGunzip() : new PassThrough();
    this.inner = inner;
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.once('error', (e) => this.destroy(format === 'gzip' ? gzipError(e) : e));
    return undefined;
  }

  private forward(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const targets = [this.inner!, this.side].filter((d): d is Duplex => !!d && !d.destroyed);
    const waiting = targets.filter((d) => !d.write(chunk));
    if (waiting.length === 0) return callback();
    let left = waiting.length;
    for (const d of waiting) {
      const done = () => {
        d.off('drain', done).off('close', done);
        if (--left === 0) callback();
      };
      d.on('drain', done).on('close', done);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.inner) return this.forward(chunk, callback);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < MAGIC_BYTES) return callback();
    const err = this.open();
    if (err) return callback(err);
    const buffered = Buffer.concat(this.pending);
    this.pending = [];
    this.forward(buffered, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.inner) {
      const err = this.open();
      if (err) return callback(err);
      this.inner!.write(Buffer.concat(this.pending));
      this.side?.write(Buffer.concat(this.pending));
      this.pending = [];
    }
    this.inner!.end();
    if (this.side && !this.side.destroyed) this.side.end();
    callback();
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner?.destroy();
    // The side zstd may still be handing its reader the TOC after the tester has finished (this
    // stream is destroyed as soon as it ended): it gets the end of its input, not a kill, and
    // exits once it has written what it has or its reader has gone.
    if (this.side && !this.side.destroyed && !this.side.writableEnded) this.side.end();
    callback(error);
  }
}

/** The plain custom archive from a stored object's bytes, whatever wraps it. */
export function decompressedArchive(source: Readable, expect?: ArchiveFormat): ArchiveDecompressor {
  const d = new ArchiveDecompressor(expect);
  source.on('error', (e) => d.destroy(e));
  source.pipe(d);
  return d;
}

export interface DumpStream {
  /** The bytes to hash and upload; errors with CompressionError when either process fails. */
  readonly output: Readable;
  /** Bytes pg_dump wrote (the plain archive's size when zstd wraps it). */
  rawBytes(): number;
  /** pg_dump's first bytes (`PGDMP` for a custom archive). */
  rawHead(): Buffer;
  /** pg_dump's stderr tail. */
  stderr(): string;
  /** Resolves once pg_dump and the compressor have both exited (never rejects). */
  readonly exited: Promise<void>;
  readonly pgDump: ChildProcess;
  readonly compressor: ProcessStream | undefined;
  /** Kills both processes and errors the output. */
  kill(reason?: Error): void;
}

/**
 * Spawns `pg_dump <args> <compression args>` and, for `zstd-wrapped`, pipes its stdout through
 * zstd. The output ends only after pg_dump exited 0 and the compressor exited 0 (pg_dump's exit
 * status arrives after its stdout's end, so ending on zstd's success alone would pass a dump that
 * failed after its last byte). pg_dump failing kills zstd; zstd failing kills pg_dump.
 */
export function startDump(options: {
  readonly pgDumpPath: string;
  readonly pgDumpMajor: number;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly compression: CompressionSettings;
}): DumpStream {
  const { compression } = options;
  const args = [...options.args, ...pgDumpCompressionArgs(compression, options.pgDumpMajor)];
  const pgDump = spawn(options.pgDumpPath, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrTail = '';
  pgDump.stderr
    .setEncoding('utf8')
    .on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-STDERR_KEEP)));
  // 'exit', not 'close': a process pg_dump left behind holding its stdout must not hide the
  // verdict. The stderr tail gets a moment to arrive so a failure names pg_dump's own message.
  const pgClosed = new Promise<void>((resolve) => pgDump.once('close', () => resolve()));
  const pgExited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>(
    (resolve) => {
      pgDump.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
      pgDump.once('exit', (code, signal) => {
        const status = { code, signal };
        if (code === 0) return resolve(status);
        void Promise.race([pgClosed, new Promise((r) => setTimeout(r, 300))]).then(() => resolve(status));
      });
    },
  );
  let rawBytes = 0;
  let head = Buffer.alloc(0);
  const compressor =
    compression.kind === 'zstd-wrapped'
      ? createZstdCompressor({ level: compression.level, threads: compression.threads })
      : undefined;
  let failure: Error | undefined;
  const stopProcesses = () => {
    if (pgDump.exitCode === null && pgDump.signalCode === null) pgDump.kill('SIGKILL');
    // pg_dump's 'close' waits for its stdout pipe, which a stalled consumer leaves paused.
    pgDump.stdout.destroy();
    pgDump.stderr.destroy();
    compressor?.destroy();
  };
  const kill = (reason?: Error) => {
    failure ??= reason ?? new CompressionError('PG_DUMP_FAILED', 'dump stopped');
    stopProcesses();
    if (!output.destroyed) output.destroy(failure);
  };

  // Holds back the end until pg_dump's verdict; on the compressed side for zstd-wrapped.
  const output = new Transform({
    readableHighWaterMark: 256 * 1024,
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      void pgExited.then((s) => callback(s.code === 0 ? null : pgDumpFailure(s, stderrTail)));
    },
    destroy(error, callback) {
      stopProcesses();
      callback(error);
    },
  });

  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      rawBytes += chunk.length;
      if (head.length < CUSTOM_MAGIC.length) {
        head = Buffer.concat([head, chunk.subarray(0, CUSTOM_MAGIC.length - head.length)]);
      }
      callback(null, chunk);
    },
  });
  pgDump.stdout.on('error', (e) =>
    kill(new CompressionError('PG_DUMP_FAILED', `reading pg_dump output: ${e.message}`)),
  );
  if (compressor) {
    compressor.on('error', (e) => kill(e));
    pgDump.stdout.pipe(counter).pipe(compressor).pipe(output);
  } else {
    pgDump.stdout.pipe(counter).pipe(output);
  }
  void pgExited.then((s) => {
    if (s.code !== 0) kill(pgDumpFailure(s, stderrTail));
  });

  const exited = Promise.all([pgExited, compressor?.exited]).then(() => undefined);
  return {
    output,
    rawBytes: () => rawBytes,
    rawHead: () => head,
    stderr: () => stderrTail.trim(),
    exited,
    pgDump,
    compressor,
    kill,
  };
}

function pgDumpFailure(
  s: { code: number | null; signal: NodeJS.Signals | null; spawnError?: Error },
  stderr: string,
): CompressionError {
  const exit = { code: s.code, signal: s.signal };
  if (s.spawnError)
    return new CompressionError('PG_DUMP_FAILED', `cannot run pg_dump: ${s.spawnError.message}`, exit);
  const how = s.signal ? `was killed by ${s.signal}` : `exited ${s.code}`;
  return new CompressionError('PG_DUMP_FAILED', `pg_dump ${how}: ${stderr.trim() || '(no stderr)'}`, exit);
}
