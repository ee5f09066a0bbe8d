/**
 * The backup manifest (formatVersion 1): written last, it is the commit marker of a backup. A
 * backup without a readable manifest that agrees with its object does not exist as far as
 * listing, freshness and drills are concerned.
 *
 * Fields added after the first release are optional, so every manifest ever written still reads:
 * a reader that finds one missing falls back to what the older manifest meant (see rowCountOf).
 */
import { z } from 'zod';
import { CompressionSchema } from './compression-settings';
import { FingerprintsSchema } from './fingerprint-schema';
import { DatabasePresetSchema } from './presets';
import { backupKeys, type BackupKeys } from './tiers';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoDate = z.iso.datetime({ offset: true });

export const TableEntrySchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /**
   * Exact `count(*)` in the dump's snapshot, or the planner estimate when the budget ran out (0
   * when the table was never analysed: `count` says `unknown`).
   */
  rows: z.number().int().nonnegative(),
  exact: z.boolean(),
  /** How `rows` was obtained. @default - `exact` when `exact`, else `estimated` (older manifests) */
  count: z.enum(['exact', 'estimated', 'unknown']).optional(),
  /**
   * The dumping role could not turn row-level security off for this table, so the count saw only
   * the rows its policies allow: a lower bound, not the table's size.
   */
  rowsFiltered: z.literal(true).optional(),
  /** Owning extension of an extension configuration table: its rows are the user's rows only. */
  extension: z.string().optional(),
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

export const ExtensionEntrySchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  schema: z.string(),
});

export const LargeObjectsSchema = z.strictObject({
  count: z.number().int().nonnegative(),
  /**
   * What `sha256` covers: `content` the lines `<oid> <bytes> <sha256 of data>`, `size` the lines
   * `<oid> <bytes>` (too many or too large to read within budget), `count` nothing (unreadable).
   */
  method: z.enum(['content', 'size', 'count']),
  /** Total bytes, when sizes were read. */
  bytes: z.number().int().nonnegative().optional(),
  sha256: sha256Hex.optional(),
});
export type LargeObjects = z.infer<typeof LargeObjectsSchema>;

const StoredObjectSchema = z.strictObject({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /**
   * The S3 version the dump wrote (PutObject/CompleteMultipartUpload's VersionId); readers fetch
   * exactly this version (s3.ts, atVersion). @default - the current version (older manifests,
   * unversioned buckets)
   */
  versionId: z.string().min(1).optional(),
});
export type StoredObject = z.infer<typeof StoredObjectSchema>;

/**
 * One file of a directory-format dump, stored as its own object. The name is pg_dump's own
 * (`toc.dat`, `3071.dat.gz`, `blobs.toc`): one path segment, so a restore that writes it into its
 * work dir can never be sent elsewhere by a manifest.
 */
export const DirectoryFileSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be one plain file name'),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex,
  /** The S3 version the dump wrote, as for StoredObject. */
  versionId: z.string().min(1).optional(),
});
export type DirectoryFile = z.infer<typeof DirectoryFileSchema>;

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
    /**
     * The database's own `search_path` setting (`ALTER DATABASE ... SET search_path`) at dump time.
     * pg_restore applies it only with `--create`, and refreshes materialized views with an empty
     * search_path; restore-matviews.ts refreshes them with this one. Absent: none was set.
     */
    searchPath: z.string().optional(),
    /** Dumped from this read replica (`dumpFrom`), as it was at the check. */
    standby: z
      .strictObject({
        host: z.string(),
        port: z.number().int(),
        hotStandbyFeedback: z.boolean(),
        maxStandbyStreamingDelayMs: z.number().int(),
        replayLagSeconds: z.number().nullable(),
      })
      .optional(),
  }),
  pgDump: z.strictObject({
    version: z.string(),
    major: z.number().int(),
    format: z.enum(['custom', 'directory']),
    /** pg_dump options without connection parameters (those never leave the process). */
    options: z.array(z.string()),
    /** pg_dump's warnings (e.g. "subscriptions not dumped"): what the archive lacks and why. */
    warnings: z.array(z.string()).optional(),
  }),
  /** The archive; for the directory layout, its `toc.dat` (also listed in `files`). */
  object: StoredObjectSchema,
  /**
   * `directory`: `pg_dump -Fd -j N`, every file its own object under `<backupId>.dir/` (`files`).
   * @default - one custom-format archive, `object`
   */
  layout: z.literal('directory').optional(),
  /** Every file of a directory-layout dump, each with its own size and SHA-256. */
  files: z.array(DirectoryFileSchema).optional(),
  /**
   * How the object is compressed (compression-settings.ts). @default - `{ kind: 'pg-gzip' }`:
   * manifests written before the field existed describe pg_dump's own gzip (compressionOf)
   */
  compression: CompressionSchema.optional(),
  globals: z.union([
    StoredObjectSchema.extend({ present: z.literal(true) }),
    z.strictObject({ present: z.literal(false), reason: z.string() }),
  ]),
  rowCounts: z.strictObject({
    /** true when every table was counted exactly inside the snapshot. */
    exact: z.boolean(),
    budgetSeconds: z.number().nonnegative(),
    /** Cap on one table's count; a table over it gets its estimate. */
    perTableSeconds: z.number().nonnegative().optional(),
  }),
  tables: z.array(TableEntrySchema),
  catalog: CatalogCountsSchema,
  schemas: z.strictObject({ include: z.array(z.string()), exclude: z.array(z.string()) }),
  encryption: z.strictObject({ kmsKeyId: z.string().optional() }),
  /** Installed extensions, with versions and schemas: what a restore target must offer. */
  extensions: z.array(ExtensionEntrySchema).optional(),
  /** Large objects in the dump's snapshot (they are in the archive whatever the schema scope). */
  largeObjects: LargeObjectsSchema.optional(),
  /** Content fingerprints taken in the dump's snapshot (fingerprint.ts); the drill recomputes them. */
  fingerprints: FingerprintsSchema.optional(),
  /** Why an on-demand backup was taken (`restorable backup --reason`), for list and reports. */
  reason: z.string().max(500).optional(),
  /** The database's preset (presets.ts): which schemas were left out, and how a restore treats the platform's. */
  preset: DatabasePresetSchema.optional(),
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

/** How a table's manifest count was obtained (older manifests only have `exact`). */
export const rowCountOf = (t: Pick<TableEntry, 'exact' | 'count'>): 'exact' | 'estimated' | 'unknown' =>
  t.count ?? (t.exact ? 'exact' : 'estimated');

/** A label part is quoted when, unquoted, it could be confused with a separator or a quote. */
const labelPart = (part: string): string =>
  /[."]/.test(part) || part === '' ? `"${part.replace(/"/g, '""')}"` : part;

/**
 * Display-only table name, never used to build SQL: `schema.name` as before for ordinary names,
 * with a part double-quoted (quotes doubled) when it contains a dot or a quote, so `"a.b".c` and
 * `a."b.c"` stay apart. parseTableLabel reads both forms.
 */
export const tableLabel = (t: { schema: string; name: string }): string =>
  `${labelPart(t.schema)}.${labelPart(t.name)}`;

/**
 * The schema and name of a label from tableLabel. An unquoted label with more than one dot (as
 * written before quoting existed) is split at its first dot, as those readers did.
 */
export function parseTableLabel(label: string): { schema: string; name: string } {
  const parts: string[] = [];
  let i = 0;
  while (i <= label.length && parts.length < 2) {
    if (label[i] === '"') {
      let out = '';
      let j = i + 1;
      for (;;) {
        if (j >= label.length) throw new Error(`table label ${label} has an unterminated quote`);
        if (label[j] === '"') {
          if (label[j + 1] === '"') {
            out += '"';
            j += 2;
            continue;
          }
          break;
        }
        out += label[j++];
      }
      parts.push(out);
      i = j + 1;
      if (parts.length === 1) {
        if (label[i] !== '.') throw new Error(`table label ${label} is not schema.name`);
        i++;
      } else if (i !== label.length) throw new Error(`table label ${label} has text after its name`);
    } else if (parts.length === 0) {
      const dot = label.indexOf('.', i);
      if (dot < 0) throw new Error(`table label ${label} is not schema.name`);
      parts.push(label.slice(i, dot));
      i = dot + 1;
    } else {
      parts.push(label.slice(i));
      i = label.length + 1;
    }
  }
  if (parts.length !== 2) throw new Error(`table label ${label} is not schema.name`);
  return { schema: parts[0], name: parts[1] };
}

/** The keys of the backup a manifest describes (its dump, roles file and the manifest itself). */
export const keysOfManifest = (
  m: Pick<Manifest, 'tier' | 'databaseId' | 'period' | 'backupId'>,
): BackupKeys => backupKeys(m.tier, m.databaseId, m.period, m.backupId);

/** The file every directory-format dump has, its table of contents: a directory manifest's `object`. */
export const DIRECTORY_TOC = 'toc.dat';

/** Where a directory-layout backup's files live: `<tier>/<db>/<period>/<backupId>.dir/`. */
export const directoryPrefixOf = (m: Pick<Manifest, 'tier' | 'databaseId' | 'period' | 'backupId'>): string =>
  `${keysOfManifest(m).prefix}${m.backupId}.dir/`;
