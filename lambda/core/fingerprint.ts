/**
 * Content fingerprints: what the data of a database looks like, taken in the dump's snapshot and
 * recorded in the manifest, then recomputed on the restored copy by the drill the same way
 * (fingerprint-compare.ts compares them). Equal counts do not prove equal data; these do, up to
 * the sample for large tables.
 *
 * Work runs smallest relation first within a time budget; what the budget did not reach is
 * recorded as skipped, never as hashed. Per table: a SHA-256 over its rows in primary-key order,
 * all rows when the table is small, otherwise a sample chosen by a hash of the key
 * (fingerprint-sql.ts says why each choice keeps the hash independent of physical layout).
 */
import type { ClientBase } from 'pg';
import { Budget } from './fingerprint-budget';
import {
  largeObjectsFingerprint,
  matviewFingerprint,
  readCollations,
  readExtensions,
  readLocale,
  readSequences,
} from './fingerprint-objects';
import {
  FINGERPRINT_ALGORITHM,
  isSkippedTable,
  type Fingerprints,
  type LargeObjectsFingerprint,
  type MatviewFingerprint,
  type TableFingerprint,
} from './fingerprint-schema';
import {
  chooseModulus,
  OUTPUT_SETTINGS,
  probeQuery,
  RELATIONS_QUERY,
  tableHashQuery,
  type ColumnInfo,
  type HashPlan,
  type RelationRow,
} from './fingerprint-sql';
import { IN_SCOPE, scopeParams, type SchemaScope } from './inventory';

/** Tables up to this many rows are hashed whole. */
export const DEFAULT_FULL_ROW_LIMIT = 100_000;
/** Larger tables are sampled down to about this many rows. */
export const DEFAULT_SAMPLE_TARGET_ROWS = 20_000;

export interface FingerprintOptions {
  /** Schemas fingerprinted (the dump's scope). @default - every non-system schema */
  readonly scope?: SchemaScope;
  /** Time for the budgeted work (tables, matview counts, large objects). @default - no limit */
  readonly budgetMs?: number;
  /** @default DEFAULT_FULL_ROW_LIMIT */
  readonly fullRowLimit?: number;
  /** @default DEFAULT_SAMPLE_TARGET_ROWS */
  readonly sampleTargetRows?: number;
  /**
   * Exact row counts by `schema.name` (the dump's countRows, same snapshot), used to size samples.
   * @default - the planner estimate, or the relation size when the table was never analysed
   */
  readonly rowCounts?: ReadonlyMap<string, number>;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * Fingerprints of the database `client` is connected to. The client must already be inside the
 * REPEATABLE READ (or SERIALIZABLE) transaction whose snapshot the dump uses; settings changed
 * here are undone before returning, and the transaction is left open for the caller.
 * Throws only when the catalog cannot be read or the connection is lost.
 */
export async function computeFingerprints(
  client: ClientBase,
  options: FingerprintOptions = {},
): Promise<Fingerprints> {
  return withPinnedOutput(client, () =>
    compute(client, options, new Budget(client, options.budgetMs, options.now, 'savepoint'), undefined),
  );
}

/**
 * Recomputes `expected` on a restored database, with the same method, sample modulus and key per
 * table. Each table is hashed in a short transaction of its own (the copy has no writers; see
 * fingerprint-budget.ts on locks), with the same pinned output settings, which are put back as
 * they were before returning. Tables skipped at dump time are skipped again; tables the budget
 * does not reach here are recorded as skipped.
 */
export async function fingerprintRestored(
  client: ClientBase,
  expected: Fingerprints,
  options: Pick<FingerprintOptions, 'budgetMs' | 'now' | 'scope'> = {},
): Promise<Fingerprints> {
  const saved: [string, string][] = [];
  for (const [name] of OUTPUT_SETTINGS) {
    const { rows } = await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name]);
    saved.push([name, rows[0].v]);
  }
  try {
    for (const [name, value] of OUTPUT_SETTINGS) {
      await client.query('SELECT pg_catalog.set_config($1, $2, false)', [name, value]);
    }
    const budget = new Budget(client, options.budgetMs, options.now, 'transaction');
    return await compute(
      client,
      { ...options, fullRowLimit: expected.fullRowLimit, sampleTargetRows: expected.sampleTargetRows },
      budget,
      expected,
    );
  } finally {
    for (const [name, value] of saved) {
      await client.query('SELECT pg_catalog.set_config($1, $2, false)', [name, value]).catch(() => undefined);
    }
  }
}

async function withPinnedOutput<T>(client: ClientBase, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ iso: string }>(
    `SELECT current_setting('transaction_isolation') AS iso`,
  );
  // Outside a transaction block SAVEPOINT fails anyway; a READ COMMITTED one would hash each
  // table at a different moment, not in the dump's snapshot.
  if (rows[0].iso !== 'repeatable read' && rows[0].iso !== 'serializable') {
    throw new Error(
      `fingerprints need the dump's snapshot: run inside a REPEATABLE READ transaction (got ${rows[0].iso})`,
    );
  }
  await client.query('SAVEPOINT restorable_fingerprints');
  try {
    for (const [name, value] of OUTPUT_SETTINGS) {
      await client.query('SELECT pg_catalog.set_config($1, $2, true)', [name, value]);
    }
    return await fn();
  } finally {
    // Undo the SET LOCALs so the caller's transaction continues as it was.
    await client.query('ROLLBACK TO SAVEPOINT restorable_fingerprints').catch(() => undefined);
    await client.query('RELEASE SAVEPOINT restorable_fingerprints').catch(() => undefined);
  }
}

const label = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
const relKey = (t: { schema: string; name: string }) => `${t.schema}\u0000${t.name}`;

async function compute(
  client: ClientBase,
  options: FingerprintOptions,
  budget: Budget,
  expected: Fingerprints | undefined,
): Promise<Fingerprints> {
  const now = options.now ?? Date.now;
  const started = now();
  const scope = options.scope ?? {};
  const fullRowLimit = options.fullRowLimit ?? DEFAULT_FULL_ROW_LIMIT;
  const sampleTargetRows = options.sampleTargetRows ?? DEFAULT_SAMPLE_TARGET_ROWS;

  // Cheap catalog reads first: they never wait for the budget.
  const sequences = await readSequences(client, scope);
  const extensions = await readExtensions(client, scope);
  const locale = await readLocale(client);
  const collations = await readCollations(client, scope);

  const { rows: relations } = await client.query<RelationRow>(RELATIONS_QUERY(IN_SCOPE), scopeParams(scope));
  const planned = new Map((expected?.tables ?? []).map((t) => [relKey(t), t]));

  const tables = new Map<string, TableFingerprint>();
  const matviews: MatviewFingerprint[] = [];
  let largeObjects: LargeObjectsFingerprint | undefined;
  const loBytes = await largeObjectBytes(client);

  // Smallest first, the large objects at their place by size.
  for (const rel of relations) {
    if (largeObjects === undefined && loBytes <= Number(rel.bytes)) {
      largeObjects = await largeObjectsFingerprint(client, budget);
    }
    if (rel.kind === 'm') {
      matviews.push(await matviewFingerprint(client, budget, rel));
      continue;
    }
    if (expected) {
      const want = planned.get(relKey(rel));
      // Not in the manifest: the row-count checks report it; nothing to compare a hash with.
      if (!want) continue;
      tables.set(relKey(rel), await rehashTable(client, budget, rel, want));
    } else {
      tables.set(
        relKey(rel),
        await hashTable(client, budget, rel, {
          fullRowLimit,
          sampleTargetRows,
          rows: options.rowCounts?.get(label(rel)),
        }),
      );
    }
  }
  largeObjects ??= await largeObjectsFingerprint(client, budget);

  // On the restored side keep the manifest's order; a table missing here is left out (compare reports it).
  const tableList = expected
    ? expected.tables.flatMap((t) => tables.get(relKey(t)) ?? [])
    : [...tables.values()].sort((a, b) => cmpRel(a, b));
  const complete =
    tableList.every((t) => !isSkippedTable(t)) &&
    matviews.every((m) => m.skipped === undefined) &&
    largeObjects.skipped === undefined;
  return {
    algorithm: FINGERPRINT_ALGORITHM,
    fullRowLimit,
    sampleTargetRows,
    budgetSeconds: options.budgetMs === undefined ? null : options.budgetMs / 1000,
    complete,
    seconds: Math.round((now() - started) / 10) / 100,
    tables: tableList,
    sequences,
    materializedViews: matviews.sort(cmpRel),
    largeObjects,
    extensions,
    locale,
    collations,
  };
}

const cmpRel = (a: { schema: string; name: string }, b: { schema: string; name: string }) => {
  const x = relKey(a);
  const y = relKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Size of pg_largeobject, to place the large objects among the relations by size. */
async function largeObjectBytes(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ b: string }>(
    `SELECT pg_relation_size('pg_catalog.pg_largeobject'::regclass)::text AS b`,
  );
  return Number(rows[0].b);
}

interface Sizing {
  readonly fullRowLimit: number;
  readonly sampleTargetRows: number;
  /** Exact row count, when the caller has one. */
  readonly rows?: number;
}

/** Source side: decide full or sample, then hash. */
async function hashTable(
  client: ClientBase,
  budget: Budget,
  rel: RelationRow,
  sizing: Sizing,
): Promise<TableFingerprint> {
  const key = keyColumns(rel.columns, rel.key ?? []);
  const outcome = await budget.run(async () => {
    let modulus = 1;
    const knownRows = sizing.rows;
    const large =
      knownRows !== undefined
        ? knownRows > sizing.fullRowLimit
        : Number(
            (await client.query<{ n: string }>(probeQuery(rel.schema, rel.name), [sizing.fullRowLimit]))
              .rows[0].n,
          ) > sizing.fullRowLimit;
    if (large) {
      // Only sizes the sample; the modulus is recorded, so the restored side need not agree on it.
      const rows = knownRows ?? estimateRows(rel, sizing.fullRowLimit);
      modulus = chooseModulus(rows, sizing.sampleTargetRows);
    }
    const plan: HashPlan = { schema: rel.schema, name: rel.name, columns: rel.columns, key, modulus };
    return { plan, ...(await runHash(client, plan)) };
  });
  if (!outcome.ok) return skipped(rel, outcome);
  const { plan, total, hashed, sha256 } = outcome.value;
  return {
    schema: rel.schema,
    name: rel.name,
    strength: key.length > 0 ? 'strong' : 'weak',
    key: key.map((k) => k.name),
    method: plan.modulus > 1 ? 'sample' : 'full',
    modulus: plan.modulus,
    rowsHashed: hashed,
    rowsTotal: total,
    sha256,
  };
}

/** Restored side: the manifest's method, modulus and key, columns from the restored catalog. */
async function rehashTable(
  client: ClientBase,
  budget: Budget,
  rel: RelationRow,
  want: TableFingerprint,
): Promise<TableFingerprint> {
  if (isSkippedTable(want))
    return { schema: rel.schema, name: rel.name, skipped: want.skipped, detail: 'skipped at dump time' };
  const byName = new Map(rel.columns.map((c) => [c.name, c]));
  const key: ColumnInfo[] = [];
  for (const k of want.key) {
    const c = byName.get(k);
    if (!c) {
      return {
        schema: rel.schema,
        name: rel.name,
        skipped: 'error',
        detail: `key column ${JSON.stringify(k)} not found after restore`,
      };
    }
    key.push(c);
  }
  const plan: HashPlan = {
    schema: rel.schema,
    name: rel.name,
    columns: rel.columns,
    key,
    modulus: want.modulus,
  };
  const outcome = await budget.run(() => runHash(client, plan));
  if (!outcome.ok) return skipped(rel, outcome);
  return {
    ...want,
    rowsHashed: outcome.value.hashed,
    rowsTotal: outcome.value.total,
    sha256: outcome.value.sha256,
  };
}

async function runHash(
  client: ClientBase,
  plan: HashPlan,
): Promise<{ total: number; hashed: number; sha256: string }> {
  const { rows } = await client.query<{ total: string; hashed: string; sha256: string }>(
    tableHashQuery(plan),
  );
  return { total: Number(rows[0].total), hashed: Number(rows[0].hashed), sha256: rows[0].sha256 };
}

/** Primary-key columns with their catalog info, in key order. */
function keyColumns(columns: readonly ColumnInfo[], key: readonly string[]): ColumnInfo[] {
  const byName = new Map(columns.map((c) => [c.name, c]));
  return key.map((k) => byName.get(k)).filter((c): c is ColumnInfo => c !== undefined);
}

/**
 * Rows of a table known to exceed the full-hash limit, when no exact count was given: the
 * planner estimate, or for a never-analysed table an upper bound from its size (a row takes at
 * least ~32 bytes on a page), which errs towards a smaller sample rather than an unbounded one.
 */
function estimateRows(rel: RelationRow, fullRowLimit: number): number {
  const estimate = Number(rel.estimate);
  const fromSize = Math.ceil(Number(rel.bytes) / 32);
  return Math.max(fullRowLimit + 1, estimate > 0 ? estimate : fromSize);
}

function skipped(
  rel: { schema: string; name: string },
  outcome: { skipped: 'budget' | 'error' | 'privilege'; detail?: string },
): TableFingerprint {
  return {
    schema: rel.schema,
    name: rel.name,
    skipped: outcome.skipped === 'budget' ? 'budget' : 'error',
    ...(outcome.detail ? { detail: outcome.detail } : {}),
  };
}
