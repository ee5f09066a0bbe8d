/**
 * Dump and restore the way the product does, for the fingerprint tests: fingerprints taken in the
 * snapshot pg_dump then uses (`--snapshot`), the real pg_dump/pg_restore, and fingerprints
 * recomputed on the restored copy. Until dump.ts and drill.ts call the fingerprint code (issue 14
 * wiring), this is the stand-in for them.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import {
  computeFingerprints,
  fingerprintRestored,
  type FingerprintOptions,
} from '../../lambda/core/fingerprint';
import type { Fingerprints } from '../../lambda/core/fingerprint-schema';
import type { LocalCluster } from '../../lambda/core/local-cluster';
import { onDatabase } from './harness';

const run = promisify(execFile);

const env = (c: LocalCluster) => ({ ...process.env, PGPASSWORD: c.password });
const conn = (c: LocalCluster, database: string) => [
  '-h',
  c.host,
  '-p',
  String(c.port),
  '-U',
  c.user,
  '-d',
  database,
];

/** pg_dump -Fc of `database` into `file`, with fingerprints taken in the same snapshot. */
export async function dumpWithFingerprints(
  cluster: LocalCluster,
  database: string,
  file: string,
  options: FingerprintOptions = {},
): Promise<Fingerprints> {
  const c = new Client(cluster.connection(database));
  await c.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await c.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0].id;
    const fingerprints = await computeFingerprints(c, options);
    // The transaction must still be usable after fingerprinting: pg_dump imports its snapshot now.
    await run(
      path.join(cluster.binDir, 'pg_dump'),
      ['--format=custom', `--snapshot=${snapshot}`, '--no-password', '-f', file, ...conn(cluster, database)],
      { env: env(cluster) },
    );
    await c.query('COMMIT');
    return fingerprints;
  } finally {
    await c.end();
  }
}

export interface RestoreRun {
  readonly code: number;
  readonly stderr: string;
}

/** CREATE DATABASE on the target, then pg_restore (no owners or grants: the roles stay behind). */
export async function restoreInto(
  cluster: LocalCluster,
  database: string,
  file: string,
  extra: readonly string[] = ['--exit-on-error'],
  createSql = '',
): Promise<RestoreRun> {
  await onCluster(cluster, 'postgres', (c) =>
    c.query(`CREATE DATABASE "${database.replace(/"/g, '""')}" ${createSql}`),
  );
  try {
    const { stderr } = await run(
      path.join(cluster.binDir, 'pg_restore'),
      ['--no-owner', '--no-acl', '--no-password', ...extra, ...conn(cluster, database), file],
      { env: env(cluster), maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stderr: err.stderr ?? String(e) };
  }
}

export async function pgRestoreList(cluster: LocalCluster, file: string): Promise<string> {
  return (await run(path.join(cluster.binDir, 'pg_restore'), ['-l', file])).stdout;
}

/** The harness's `onDatabase`: a client on one database of the cluster, always closed. */
export const onCluster = onDatabase;

export const fingerprintOf = (
  cluster: LocalCluster,
  database: string,
  expected: Fingerprints,
  options: Parameters<typeof fingerprintRestored>[2] = {},
): Promise<Fingerprints> => onCluster(cluster, database, (c) => fingerprintRestored(c, expected, options));
