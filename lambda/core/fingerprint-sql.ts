/**
 * The SQL that turns a table's rows into a fingerprint, shared by the dump (source) and the drill
 * (restored copy) so both sides compute exactly the same thing. What makes it layout-independent:
 *
 * - Rows are rendered as `ROW(col, ...)::text` with the columns in name order (byte order), so a
 *   restore that lays columns out in another attnum order (inheritance, partitions) still agrees.
 * - Text output is pinned with SET LOCAL (time zone, date and interval style, float digits, bytea
 *   output, money locale); the hash sees the same text on any server configured any way.
 * - Each row's text is hashed with SHA-256 after conversion to UTF-8 (an encoding change on
 *   restore is not a content change); `sha256()` is built in since PostgreSQL 11 and, unlike
 *   `md5()`, works on FIPS builds.
 * - Keyed tables aggregate row hashes in primary-key order, key columns that are collatable
 *   compared `COLLATE "C"` (byte order): a libc or ICU version change on the target reorders
 *   text, but must not change the fingerprint of equal data.
 * - A sample is the rows whose key hash (first 4 bytes of SHA-256 of the key text, as an unsigned
 *   integer) is 0 modulo the recorded modulus. The restored side evaluates the same predicate, so
 *   it picks the same rows whatever their physical order; TABLESAMPLE picks pages and would not.
 *
 * Identifiers come from the catalog and are quoted with quoteIdent; the modulus and limits are
 * bind parameters. Nothing from input is spliced into SQL.
 */
import { quoteIdent } from './inventory';

/** Session settings that fix how values print. SET LOCAL: gone when the caller's transaction ends. */
export const OUTPUT_SETTINGS: readonly (readonly [string, string])[] = [
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, YMD'],
  ['IntervalStyle', 'postgres'],
  // Shortest exact float output (the default since 12), set in case the server's default differs.
  ['extra_float_digits', '1'],
  ['bytea_output', 'hex'],
  ['lc_monetary', 'C'],
  // Names print schema-qualified (regclass, regtype columns) and no function is looked up by path.
  ['search_path', ''],
  // As pg_dump does: error out rather than silently hash only the rows a policy lets us see.
  ['row_security', 'off'],
];

export interface ColumnInfo {
  readonly name: string;
  /** attcollation <> 0: ordered `COLLATE "C"` when part of the key. */
  readonly collatable: boolean;
}

export interface HashPlan {
  readonly schema: string;
  readonly name: string;
  /** Every column of the table, in name order (byte order). */
  readonly columns: readonly ColumnInfo[];
  /** Key columns in key order; empty for a table without a primary key (weak, multiset hash). */
  readonly key: readonly ColumnInfo[];
  /** 1 hashes every row. */
  readonly modulus: number;
}

const relation = (schema: string, name: string) => `ONLY ${quoteIdent(schema)}.${quoteIdent(name)} AS t`;
const col = (c: ColumnInfo) => `t.${quoteIdent(c.name)}`;
const digestOf = (cols: readonly ColumnInfo[]) =>
  `sha256(convert_to(ROW(${cols.map(col).join(', ')})::text, 'UTF8'))`;
/** First 4 bytes of a digest as an unsigned integer (bit(32) to int8 does not sign-extend), 0 modulo $1. */
const inSample = (digest: string) =>
  `(('x' || encode(substring(${digest} from 1 for 4), 'hex'))::bit(32)::int8 % $1::int8 = 0)`;

/**
 * One query returning `total`, `hashed` (text) and `sha256` (hex) for a table; the modulus is `$1`
 * when sampling. Only the row hashes (32 bytes each) are aggregated, so memory is bounded by the
 * rows hashed, not by their width.
 */
export function tableHashQuery(plan: HashPlan): { text: string; values: number[] } {
  return { text: tableHashSql(plan), values: plan.modulus > 1 ? [plan.modulus] : [] };
}

function tableHashSql(plan: HashPlan): string {
  const from = relation(plan.schema, plan.name);
  if (plan.key.length > 0) {
    const order = plan.key.map((k) => (k.collatable ? `${col(k)} COLLATE "C"` : col(k))).join(', ');
    const filter = plan.modulus > 1 ? ` FILTER (WHERE ${inSample(digestOf(plan.key))})` : '';
    return (
      `SELECT count(*)::text AS total, count(*)${filter}::text AS hashed, ` +
      `encode(sha256(coalesce(string_agg(${digestOf(plan.columns)}, ''::bytea ORDER BY ${order})${filter}, ''::bytea)), 'hex') AS sha256 ` +
      `FROM ${from}`
    );
  }
  // No key: the row's own hash orders the multiset and, when sampling, chooses the sample.
  const filter = plan.modulus > 1 ? ` FILTER (WHERE ${inSample('d')})` : '';
  return (
    `SELECT count(*)::text AS total, count(*)${filter}::text AS hashed, ` +
    `encode(sha256(coalesce(string_agg(d, ''::bytea ORDER BY d)${filter}, ''::bytea)), 'hex') AS sha256 ` +
    `FROM (SELECT ${digestOf(plan.columns)} AS d FROM ${from}) q`
  );
}

/** Whether a table has more than `$1` rows, reading at most `$1 + 1` of them. */
export const probeQuery = (schema: string, name: string): string =>
  `SELECT count(*)::text AS n FROM (SELECT 1 FROM ${relation(schema, name)} LIMIT $1::int8 + 1) q`;

/**
 * The sampling modulus for a table of about `rows` rows: the sample is about `target` rows.
 * Capped so the 4-byte bucket still spreads (2^32 - 1).
 */
export function chooseModulus(rows: number, target: number): number {
  if (!(rows > target)) return 1;
  return Math.min(4294967295, Math.max(2, Math.ceil(rows / target)));
}

/**
 * Tables, matviews: what fingerprinting needs from the catalog, smallest first. Sizes come from
 * `relpages` (as of the last VACUUM/ANALYZE), not pg_relation_size: that one locks each relation,
 * and a migration's ALTER holding one would stall the whole catalog read (and the backup) instead
 * of only that table's hash, which its own budgeted statement then skips.
 */
export const RELATIONS_QUERY = (inScope: string): string => `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
         (c.relpages::bigint * current_setting('block_size')::bigint)::text AS bytes, c.reltuples::bigint::text AS estimate,
         c.relispopulated AS populated,
         coalesce((SELECT json_agg(json_build_object('name', a.attname::text, 'collatable', a.attcollation <> 0)
                                   ORDER BY a.attname COLLATE "C")
                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                  '[]'::json) AS columns,
         (SELECT json_agg(a.attname::text ORDER BY k.ord)
            FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
           WHERE i.indrelid = c.oid AND i.indisprimary AND k.ord <= i.indnkeyatts) AS key
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND ${inScope}
  ORDER BY c.relpages, n.nspname COLLATE "C", c.relname COLLATE "C"`;

export interface RelationRow {
  schema: string;
  name: string;
  kind: 'r' | 'm';
  bytes: string;
  estimate: string;
  populated: boolean;
  columns: ColumnInfo[];
  key: string[] | null;
}
