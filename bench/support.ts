/**
 * Shared pieces of the benchmarks: the local S3 server in its own process (so its buffers are not
 * counted in our RSS), RSS sampling of this process and of the child processes it runs, timing,
 * and median/min–max statistics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

export const MIB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

export async function startS3Process(): Promise<{
  endpoint: string;
  directory: string;
  pid: number | undefined;
  stop: () => void;
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'local-s3-process.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`local S3 process exited ${code}`)));
  });
  const { endpoint, directory } = JSON.parse(line) as { endpoint: string; directory: string };
  return { endpoint, directory, pid: child.pid, stop: () => child.stdin!.end() };
}

/**
 * CPU seconds (user + system) of a process; with `children`, plus those of its children that
 * have exited and been waited for (zstd, pg_restore, sha256sum). Unlike wall time this does not
 * depend on what else the machine runs.
 */
export function cpuSeconds(pid: number | 'self', children = false): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start at state, field 3.
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const ticks = f[11] + f[12] + (children ? f[13] + f[14] : 0);
    return ticks / 100;
  } catch {
    return 0;
  }
}

/** VmRSS of a process in bytes (0 once it is gone). */
export function rssOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples every 50 ms: this process's RSS, and the sum of the RSS of the children registered with
 * `watch` (pg_dump, zstd, pg_restore). Peaks are what the report shows.
 */
export function sampler() {
  const children = new Set<ChildProcess>();
  let nodePeak = process.memoryUsage().rss;
  let totalPeak = nodePeak;
  const tick = () => {
    const node = process.memoryUsage().rss;
    let kids = 0;
    for (const c of children) kids += rssOf(c.pid);
    nodePeak = Math.max(nodePeak, node);
    totalPeak = Math.max(totalPeak, node + kids);
  };
  const timer = setInterval(tick, 50);
  return {
    watch: (c: ChildProcess | undefined) => c && children.add(c),
    stop: () => {
      tick();
      clearInterval(timer);
      return { nodePeak, totalPeak };
    },
  };
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** `median s (min–max)`. */
export function summary(xs: readonly number[]): string {
  return `${median(xs).toFixed(2)} s (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
}

/** 1-minute load average, to record the conditions on a shared machine. */
export const load = (): string => os.loadavg()[0].toFixed(2);

/** Runs a command to completion with stdout to a file (or /dev/null); rejects on non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdoutFile?: string; watch?: (c: ChildProcess) => void } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(options.stdoutFile ?? '/dev/null', 'w');
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', out, 'pipe'] });
    fs.closeSync(out);
    options.watch?.(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}
