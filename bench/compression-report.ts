/**
 * Writes the "Compression and throughput" section of BENCHMARKS.md from a benchmark run, leaving
 * every other section (content fingerprints, ...) as it is.
 */
import * as fs from 'node:fs';

export interface SizeResults {
  /** The size asked for, MiB. */
  sizeMb: number;
  rounds: number;
  dbBytes: number;
  /** `pg_dump -Fc` (gzip) archive. */
  gzipBytes: number;
  /** Our zstd-wrapped object. */
  zstdBytes: number;
  /** The plain custom archive inside it. */
  plainBytes: number;
  /** Every file of the directory-layout backup. */
  directoryBytes: number;
  /** Seconds per variant, one entry per round. */
  times: Record<string, number[]>;
  /** CPU seconds per variant (this process and its children, plus the S3 server process). */
  cpu: Record<string, number[]>;
  /** Peak RSS in bytes by what was measured. */
  rss: Record<string, number>;
  /** 1-minute load averages: before, and after each round. */
  loads: string[];
  /** zstd levels tried once on the plain archive (first size only): bytes and seconds. */
  levels: { level: number; bytes: number; seconds: number }[];
  /** The download phase (download → hash → zstd → file) of our restore, per round. */
  downloadSeconds: number[];
}

export interface BenchResults {
  cores: number;
  /** zstd level of our pipeline. */
  level: number;
  /** pg_restore -j and pg_dump -j. */
  jobs: number;
  sizes: SizeResults[];
  versions: Record<string, string>;
}

interface Fmt {
  summary(xs: readonly number[]): string;
  median(xs: readonly number[]): number;
  mib(bytes: number): string;
}

const HEADING = '## Compression and throughput';
const GIB = 1024 ** 3;
const TIB = 1024 ** 4;
const size = (b: number) => (b >= TIB ? `${(b / TIB).toFixed(1)} TiB` : `${(b / GIB).toFixed(0)} GiB`);

/** A table cell: a pipe inside a command would end the cell. */
const cell = (s: string) => s.replace(/\|/g, '\\|');
const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;

interface Timing {
  key: string;
  xs: number[];
  med: number;
  cpu: number;
}

/** The numbers one size's tables and the targets read. */
function derive(r: SizeResults, f: Fmt) {
  const t = (prefix: string): Timing => {
    const key = Object.keys(r.times).find((k) => k.startsWith(prefix));
    if (!key) throw new Error(`no timings for ${prefix}`);
    return { key, xs: r.times[key], med: f.median(r.times[key]), cpu: f.median(r.cpu[key] ?? [0]) };
  };
  // The whole-operation variants of both layouts may be left out at the larger sizes.
  const opt = (prefix: string): Timing | undefined =>
    Object.keys(r.times).some((k) => k.startsWith(prefix)) ? t(prefix) : undefined;
  const d = {
    raw: t('pg_dump -Fc >'),
    zpipe: t('pg_dump -Fc -Z0'),
    ours: t('ours: pg_dump'),
    script: t('plain script'),
    wholeStream: opt('whole backup, single'),
    wholeDir: opt('whole backup, directory'),
    restOurs: t('ours: download'),
    restRaw: t('raw: pg_restore'),
    restStream: opt('whole restore, single'),
    restDir: opt('whole restore, directory'),
    drain: t('local S3 server alone'),
    verOurs: t('ours: verify'),
    sha: t('sha256sum'),
    verStream: opt('whole verify, single'),
    verDir: opt('whole verify, directory'),
  };
  const nodePeaks = Object.entries(r.rss).filter(([k]) => k.endsWith(': node'));
  return {
    ...d,
    backupRatio: d.raw.med / d.ours.med,
    restoreRatio: d.restOurs.med / d.restRaw.med,
    verifyRatio: d.sha.med / d.verOurs.med,
    drainRatio: d.sha.med / d.drain.med,
    download: f.median(r.downloadSeconds),
    rssPeak: Math.max(...nodePeaks.map(([, v]) => v)),
    rssPeakOf: nodePeaks.reduce((a, b) => (b[1] > a[1] ? b : a))[0].replace(/: node$/, ''),
  };
}

function sizeSection(r: SizeResults, c: BenchResults, f: Fmt): string {
  const d = derive(r, f);
  const dbMiB = r.dbBytes / 1024 / 1024;
  const row = (x: Timing, base: number) =>
    `| ${cell(x.key)} | ${f.summary(x.xs)} | ${(dbMiB / x.med).toFixed(1)} MiB/s | ${(base / x.med).toFixed(2)}× |`;
  const timeRow = (x: Timing, vs: string) => `| ${cell(x.key)} | ${f.summary(x.xs)} | ${vs} |`;
  const cpuRow = (x: Timing, vs: string) =>
    `| ${cell(x.key)} | ${f.summary(x.xs)} | ${x.cpu.toFixed(2)} s | ${(r.zstdBytes / 1024 / 1024 / x.med).toFixed(0)} MiB/s | ${vs} |`;
  return `### ~${r.sizeMb} MB: ${f.mib(r.dbBytes)} database, ${r.rounds} rounds

| | |
|---|---|
| Load (1-min average: start, then after each round) | ${r.loads.join(' → ')} |
| Database (\`pg_database_size\`) | ${f.mib(r.dbBytes)} of realistic rows (customers and orders: uuids, e-mails, prose, jsonb, numerics, timestamps, text[], 4 indexes) |
| Archive, \`pg_dump -Fc\` (gzip -6) | ${f.mib(r.gzipBytes)} |
| Archive, zstd-wrapped (\`-Z0\` + \`zstd -${c.level} -T${c.cores}\`) | ${f.mib(r.zstdBytes)} (${pct(r.zstdBytes, r.gzipBytes)} of gzip) |
| Plain custom archive inside it | ${f.mib(r.plainBytes)} |
${d.wholeDir ? `| Directory layout (\`pg_dump -Fd -j${c.jobs}\`, every file) | ${f.mib(r.directoryBytes)} |` : ''}
${
  r.levels.length
    ? `
zstd levels on the same plain archive (\`zstd -T${c.cores} -<level>\` of a local file, one run each):
${r.levels.map((l) => `level ${l.level}: ${f.mib(l.bytes)} (${pct(l.bytes, r.gzipBytes)} of gzip) in ${l.seconds.toFixed(2)} s`).join('; ')}.
`
    : ''
}
| Backup | Time | Database throughput | vs raw \`pg_dump -Fc\` |
|---|---|---|---|
${[d.raw, d.zpipe, d.ours, d.script, d.wholeStream, d.wholeDir]
  .filter((x): x is Timing => !!x)
  .map((x) => row(x, d.raw.med))
  .join('\n')}

Our stream vs the plain \`pg_dump | multipart upload\` script into the same local S3 server:
${(d.script.med / d.ours.med).toFixed(2)}×. The whole backup adds preflight, the snapshot, row counts,
fingerprints, the roles file and the manifest to the stream.

| Restore | Time | vs raw \`pg_restore -j${c.jobs}\` |
|---|---|---|
${timeRow(d.restOurs, `${d.restoreRatio.toFixed(2)}× the time (download phase ${d.download.toFixed(2)} s median)`)}
${timeRow(d.restRaw, '1.00×')}
${[d.restStream, d.restDir]
  .filter((x): x is Timing => !!x)
  .map((x) => timeRow(x, `${(x.med / d.restRaw.med).toFixed(2)}×`))
  .join('\n')}

| Verify (the ${f.mib(r.zstdBytes)} stored object) | Time | CPU | Stored bytes/s | vs \`sha256sum\` |
|---|---|---|---|---|
${cpuRow(d.drain, `${d.drainRatio.toFixed(2)}× its throughput`)}
${cpuRow(d.verOurs, `${d.verifyRatio.toFixed(2)}× its throughput`)}
${cpuRow(d.sha, '1.00×')}
${[d.verStream, d.verDir]
  .filter((x): x is Timing => !!x)
  .map((x) => `| ${cell(x.key)} | ${f.summary(x.xs)} | | | ${(d.sha.med / x.med).toFixed(2)}× |`)
  .join('\n')}

CPU: this process and its children (zstd, pg_restore, sha256sum) plus the S3 server's process, in
CPU seconds (median); PostgreSQL's own processes are not counted. Peak RSS of the Node process:
${Object.entries(r.rss)
  .filter(([k]) => k.endsWith(': node'))
  .map(([k, v]) => `${k.replace(/: node$/, '')} ${f.mib(v)}`)
  .join(
    ', ',
  )}; our backup stream with the pg_dump and zstd processes: ${f.mib(r.rss['backup: node + pg_dump + zstd'] ?? 0)}.
`;
}

function section(c: BenchResults, f: Fmt): string {
  const sizes = c.sizes;
  const ds = sizes.map((r) => derive(r, f));
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const cols = sizes.map((r) => `~${r.sizeMb} MB`);
  const trow = (name: string, vals: string[]) => `| ${name} | ${vals.join(' | ')} |`;

  // Projections from the largest size's medians: database bytes per second on this machine.
  const big = sizes[sizes.length - 1];
  const bd = ds[ds.length - 1];
  const backupRate = big.dbBytes / bd.ours.med;
  const gzipRate = big.dbBytes / bd.raw.med;
  const restoreRate = big.dbBytes / bd.restOurs.med;
  // The directory layout from the largest size it ran at.
  const li = ds.map((d) => !!d.restDir).lastIndexOf(true);
  const lay = li >= 0 ? { r: sizes[li], d: ds[li] } : undefined;
  const dirRestoreRate = lay ? lay.r.dbBytes / lay.d.restDir!.med : NaN;
  const plainPerDb = big.plainBytes / big.dbBytes;
  const dirPerDb = lay ? lay.r.directoryBytes / lay.r.dbBytes : NaN;
  const ratio = (a: Timing | undefined, b: Timing | undefined) =>
    a && b ? `${(a.med / b.med).toFixed(2)}×` : 'not run';
  const lambdaSeconds = 15 * 60 - 120; // leave 2 minutes for preflight, counts, roles, manifest
  const lambdaTmp = 10 * GIB - 64 * 1024 ** 2;
  const fargateDisk = 200 * GIB - 64 * 1024 ** 2;
  const drillLambda = Math.min(lambdaTmp / plainPerDb, restoreRate * lambdaSeconds);

  return `${HEADING}

Generated by \`npm run bench\` (\`bench/compression.ts\`, ${sizes.map((r) => r.rounds).join(' and ')} rounds, variants
rotated each round so background load falls on all of them alike) on ${new Date().toISOString().slice(0, 10)}.
Times are medians with min–max; "vs" columns compare medians. \`BENCH_SIZES=100 npm run bench\` runs
only the small size.

| | |
|---|---|
| Machine | ${c.versions.kernel}, ${c.cores} cores (${c.versions.cpu}), ${c.versions.memory} RAM, shared with other jobs |
| Versions | Node ${c.versions.node}; ${c.versions.pgDump}; ${c.versions.zstd} |
| Sizes | ${sizes.map((r) => f.mib(r.dbBytes)).join(', ')} (the same tables, grown) |

${sizes.map((r) => sizeSection(r, c, f)).join('\n')}
### Targets

| Target | ${cols.join(' | ')} |
|---|${cols.map(() => '---').join('|')}|
${trow(
  'Backup ≥ 2× raw `pg_dump -Fc` throughput',
  ds.map((d) => `${d.backupRatio.toFixed(2)}× ${mark(d.backupRatio >= 2)}`),
)}
${trow(
  'Archive no larger than `pg_dump -Fc`',
  sizes.map((r) => `${pct(r.zstdBytes, r.gzipBytes)} ${mark(r.zstdBytes <= r.gzipBytes)}`),
)}
${trow(
  'Peak RSS < 200 MB (Node)',
  ds.map((d) => `${f.mib(d.rssPeak)} (${d.rssPeakOf}) ${mark(d.rssPeak < 200 * 1e6)}`),
)}
${trow(
  'Restore ≤ 1.1× raw `pg_restore -j' + c.jobs + '`',
  ds.map((d) => `${d.restoreRatio.toFixed(2)}× ${mark(d.restoreRatio <= 1.1)}`),
)}
${trow(
  'Verify ≥ 0.9× `sha256sum`',
  ds.map((d) => `${d.verifyRatio.toFixed(2)}× ${mark(d.verifyRatio >= 0.9)}`),
)}
${trow(
  '(the local S3 server alone vs `sha256sum`)',
  ds.map((d) => `${d.drainRatio.toFixed(2)}×`),
)}

### Parallel (directory) layout vs single stream

| | ${cols.join(' | ')} |
|---|${cols.map(() => '---').join('|')}|
${trow(
  'Whole backup: directory time / single-stream time',
  ds.map((d) => ratio(d.wholeDir, d.wholeStream)),
)}
${trow(
  'Stored bytes: directory / single stream',
  sizes.map((r, i) => (ds[i].wholeDir ? pct(r.directoryBytes, r.zstdBytes) : 'not run')),
)}
${trow(
  'Whole restore: directory time / single-stream time',
  ds.map((d) => ratio(d.restDir, d.restStream)),
)}
${trow(
  'Whole verify: directory time / single-stream time',
  ds.map((d) => ratio(d.verDir, d.verStream)),
)}

On PostgreSQL 15 the directory layout compresses with pg_dump's own gzip (-6) in each of its ${c.jobs}
workers: the zstd wrapper has one stream to wrap, and pg_dump's own zstd needs 16.

### Largest database per runner (projected from the ~${big.sizeMb} MB medians)

Backup rate here: ${f.mib(backupRate)}/s of database with zstd (${f.mib(gzipRate)}/s with pg_dump's gzip);
the plain archive is ${(plainPerDb * 100).toFixed(0)} % of \`pg_database_size\`${lay ? `, the directory layout ${(dirPerDb * 100).toFixed(0)} % (at ~${lay.r.sizeMb} MB)` : ''}; restore rate
${f.mib(restoreRate)}/s (single stream)${lay ? `, ${f.mib(dirRestoreRate)}/s (directory, at ~${lay.r.sizeMb} MB)` : ''}. Linear extrapolation from ${f.mib(big.dbBytes)}
on ${c.cores} shared cores; indexes and TOAST make real databases differ, and Lambda's vCPU count follows
its memory (up to 6 at 10,240 MB), Fargate's its task size, so treat these as orders of magnitude and
keep a margin.

| Runner | Backup (13 of 15 min for the dump) | Restore drill |
|---|---|---|
| Lambda, zstd | ${size(backupRate * lambdaSeconds)} | ${size(drillLambda)} (plain archive in 10 GiB \`/tmp\`${drillLambda < lambdaTmp / plainPerDb ? ', bound by time' : ''}) |
| Lambda, gzip (pg_dump's own) | ${size(gzipRate * lambdaSeconds)} | same |
| Fargate, 200 GiB ephemeral storage, single stream | no time limit (${(TIB / backupRate / 3600).toFixed(1)} h per TiB) | ${size(fargateDisk / plainPerDb)} (plain archive in 200 GiB; ${(TIB / restoreRate / 3600).toFixed(1)} h per TiB) |
${lay ? `| Fargate, directory layout | the dump's files must fit: ${size(fargateDisk / dirPerDb)} | ${size(fargateDisk / dirPerDb)} (${(TIB / dirRestoreRate / 3600).toFixed(1)} h per TiB) |` : ''}

pg_dump ≥ 16's own \`--compress=zstd\` (kind \`pg-zstd\`) could not be measured: this machine has
PostgreSQL 15 only (Debian bookworm). It is single-threaded inside pg_dump, so it cannot use more
than one core; restore and verify support it (a plain custom archive).
`;
}

/** Replaces (or appends) the section in `file`; returns the section. */
export function writeReport(file: string, r: BenchResults, f: Fmt): string {
  const body = section(r, f);
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = existing.indexOf(HEADING);
  let next: string;
  if (start < 0) {
    next = `${existing.trimEnd()}\n\n${body}`;
  } else {
    const after = existing.indexOf('\n## ', start + HEADING.length);
    next = existing.slice(0, start) + body + (after < 0 ? '' : `\n${existing.slice(after + 1)}`);
  }
  fs.writeFileSync(file, next.endsWith('\n') ? next : `${next}\n`);
  return body;
}
