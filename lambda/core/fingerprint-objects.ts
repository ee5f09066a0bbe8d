/**
 * Fingerprints of what is not a table: sequence positions, materialized views (populated, row
 * count), large objects (count and content hash), extensions with versions, the database's locale
 * and the collations its objects use. Read the same way on the source and on the restored copy.
 */
import type { ClientBase } from 'pg';
import type { Budget } from './fingerprint-budget';
import type {
  CollationFingerprint,
  DatabaseLocale,
  ExtensionFingerprint,
  LargeObjectsFingerprint,
  MatviewFingerprint,
  SequenceFingerprint,
} from './fingerprint-schema';
import { IN_SCOPE, quoteIdent, scopeParams, type SchemaScope } from './inventory';

/**
 * Sequence positions. Sequences are not transactional: this reads the current value, not the
 * snapshot's; pg_dump reads them later still, so the archive holds a position at or past this one
 * (fingerprint-compare.ts accepts a restored sequence that advanced, never one that went back).
 */
export async function readSequences(client: ClientBase, scope: SchemaScope): Promise<SequenceFingerprint[]> {
  const { rows: seqs } = await client.query<{
    schema: string;
    name: string;
    increment: string;
    cycle: boolean;
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, s.seqincrement::text AS increment, s.seqcycle AS cycle
     FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${IN_SCOPE}
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
    scopeParams(scope),
  );
  const out: SequenceFingerprint[] = [];
  // One round trip per 200 sequences rather than one per sequence.
  for (let i = 0; i < seqs.length; i += 200) {
    const chunk = seqs.slice(i, i + 200);
    const sql = chunk
      .map(
        (s, j) =>
          `SELECT ${j} AS i, last_value::text AS last, is_called FROM ${quoteIdent(s.schema)}.${quoteIdent(s.name)}`,
      )
      .join(' UNION ALL ');
    const { rows } = await client.query<{ i: number; last: string; is_called: boolean }>(sql);
    for (const r of rows) {
      const s = chunk[r.i];
      out.push({
        schema: s.schema,
        name: s.name,
        lastValue: r.last,
        isCalled: r.is_called,
        increment: s.increment,
        cycle: s.cycle,
      });
    }
  }
  return out.sort((a, b) => (a.schema === b.schema ? cmp(a.name, b.name) : cmp(a.schema, b.schema)));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Populated or not, and the row count (under the budget) when populated. */
export async function matviewFingerprint(
  client: ClientBase,
  budget: Budget,
  m: { schema: string; name: string; populated: boolean },
): Promise<MatviewFingerprint> {
  const base = { schema: m.schema, name: m.name, populated: m.populated };
  // Selecting from an unpopulated matview is an error; its (absent) rows are not a count.
  if (!m.populated) return { ...base, rows: null };
  const counted = await budget.run(
    async () =>
      (
        await client.query<{ n: string }>(
          `SELECT count(*)::text AS n FROM ${quoteIdent(m.schema)}.${quoteIdent(m.name)}`,
        )
      ).rows[0].n,
  );
  if (counted.ok) return { ...base, rows: Number(counted.value) };
  return { ...base, rows: null, skipped: counted.skipped === 'budget' ? 'budget' : 'error' };
}

/**
 * Large objects: their count from `pg_largeobject_metadata` (readable by anyone) and a hash over
 * (oid, SHA-256 of content) in oid order, read with `lo_get`, which needs SELECT on each object
 * (an RDS master user has it for objects it owns). pg_dump keeps oids, so they are comparable.
 * lo_get reads one object whole into memory: fine for the usual sizes, and the budget bounds it.
 */
export async function largeObjectsFingerprint(
  client: ClientBase,
  budget: Budget,
): Promise<LargeObjectsFingerprint> {
  const { rows } = await client.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM pg_catalog.pg_largeobject_metadata',
  );
  const count = Number(rows[0].n);
  const hashed = await budget.run(
    async () =>
      (
        await client.query<{ h: string }>(
          `SELECT encode(sha256(coalesce(string_agg(int8send(oid::int8) || sha256(lo_get(oid)), ''::bytea ORDER BY oid),
                  ''::bytea)), 'hex') AS h FROM pg_catalog.pg_largeobject_metadata`,
        )
      ).rows[0].h,
  );
  if (hashed.ok) return { count, sha256: hashed.value };
  return { count, sha256: null, skipped: hashed.skipped };
}

/**
 * Extensions and versions. A dump limited with `--schema` (include) holds no extensions (pg_dump
 * leaves them out), so none are expected back then.
 */
export async function readExtensions(
  client: ClientBase,
  scope: SchemaScope,
): Promise<ExtensionFingerprint[]> {
  if ((scope.include ?? []).length > 0) return [];
  const { rows } = await client.query<ExtensionFingerprint>(
    `SELECT extname::text AS name, extversion AS version FROM pg_extension ORDER BY extname COLLATE "C"`,
  );
  return rows;
}

/** Encoding and default locale of the current database (column names differ across majors). */
export async function readLocale(client: ClientBase): Promise<DatabaseLocale> {
  const { rows } = await client.query<{ encoding: string; j: Record<string, unknown> }>(
    `SELECT pg_encoding_to_char(d.encoding) AS encoding, to_jsonb(d) - 'datacl' AS j
     FROM pg_database d WHERE d.datname = current_database()`,
  );
  const j = rows[0].j;
  return {
    encoding: rows[0].encoding,
    // datlocprovider arrived in 15; before it every database was libc.
    provider: typeof j.datlocprovider === 'string' ? j.datlocprovider : 'c',
    collate: String(j.datcollate),
    ctype: String(j.datctype),
    locale: str(j.datlocale) ?? str(j.daticulocale),
  };
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/**
 * Collations other than default, C and POSIX that objects in scope use (columns, indexes,
 * domains) or that are defined in scope. A restore into a server that lacks one fails to create
 * it, or quietly sorts differently when one of the same name means something else.
 */
export async function readCollations(
  client: ClientBase,
  scope: SchemaScope,
): Promise<CollationFingerprint[]> {
  const { rows } = await client.query<{ schema: string; name: string; j: Record<string, unknown> }>(
    `WITH used AS (
       SELECT a.attcollation AS coll FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attcollation <> 0 AND ${IN_SCOPE}
       UNION SELECT unnest(i.indcollation::oid[]) FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ${IN_SCOPE}
       UNION SELECT t.typcollation FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typcollation <> 0 AND ${IN_SCOPE}
       UNION SELECT co.oid FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
        WHERE ${IN_SCOPE})
     SELECT n.nspname AS schema, co.collname::text AS name, to_jsonb(co) AS j
     FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
     WHERE co.oid IN (SELECT coll FROM used)
       AND NOT (n.nspname = 'pg_catalog' AND co.collname IN ('default', 'C', 'POSIX', 'ucs_basic'))
     ORDER BY n.nspname COLLATE "C", co.collname COLLATE "C"`,
    scopeParams(scope),
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    provider: String(r.j.collprovider),
    collate: str(r.j.collcollate),
    ctype: str(r.j.collctype),
    locale: str(r.j.colllocale) ?? str(r.j.colliculocale),
    deterministic: r.j.collisdeterministic !== false,
  }));
}
