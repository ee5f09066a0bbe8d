/**
 * The `fingerprints` section of the manifest: what the data looked like in the dump's snapshot,
 * so a drill can prove the restored copy holds the same content, not only the same counts.
 *
 * Zod only, no other imports: the manifest schema, the dump and the drill all import this one
 * contract (fingerprint.ts computes it, fingerprint-compare.ts reads it).
 */
import { z } from 'zod';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const count = z.number().int().nonnegative();
/** int8 values travel as decimal strings: a sequence can be beyond Number.MAX_SAFE_INTEGER. */
const int8 = z.string().regex(/^-?[0-9]{1,19}$/, 'must be a decimal int8');

/**
 * How rows become a hash. Bumped whenever the SQL in fingerprint-sql.ts changes what it hashes,
 * so an old manifest is never compared with a new computation.
 */
export const FINGERPRINT_ALGORITHM = 'rowtext-sha256-v1';

export const HashedTableSchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /**
   * `strong`: rows hashed one by one in primary-key order (key text, byte order). `weak`: the
   * table has no primary key; rows are hashed as an unordered multiset and a sample is chosen by
   * the row's own content, so a changed row can move in or out of the sample.
   */
  strength: z.enum(['strong', 'weak']),
  /** Primary-key columns in key order; empty for `weak`. */
  key: z.array(z.string()),
  /** `full`: every row; `sample`: rows whose key (or row) hash is 0 modulo `modulus`. */
  method: z.enum(['full', 'sample']),
  /** 1 for `full`. The restored side selects with the same modulus, so it picks the same rows. */
  modulus: z.number().int().min(1).max(4294967295),
  /** Rows that went into the hash. */
  rowsHashed: count,
  /** Every row of the table (the scan sees them all, sampled or not). */
  rowsTotal: count,
  sha256: sha256Hex,
});
export type HashedTable = z.infer<typeof HashedTableSchema>;

export const SkippedTableSchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /** `budget`: the time budget ran out first; `error`: the query failed (detail says why). */
  skipped: z.enum(['budget', 'error']),
  detail: z.string().optional(),
});
export type SkippedTable = z.infer<typeof SkippedTableSchema>;

export const TableFingerprintSchema = z.union([HashedTableSchema, SkippedTableSchema]);
export type TableFingerprint = z.infer<typeof TableFingerprintSchema>;

export const SequenceFingerprintSchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  lastValue: int8,
  isCalled: z.boolean(),
  increment: int8,
  cycle: z.boolean(),
});
export type SequenceFingerprint = z.infer<typeof SequenceFingerprintSchema>;

export const MatviewFingerprintSchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  populated: z.boolean(),
  /** count(*) when populated and counted; null when unpopulated or skipped. */
  rows: count.nullable(),
  skipped: z.enum(['budget', 'error']).optional(),
});
export type MatviewFingerprint = z.infer<typeof MatviewFingerprintSchema>;

export const LargeObjectsFingerprintSchema = z.strictObject({
  count,
  /** Hash over (oid, content hash) in oid order; null when not computed (see `skipped`). */
  sha256: sha256Hex.nullable(),
  /** `privilege`: the role may not read every object (lo_get refused); only the count is recorded. */
  skipped: z.enum(['budget', 'error', 'privilege']).optional(),
});
export type LargeObjectsFingerprint = z.infer<typeof LargeObjectsFingerprintSchema>;

export const ExtensionFingerprintSchema = z.strictObject({ name: z.string(), version: z.string() });
export type ExtensionFingerprint = z.infer<typeof ExtensionFingerprintSchema>;

export const CollationFingerprintSchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /** `c` libc, `i` ICU, `b` builtin (17+), `d` database default. */
  provider: z.string(),
  collate: z.string().nullable(),
  ctype: z.string().nullable(),
  /** ICU or builtin locale (colliculocale / colllocale), else null. */
  locale: z.string().nullable(),
  deterministic: z.boolean(),
});
export type CollationFingerprint = z.infer<typeof CollationFingerprintSchema>;

export const DatabaseLocaleSchema = z.strictObject({
  encoding: z.string(),
  provider: z.string(),
  collate: z.string(),
  ctype: z.string(),
  locale: z.string().nullable(),
});
export type DatabaseLocale = z.infer<typeof DatabaseLocaleSchema>;

export const FingerprintsSchema = z.strictObject({
  algorithm: z.literal(FINGERPRINT_ALGORITHM),
  /** Tables with at most this many rows are hashed in full. */
  fullRowLimit: count,
  /** Larger tables are sampled to about this many rows. */
  sampleTargetRows: z.number().int().positive(),
  budgetSeconds: z.number().nonnegative().nullable(),
  /** false when anything was skipped for the budget or an error. */
  complete: z.boolean(),
  seconds: z.number().nonnegative(),
  tables: z.array(TableFingerprintSchema),
  sequences: z.array(SequenceFingerprintSchema),
  materializedViews: z.array(MatviewFingerprintSchema),
  largeObjects: LargeObjectsFingerprintSchema,
  extensions: z.array(ExtensionFingerprintSchema),
  locale: DatabaseLocaleSchema,
  /** Non-default collations defined in scope or used by columns, indexes and domains in scope. */
  collations: z.array(CollationFingerprintSchema),
});
export type Fingerprints = z.infer<typeof FingerprintsSchema>;

export const isSkippedTable = (t: TableFingerprint): t is SkippedTable => 'skipped' in t;
