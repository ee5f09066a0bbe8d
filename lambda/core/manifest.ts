/**
 * The backup manifest (formatVersion 1): written last, it is the commit marker of a backup. A
 * backup without a readable manifest that agrees with its object does not exist as far as
 * listing, freshness and drills are concerned.
 */
import { z } from 'zod';
import { backupKeys, type BackupKeys } from './tiers';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoDate = z.iso.datetime({ offset: true });

export const TableEntrySchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /** Exact `count(*)` in the dump's snapshot, or the planner estimate when the budget ran out. */
  rows: z.number().int().nonnegative(),
  exact: z.boolean(),
  rowSecurity: z.boolean(),
  forceRowSecurity: z.boolean(),
  /** `r` ordinary, `p` partitioned parent (its rows live in the partitions). */
  kind: z.enum(['r', 'p']),
});
export type TableEntry = z.infer<typeof TableEntrySchema>;

export const CatalogCountsSchema = z.strictObject({
  schemas: z.number().int().nonnegative(),
  tables: z.number().int().nonnegative(),
  views: z.number().int().nonnegative(),
  materializedViews: z.number().int().nonnegative(),
  functions: z.number().int().nonnegative(),
  triggers: z.number().int().nonnegative(),
  policies: z.number().int().nonnegative(),
  indexes: z.number().int().nonnegative(),
  sequences: z.number().int().nonnegative(),
  types: z.number().int().nonnegative(),
});
export type CatalogCounts = z.infer<typeof CatalogCountsSchema>;

const StoredObjectSchema = z.strictObject({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
});
export type StoredObject = z.infer<typeof StoredObjectSchema>;

export const ManifestSchema = z.strictObject({
  formatVersion: z.literal(1),
  backupId: z.string(),
  databaseId: z.string(),
  tier: z.enum(['yearly', 'monthly', 'weekly', 'daily', 'adhoc']),
  period: z.string(),
  startedAt: isoDate,
  completedAt: isoDate,
  durationSeconds: z.number().nonnegative(),
  retainUntil: isoDate,
  source: z.strictObject({
    /** The database name dumped (not a secret; host and user are deliberately not recorded). */
    database: z.string(),
    serverVersion: z.string(),
    serverVersionNum: z.number().int(),
    serverMajor: z.number().int(),
  }),
  pgDump: z.strictObject({
    version: z.string(),
    major: z.number().int(),
    format: z.literal('custom'),
    /** pg_dump options without connection parameters (those never leave the process). */
    options: z.array(z.string()),
  }),
  object: StoredObjectSchema,
  globals: z.union([
    StoredObjectSchema.extend({ present: z.literal(true) }),
    z.strictObject({ present: z.literal(false), reason: z.string() }),
  ]),
  rowCounts: z.strictObject({
    /** true when every table was counted exactly inside the snapshot. */
    exact: z.boolean(),
    budgetSeconds: z.number().nonnegative(),
  }),
  tables: z.array(TableEntrySchema),
  catalog: CatalogCountsSchema,
  schemas: z.strictObject({ include: z.array(z.string()), exclude: z.array(z.string()) }),
  encryption: z.strictObject({ kmsKeyId: z.string().optional() }),
  /** Why an on-demand backup was taken (`restorable backup --reason`), for list and reports. */
  reason: z.string().max(500).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** Parses and validates a manifest body; throws with the offending paths. */
export function parseManifest(body: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    throw new Error(`manifest is not valid JSON: ${(e as Error).message}`);
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`manifest is invalid: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Fully qualified, display-only table name (`schema.name`); never used to build SQL. */
export const tableLabel = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`;

/** The keys of the backup a manifest describes (its dump, roles file and the manifest itself). */
export const keysOfManifest = (
  m: Pick<Manifest, 'tier' | 'databaseId' | 'period' | 'backupId'>,
): BackupKeys => backupKeys(m.tier, m.databaseId, m.period, m.backupId);
