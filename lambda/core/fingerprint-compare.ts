/**
 * Compares the fingerprints in a manifest with those recomputed on a restored database
 * (fingerprintRestored). One result per table, sequence, materialized view, extension and
 * collation, plus the large objects and the database locale, each named by kind and object.
 *
 * `skipped` is its own status, never a pass: a table the time budget did not reach (at dump time
 * or in the drill) was not proven equal, and the report must say so.
 */
import {
  isSkippedTable,
  type CollationFingerprint,
  type Fingerprints,
  type SequenceFingerprint,
  type TableFingerprint,
} from './fingerprint-schema';

export type FingerprintKind =
  'rows-hash' | 'sequence' | 'matview' | 'large-objects' | 'extension' | 'collation' | 'locale';

export interface FingerprintCheck {
  /** `rows-hash:shop.orders`, `sequence:shop.orders_id_seq`, `matview:...`, `large-objects`, ... */
  readonly name: string;
  readonly kind: FingerprintKind;
  readonly status: 'pass' | 'fail' | 'skipped';
  /** true only for `pass`. */
  readonly pass: boolean;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly detail?: string;
}

const label = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
const key = (t: { schema: string; name: string }) => `${t.schema}\u0000${t.name}`;

const check = (
  kind: FingerprintKind,
  name: string,
  status: FingerprintCheck['status'],
  expected: unknown,
  actual: unknown,
  detail?: string,
): FingerprintCheck => ({
  name: `${kind}:${name}`,
  kind,
  status,
  pass: status === 'pass',
  expected,
  actual,
  ...(detail ? { detail } : {}),
});

export function compareFingerprints(expected: Fingerprints, actual: Fingerprints): FingerprintCheck[] {
  return [
    ...compareTables(expected.tables, actual.tables),
    ...compareSequences(expected.sequences, actual.sequences),
    ...compareMatviews(expected, actual),
    compareLargeObjects(expected, actual),
    ...compareExtensions(expected, actual),
    compareLocale(expected, actual),
    ...compareCollations(expected.collations, actual.collations),
  ];
}

function compareTables(expected: readonly TableFingerprint[], actual: readonly TableFingerprint[]) {
  const byKey = new Map(actual.map((t) => [key(t), t]));
  return expected.map((e): FingerprintCheck => {
    const name = label(e);
    if (isSkippedTable(e)) {
      return check('rows-hash', name, 'skipped', null, null, `not fingerprinted at dump time (${e.skipped})`);
    }
    const want = { method: e.method, modulus: e.modulus, rows: e.rowsHashed, sha256: e.sha256 };
    const a = byKey.get(key(e));
    if (!a) return check('rows-hash', name, 'fail', want, null, 'table not found after restore');
    if (isSkippedTable(a)) {
      return a.skipped === 'budget'
        ? check('rows-hash', name, 'skipped', want, null, 'drill time budget ran out before this table')
        : check(
            'rows-hash',
            name,
            'fail',
            want,
            null,
            `could not fingerprint after restore: ${a.detail ?? a.skipped}`,
          );
    }
    const got = { method: a.method, modulus: a.modulus, rows: a.rowsHashed, sha256: a.sha256 };
    if (a.sha256 === e.sha256 && a.rowsHashed === e.rowsHashed) {
      return check('rows-hash', name, 'pass', want, got, e.strength === 'weak' ? weakNote : undefined);
    }
    const scope = e.method === 'sample' ? `sampled rows (1 in ${e.modulus})` : 'rows';
    const detail =
      a.rowsHashed !== e.rowsHashed
        ? `${scope}: ${a.rowsHashed} hashed after restore, ${e.rowsHashed} at dump time`
        : `${scope} differ in content (same count, different hash)`;
    return check(
      'rows-hash',
      name,
      'fail',
      want,
      got,
      e.strength === 'weak' ? `${detail}; ${weakNote}` : detail,
    );
  });
}

const weakNote = 'weak check: no primary key, rows compared as an unordered multiset';

/** The value nextval() would return next. */
const nextValue = (s: SequenceFingerprint): bigint =>
  s.isCalled ? BigInt(s.lastValue) + BigInt(s.increment) : BigInt(s.lastValue);

function compareSequences(expected: readonly SequenceFingerprint[], actual: readonly SequenceFingerprint[]) {
  const byKey = new Map(actual.map((s) => [key(s), s]));
  return expected.map((e): FingerprintCheck => {
    const want = { lastValue: e.lastValue, isCalled: e.isCalled };
    const a = byKey.get(key(e));
    if (!a) return check('sequence', label(e), 'fail', want, null, 'sequence not found after restore');
    const got = { lastValue: a.lastValue, isCalled: a.isCalled };
    const diff = nextValue(a) - nextValue(e);
    if (diff === 0n) return check('sequence', label(e), 'pass', want, got);
    // pg_dump reads sequences after the fingerprint (they are not part of any snapshot), so a
    // busy sequence can be ahead in the archive. Ahead is harmless; behind hands out used values.
    const ahead = BigInt(e.increment) > 0n ? diff > 0n : diff < 0n;
    if (ahead && !e.cycle) {
      return check('sequence', label(e), 'pass', want, got, `advanced by ${diff} (nextval during the dump)`);
    }
    return check(
      'sequence',
      label(e),
      'fail',
      want,
      got,
      `next value ${nextValue(a)} after restore, ${nextValue(e)} at dump time: new rows would reuse used values`,
    );
  });
}

function compareMatviews(expected: Fingerprints, actual: Fingerprints) {
  const byKey = new Map(actual.materializedViews.map((m) => [key(m), m]));
  return expected.materializedViews.map((e): FingerprintCheck => {
    const want = { populated: e.populated, rows: e.rows };
    const a = byKey.get(key(e));
    if (!a)
      return check('matview', label(e), 'fail', want, null, 'materialized view not found after restore');
    const got = { populated: a.populated, rows: a.rows };
    if (e.populated && !a.populated) {
      return check(
        'matview',
        label(e),
        'fail',
        want,
        got,
        'not populated after restore (REFRESH failed or skipped)',
      );
    }
    if (!e.populated && a.populated) {
      return check(
        'matview',
        label(e),
        'fail',
        want,
        got,
        'populated after restore but was not at dump time',
      );
    }
    if (e.skipped !== undefined || a.skipped !== undefined) {
      return check('matview', label(e), 'skipped', want, got, 'row count not taken (time budget)');
    }
    if (e.rows !== a.rows) {
      return check(
        'matview',
        label(e),
        'fail',
        want,
        got,
        `${a.rows} rows after restore, ${e.rows} at dump time`,
      );
    }
    return check('matview', label(e), 'pass', want, got);
  });
}

function compareLargeObjects(expected: Fingerprints, actual: Fingerprints): FingerprintCheck {
  const e = expected.largeObjects;
  const a = actual.largeObjects;
  const want = { count: e.count, sha256: e.sha256 };
  const got = { count: a.count, sha256: a.sha256 };
  if (e.count !== a.count) {
    return check(
      'large-objects',
      'database',
      'fail',
      want,
      got,
      `${a.count} after restore, ${e.count} at dump time`,
    );
  }
  if (e.sha256 === null || a.sha256 === null) {
    const why = e.sha256 === null ? `at dump time (${e.skipped})` : `after restore (${a.skipped})`;
    return check('large-objects', 'database', 'skipped', want, got, `count equal; content not hashed ${why}`);
  }
  if (e.sha256 !== a.sha256) {
    return check('large-objects', 'database', 'fail', want, got, 'same count, different content');
  }
  return check('large-objects', 'database', 'pass', want, got);
}

function compareExtensions(expected: Fingerprints, actual: Fingerprints) {
  const got = new Map(actual.extensions.map((x) => [x.name, x.version]));
  return expected.extensions.map((e): FingerprintCheck => {
    const v = got.get(e.name);
    if (v === undefined)
      return check('extension', e.name, 'fail', e.version, null, 'extension not installed after restore');
    // A different version runs different code against the same data: the restore is not like for like.
    if (v !== e.version)
      return check(
        'extension',
        e.name,
        'fail',
        e.version,
        v,
        `version ${v} after restore, ${e.version} at dump time`,
      );
    return check('extension', e.name, 'pass', e.version, v);
  });
}

function compareLocale(expected: Fingerprints, actual: Fingerprints): FingerprintCheck {
  const e = expected.locale;
  const a = actual.locale;
  const differs = (Object.keys(e) as (keyof typeof e)[]).filter((k) => e[k] !== a[k]);
  if (differs.length === 0) return check('locale', 'database', 'pass', e, a);
  return check(
    'locale',
    'database',
    'fail',
    e,
    a,
    `database ${differs.join(', ')} differ${differs.length === 1 ? 's' : ''}: text sorts and compares differently`,
  );
}

function compareCollations(
  expected: readonly CollationFingerprint[],
  actual: readonly CollationFingerprint[],
) {
  const byKey = new Map(actual.map((c) => [key(c), c]));
  return expected.map((e): FingerprintCheck => {
    const want = {
      provider: e.provider,
      collate: e.collate,
      ctype: e.ctype,
      locale: e.locale,
      deterministic: e.deterministic,
    };
    const a = byKey.get(key(e));
    if (!a) return check('collation', label(e), 'fail', want, null, 'collation missing after restore');
    const got = {
      provider: a.provider,
      collate: a.collate,
      ctype: a.ctype,
      locale: a.locale,
      deterministic: a.deterministic,
    };
    const differs = (Object.keys(want) as (keyof typeof want)[]).filter((k) => want[k] !== got[k]);
    if (differs.length > 0)
      return check('collation', label(e), 'fail', want, got, `${differs.join(', ')} differ`);
    return check('collation', label(e), 'pass', want, got);
  });
}

/** Failed and skipped counts, and a one-line reason naming the first failures. */
export function summarizeFingerprintChecks(checks: readonly FingerprintCheck[], limit = 5) {
  const failed = checks.filter((c) => c.status === 'fail');
  const skipped = checks.filter((c) => c.status === 'skipped');
  const shown = failed.slice(0, limit).map((c) => `${c.name}: ${c.detail ?? 'differs'}`);
  return {
    ok: failed.length === 0,
    failed: failed.length,
    skipped: skipped.length,
    passed: checks.length - failed.length - skipped.length,
    reason:
      failed.length === 0
        ? undefined
        : `${failed.length} fingerprint(s) differ: ${shown.join('; ')}${failed.length > limit ? '; ...' : ''}`,
  };
}
