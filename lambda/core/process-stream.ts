/**
 * A child process as a stream, and the errors of the compression pipeline: `ProcessStream` wraps
 * zstd (compressing or decompressing) so that its readable side ends only after the process
 * exited 0, a failed process errors the stream with a `CompressionError` naming what zstd said,
 * and a destroyed stream kills its process. compression.ts re-exports all of it and builds the
 * zstd commands, the archive decompressor and the pg_dump → zstd pipeline on top of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex, type Readable, type Stream, type Writable } from 'node:stream';
import { MAGIC_BYTES } from './compression-settings';

export type CompressionErrorCode =
  /** The compressing zstd exited non-zero, was killed, or could not start. */
  | 'COMPRESSOR_FAILED'
  /** The compressed stream ends before its last frame does (zstd "premature end", gzip EOF). */
  | 'TRUNCATED'
  /** The compressed stream's content does not decode or fails its checksum. */
  | 'CORRUPT'
  /** The bytes are not the format the manifest says, or no known format at all. */
  | 'FORMAT_MISMATCH'
  /** pg_dump exited non-zero or was killed (its stderr is in the message). */
  | 'PG_DUMP_FAILED';

export class CompressionError extends Error {
  constructor(
    readonly code: CompressionErrorCode,
    message: string,
    /** The tool's exit code or signal, when a process failed. */
    readonly exit?: { code: number | null; signal: NodeJS.Signals | null },
  ) {
    super(message);
    this.name = 'CompressionError';
  }
}

/**
 * A decompressing zstd could not write its output (exit 70: the disk is full, the reader went
 * away): a fault of where the plain bytes go, not a verdict on the stream.
 */
export class OutputWriteError extends Error {
  override readonly name = 'OutputWriteError';
}

/** zstd's exit status when writing its output failed. */
const ZSTD_WRITE_ERROR = 70;

/** The zstd binary: `RESTORABLE_ZSTD` when set (the runner image pins one), else `zstd` on PATH. */
export function zstdCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.RESTORABLE_ZSTD || 'zstd';
}

/** How much of a process's stderr is kept for its error message. */
export const STDERR_KEEP = 2048;

/** Why a decompressing zstd failed, from its stderr (it exits 1 for every failure). */
function classifyZstdFailure(stderr: string): CompressionErrorCode {
  if (/premature end|truncated|unexpected end/i.test(stderr)) return 'TRUNCATED';
  if (/unsupported format|unknown header|not in zstd format/i.test(stderr)) return 'FORMAT_MISMATCH';
  return 'CORRUPT';
}

type Role = 'compress' | 'decompress';

/**
 * Where a process's stdout goes: back to this process (the Duplex's readable side), or straight
 * into a file descriptor or a stream that has one (a file, another process's stdin) so the bytes
 * never pass through Node, or nowhere (`zstd -t` writes none).
 */
export type ProcessOutput = 'pipe' | 'ignore' | number | Stream;

/**
 * A child process as a Duplex: writes go to its stdin, its stdout is the readable side (unless
 * `output` sends it elsewhere: then the readable side carries nothing), and the readable side
 * ends only after the process exited 0. Counts input bytes and keeps their first bytes (the
 * archive magic of what pg_dump wrote).
 */
export class ProcessStream extends Duplex {
  readonly child: ChildProcess & { stdin: Writable; stdout: Readable | null; stderr: Readable };
  /** Resolves with the exit status once the process is gone (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>;
  bytesIn = 0;
  bytesOut = 0;
  private headBuf = Buffer.alloc(0);
  private stderrTail = '';
  private stdinGone = false;

  constructor(
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly role: Role,
    output: ProcessOutput = 'pipe',
  ) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.child = spawn(command, args, {
      stdio: ['pipe', output, 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    }) as ProcessStream['child'];
    const child = this.child;
    this.exited = new Promise((resolve) => {
      child.once('error', (spawnError) => resolve({ code: null, signal: null, spawnError }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-STDERR_KEEP);
    });
    // A process that died closes its stdin; the exit status, not EPIPE, is the error to report.
    child.stdin.on('error', () => (this.stdinGone = true));
    child.stdin.on('close', () => (this.stdinGone = true));
    const stdout = child.stdout;
    stdout?.on('data', (chunk: Buffer) => {
      this.bytesOut += chunk.length;
      if (!this.push(chunk)) stdout.pause();
    });
    void this.exited.then((status) => {
      if (this.destroyed) return;
      if (status.code === 0) this.push(null);
      else this.destroy(this.failure(status));
    });
  }

  /** The first input bytes (up to the archive magic's length). */
  get head(): Buffer {
    return this.headBuf;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  stderr(): string {
    return this.stderrTail.trim();
  }

  private failure(status: {
    code: number | null;
    signal: NodeJS.Signals | null;
    spawnError?: Error;
  }): CompressionError | OutputWriteError {
    const exit = { code: status.code, signal: status.signal };
    if (status.spawnError) {
      return new CompressionError(
        this.role === 'compress' ? 'COMPRESSOR_FAILED' : 'CORRUPT',
        `cannot run ${this.command}: ${status.spawnError.message}`,
        exit,
      );
    }
    const how = status.signal ? `was killed by ${status.signal}` : `exited ${status.code}`;
    const detail = this.stderr() || '(no stderr)';
    if (this.role === 'compress') {
      return new CompressionError('COMPRESSOR_FAILED', `zstd (compressing) ${how}: ${detail}`, exit);
    }
    if (status.code === ZSTD_WRITE_ERROR) {
      return new OutputWriteError(`zstd could not write the plain archive (${how}: ${detail})`);
    }
    const code = status.signal ? 'CORRUPT' : classifyZstdFailure(detail);
    const tool = this.args[0] === '-t' ? 'zstd -t' : 'zstd -d';
    const what =
      code === 'TRUNCATED'
        ? 'the zstd stream is truncated'
        : code === 'FORMAT_MISMATCH'
          ? 'the object is not a zstd stream'
          : 'the zstd stream is corrupt';
    return new CompressionError(code, `${what} (${tool} ${how}: ${detail})`, exit);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesIn += chunk.length;
    if (this.headBuf.length < MAGIC_BYTES) {
      this.headBuf = Buffer.concat([this.headBuf, chunk.subarray(0, MAGIC_BYTES - this.headBuf.length)]);
    }
    // Once the process is gone its exit handler destroys this stream; swallowing the bytes
    // meanwhile keeps the writer from hanging on a drain that never comes.
    if (this.stdinGone) return callback();
    if (this.child.stdin.write(chunk)) return callback();
    const stdin = this.child.stdin;
    const done = () => {
      stdin.off('drain', done).off('close', done);
      callback();
    };
    stdin.on('drain', done).on('close', done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.stdinGone) this.child.stdin.end();
    callback();
  }

  override _read(): void {
    this.child.stdout?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    // 'close' (and so `exited`) waits for the stdio pipes; a paused stdout would hold it forever.
    this.child.stdin.destroy();
    this.child.stdout?.destroy();
    callback(error);
  }
}
