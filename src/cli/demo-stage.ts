/**
 * The local stage both demos run on (`restorable demo`, demo.ts, and `demo --fleet <n>`,
 * demo-fleet.ts): an S3-compatible server on loopback with a primary and a replica bucket, one
 * throwaway PostgreSQL source cluster, timestamped progress lines, and cleanup of all of it at the
 * end, also on Ctrl-C. The demos differ only in what they seed and run on it.
 */
import * as fs from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { findPgBinaries } from '../../lambda/core/pg-bin';
import { makeS3Client } from '../../lambda/core/s3';
import { startLocalS3, type LocalS3Server } from '../local/s3-server';
import { DEMO_SEED, seedDatabase, TEST_SEED } from '../local/seed';
import { onInterrupt } from './cleanup';
import { formatSeconds, type Io } from './output';

/** The bucket backups go to, and its local cross-region replica (replicate.ts copies between them). */
export const PRIMARY = 'restorable-demo-primary';
export const REPLICA = 'restorable-demo-replica';

/** Operator checks the demo drill runs on the restored copy, as a config would declare them. */
export const DEMO_CHECKS = [
  {
    name: 'every order item points at an existing order',
    sql: 'SELECT count(*) FROM shop.order_items i LEFT JOIN shop.orders o ON o.id = i.order_id WHERE o.id IS NULL',
    expect: { equals: 0 },
  },
  {
    name: 'there are paid orders',
    sql: "SELECT count(*) FROM shop.orders WHERE status = 'paid'",
    expect: { min: 1 },
  },
  { name: 'four order states', sql: 'SELECT DISTINCT status FROM shop.orders', expect: { rows: 4 } },
];

/** Fails with how to install them when the PostgreSQL server binaries the demos run are missing. */
export function requirePgBinaries(): void {
  if (findPgBinaries('initdb').length === 0 || findPgBinaries('pg_dump').length === 0) {
    throw new Error(
      'the demo needs the PostgreSQL server binaries (initdb, pg_ctl, pg_dump, pg_restore): ' +
        'apt-get install postgresql (Debian/Ubuntu) or brew install postgresql, or set RESTORABLE_PG_BIN_DIRS',
    );
  }
}

export interface DemoStage {
  readonly s3server: LocalS3Server;
  /** A client for the local S3 server (its endpoint and credentials are in process.env). */
  readonly s3: S3Client;
  readonly source: LocalCluster;
  /** Prints one progress line, stamped with the seconds since the demo started. */
  readonly step: (text: string) => void;
}

/**
 * Starts the stage, runs `body` on it and removes everything it started, whatever `body` does.
 * The PostgreSQL binaries are checked first, so a machine without them fails before anything starts.
 */
export async function withDemoStage<T>(io: Io, body: (stage: DemoStage) => Promise<T>): Promise<T> {
  requirePgBinaries();
  const t0 = Date.now();
  const step = (text: string) => io.out(`[${formatSeconds((Date.now() - t0) / 1000).padStart(6)}] ${text}`);
  let s3server: LocalS3Server | undefined;
  let source: LocalCluster | undefined;
  // A second Ctrl-C exits at once: the clusters stop themselves (local-cluster.ts), the S3 server's
  // directory is removed here.
  const forget = onInterrupt(() => {
    if (s3server) fs.rmSync(s3server.directory, { recursive: true, force: true });
  });
  try {
    s3server = await startLocalS3({ buckets: [PRIMARY, REPLICA] });
    Object.assign(process.env, s3server.env);
    const s3 = makeS3Client();
    step(`local S3 server on ${s3server.endpoint} (buckets ${PRIMARY}, ${REPLICA})`);

    source = await startLocalCluster();
    step(`source PostgreSQL ${source.major} on 127.0.0.1:${source.port}`);
    return await body({ s3server, s3, source, step });
  } finally {
    await source?.stop();
    await s3server?.stop();
    forget();
    step('cleaned up: clusters stopped and removed, S3 server stopped');
  }
}

/**
 * Creates database `dbname` in the cluster and seeds it with the shop schema (the small seed with
 * `small`). `inspect`, when given, runs on the seeded database's own connection before it closes.
 */
export async function seedDemoDatabase(
  cluster: LocalCluster,
  dbname: string,
  small: boolean | undefined,
): Promise<void>;
export async function seedDemoDatabase<T>(
  cluster: LocalCluster,
  dbname: string,
  small: boolean | undefined,
  inspect: (app: Client) => Promise<T>,
): Promise<T>;
export async function seedDemoDatabase<T>(
  cluster: LocalCluster,
  dbname: string,
  small: boolean | undefined,
  inspect?: (app: Client) => Promise<T>,
): Promise<T | undefined> {
  const admin = new Client(cluster.connection('postgres'));
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbname}`);
  await admin.end();
  const app = new Client(cluster.connection(dbname));
  await app.connect();
  await seedDatabase(app, small ? TEST_SEED : DEMO_SEED);
  const inspected = await inspect?.(app);
  await app.end();
  return inspected;
}
