/**
 * Human output for the CLI: aligned tables, sizes, durations, and a throttled progress line on
 * stderr. Machine output (`--json`) bypasses all of this.
 */
// @ts-nocheck


export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60
    ? `${m}m${String(s).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Renders rows as an aligned table; numbers are right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/**
 * A progress reporter writing one updating line to stderr, at most a few times a second within a
 * phase. A new phase (`key`) is always shown, so a fast step (a download that takes 50 ms) is not
 * swallowed by the throttle and the operator sees every phase the work went through.
 */
export class Progress {
  private last = 0;
  private lastKey: string | undefined;
  private shown = false;
  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(text: string, key?: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (key === this.lastKey && now - this.last < 200) return;
    this.last = now;
    this.lastKey = key;
    this.shown = true;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[2K${text}`);
    else this.stream.write(`${text}\n`);
  }

  done(): void {
    if (this.enabled && this.shown && this.stream.isTTY) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}
