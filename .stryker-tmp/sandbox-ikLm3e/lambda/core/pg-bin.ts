/**
 * Finds PostgreSQL client and server binaries by major version.
 *
 * The runner image carries pg_dump/pg_restore for several majors; a laptop or CI machine has
 * Debian's `/usr/lib/postgresql/<major>/bin`. pg_dump can dump servers of its own major and older,
 * never newer, so the dump picks the same major when present, else the nearest newer one.
 * @see https://www.postgresql.org/docs/current/app-pgdump.html (Notes: cross-version dumps)
 */
// @ts-nocheck

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type PgTool =
  'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql' | 'initdb' | 'pg_ctl' | 'postgres' | 'pg_isready';

export interface PgBinary {
  readonly path: string;
  readonly major: number;
  /** The tool's own `--version` line, e.g. `pg_dump (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)`. */
  readonly version: string;
}

/** Roots whose `<major>/bin` children hold per-major binaries (Debian, PGDG RPM, our image). */
const VERSIONED_ROOTS = ['/usr/lib/postgresql', '/opt/postgresql'];

/**
 * Directories to search, most specific first: `RESTORABLE_PG_BIN_DIRS` (colon-separated), then the
 * per-major layouts, then PATH.
 */
export function pgBinDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env.RESTORABLE_PG_BIN_DIRS) dirs.push(...env.RESTORABLE_PG_BIN_DIRS.split(':').filter(Boolean));
  for (const root of VERSIONED_ROOTS) {
    for (const child of safeReaddir(root).sort((a, b) => Number(b) - Number(a))) {
      dirs.push(path.join(root, child, 'bin'));
    }
  }
  for (const child of safeReaddir('/usr').filter((c) => /^pgsql-\d+$/.test(c))) {
    dirs.push(path.join('/usr', child, 'bin'));
  }
  dirs.push(...(env.PATH ?? '').split(':').filter(Boolean));
  return [...new Set(dirs)];
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

const versionCache = new Map<string, PgBinary | undefined>();

function probe(file: string): PgBinary | undefined {
  if (versionCache.has(file)) return versionCache.get(file);
  let found: PgBinary | undefined;
  try {
    fs.accessSync(file, fs.constants.X_OK);
    const version = execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(version);
    if (m) found = { path: fs.realpathSync(file), major: Number(m[1]), version };
  } catch {
    found = undefined;
  }
  versionCache.set(file, found);
  return found;
}

/** Every distinct installation of a tool, newest major first. */
export function findPgBinaries(tool: PgTool, dirs: string[] = pgBinDirs()): PgBinary[] {
  const seen = new Map<string, PgBinary>();
  for (const dir of dirs) {
    const bin = probe(path.join(dir, tool));
    if (bin && !seen.has(bin.path)) seen.set(bin.path, bin);
  }
  return [...seen.values()].sort((a, b) => b.major - a.major);
}

/** The newest installation of a tool; throws naming where it looked. */
export function findPgBinary(tool: PgTool, dirs: string[] = pgBinDirs()): PgBinary {
  const [bin] = findPgBinaries(tool, dirs);
  if (!bin) throw new Error(`${tool} not found in ${dirs.join(':')} (set RESTORABLE_PG_BIN_DIRS)`);
  return bin;
}

/**
 * The client tool that can work with a server of `serverMajor`: the same major when present, else
 * the oldest newer one. Refuses when every installed tool is older than the server.
 */
export function pgToolForServer(tool: PgTool, serverMajor: number, dirs: string[] = pgBinDirs()): PgBinary {
  const all = findPgBinaries(tool, dirs);
  const usable = all.filter((b) => b.major >= serverMajor).sort((a, b) => a.major - b.major);
  if (usable.length > 0) return usable[0];
  const have = all.map((b) => b.major).join(', ') || 'none';
  throw new Error(
    `server is PostgreSQL ${serverMajor} but the newest ${tool} available is ${all[0]?.major ?? 'none'} ` +
      `(installed majors: ${have}); ${tool} cannot work with a newer server`,
  );
}

/** Major version from `server_version_num` (150004 → 15). Servers before 10 are not supported. */
export function majorFromVersionNum(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}
