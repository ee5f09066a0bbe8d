/**
 * Writes a structurally valid backup (random "archive" bytes starting with PGDMP, and a manifest
 * that matches them) straight into a bucket, for tests about listing, freshness and sizes that
 * do not need a real pg_dump run.
 */
// @ts-nocheck

import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ManifestSchema, type Manifest } from '../../lambda/core/manifest';
import { placeBackup, type Tier } from '../../lambda/core/tiers';

export interface FakeBackupOptions {
  readonly databaseId: string;
  readonly at: Date;
  readonly bytes: number;
  /** @default 'daily' */
  readonly tier?: Tier;
}

export async function putFakeBackup(s3: S3Client, bucket: string, o: FakeBackupOptions): Promise<Manifest> {
  const p = placeBackup({ databaseId: o.databaseId, at: o.at, occupied: new Set(), tier: o.tier ?? 'daily' });
  const body = Buffer.concat([Buffer.from('PGDMP'), randomBytes(Math.max(0, o.bytes - 5))]);
  const manifest = ManifestSchema.parse({
    formatVersion: 1,
    backupId: p.backupId,
    databaseId: o.databaseId,
    tier: p.tier,
    period: p.period,
    startedAt: o.at.toISOString(),
    completedAt: o.at.toISOString(),
    durationSeconds: 1,
    retainUntil: p.retainUntil.toISOString(),
    source: { database: 'app', serverVersion: '15.0', serverVersionNum: 150000, serverMajor: 15 },
    pgDump: {
      version: 'pg_dump (PostgreSQL) 15.0',
      major: 15,
      format: 'custom',
      options: ['--format=custom'],
    },
    object: { key: p.keys.dump, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') },
    globals: { present: false, reason: 'fake backup' },
    rowCounts: { exact: true, budgetSeconds: 300 },
    tables: [],
    catalog: {
      schemas: 0,
      tables: 0,
      views: 0,
      materializedViews: 0,
      functions: 0,
      triggers: 0,
      policies: 0,
      indexes: 0,
      sequences: 0,
      types: 0,
    },
    schemas: { include: [], exclude: [] },
    encryption: {},
  });
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: p.keys.dump, Body: body }));
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: p.keys.manifest, Body: JSON.stringify(manifest) }),
  );
  return manifest;
}
