/**
 * The drill's checks of what lives beside the tables, each against what the manifest recorded at
 * dump time: large objects (count, and the hash by the manifest's method), extensions (installed
 * after the restore), content fingerprints (fingerprint.ts recomputed on the restored copy,
 * fingerprint-compare.ts), and — before anything is restored — whether the drill target offers
 * the extensions and collations the backup needs, so a missing one is named with all the others
 * instead of surfacing as pg_restore's first error.
 *
 * Nothing from the manifest is spliced into SQL: names and locales travel as parameters, and a
 * probe collation is created in pg_temp inside a transaction that is rolled back.
 */
import type { ClientBase } from 'pg';
import type { CheckResult } from './checks';
import { fingerprintRestored } from './fingerprint';
import { compareFingerprints, type FingerprintCheck } from './fingerprint-compare';
import type { CollationFingerprint } from './fingerprint-schema';
import { summarizeLargeObjects } from './large-objects';
import type { Manifest } from './manifest';
import { presetRules } from './presets';

/** Large objects after the restore against `manifest.largeObjects` (none recorded: no check). */
export async function checkLargeObjects(client: ClientBase, manifest: Manifest): Promise<CheckResult[]> {
  const want = manifest.largeObjects;
  if (!want) return [];
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let got;
  try {
    got = await summarizeLargeObjects(client, { method: want.method });
  } finally {
    await client.query('COMMIT').catch(() => undefined);
  }
  const expected = { count: want.count, method: want.method, bytes: want.bytes, sha256: want.sha256 };
  const actual = { count: got.count, method: got.method, bytes: got.bytes, sha256: got.sha256 };
  let detail: string | undefined;
  if (got.count !== want.count) detail = `${got.count} after restore, ${want.count} at dump time`;
  else if (got.method === want.method && got.bytes !== want.bytes)
    detail = `same count, ${got.bytes} bytes after restore, ${want.bytes} at dump time`;
  else if (got.method === want.method && got.sha256 !== want.sha256) detail = 'same count, different content';
  return [
    {
      name: 'large-objects',
      kind: 'large-objects',
      ok: detail === undefined,
      status: detail === undefined ? 'ok' : 'mismatch',
      expected,
      actual,
      ...(detail ? { detail } : {}),
    },
  ];
}

/**
 * Every extension of the manifest is installed after the restore; one failing result lists all
 * that are missing. Dumps filtered by `schemas.include` carry no extensions (pg_dump leaves them
 * out with --schema), so there is nothing to check then.
 */
export async function checkExtensions(
  client: ClientBase,
  manifest: Manifest,
  /** Left out on purpose (the target does not offer them, preset backups): reported, not failed. */
  notOffered: readonly string[] = [],
): Promise<CheckResult[]> {
  const want = manifest.extensions;
  if (!want || manifest.schemas.include.length > 0) return [];
  const { rows } = await client.query<{ name: string; version: string }>(
    'SELECT extname AS name, extversion AS version FROM pg_catalog.pg_extension',
  );
  const installed = new Map(rows.map((r) => [r.name, r.version]));
  const excused = new Set(notOffered);
  const absent = want.filter((x) => !installed.has(x.name)).map((x) => x.name);
  const missing = absent.filter((x) => !excused.has(x));
  const leftOut = absent.filter((x) => excused.has(x));
  const detail = [
    ...(missing.length > 0 ? [`not installed after restore: ${missing.join(', ')}`] : []),
    ...(leftOut.length > 0
      ? [`not offered by the target, left out with what needs them: ${leftOut.join(', ')}`]
      : []),
  ].join('; ');
  return [
    {
      name: 'extension:installed',
      kind: 'extension',
      ok: missing.length === 0,
      status: missing.length === 0 ? 'ok' : 'missing',
      expected: want.map((x) => `${x.name} ${x.version}`),
      actual: want.filter((x) => installed.has(x.name)).map((x) => `${x.name} ${installed.get(x.name)}`),
      ...(detail ? { detail } : {}),
    },
  ];
}

/**
 * The manifest's content fingerprints recomputed on the restored copy, table by table (each in a
 * transaction of its own, so thousands of tables do not exhaust the lock table). A table the
 * budget did not reach is `skipped`: it neither fails nor passes. No fingerprints in the manifest
 * (older backups, or taken with a budget of 0): one `skipped` result that says so.
 */
export async function checkFingerprints(
  client: ClientBase,
  manifest: Manifest,
  budgetMs?: number,
): Promise<CheckResult[]> {
  const expected = manifest.fingerprints;
  if (!expected) {
    return [
      {
        name: 'fingerprints',
        kind: 'fingerprint',
        ok: true,
        status: 'skipped',
        expected: null,
        actual: null,
        detail: 'the backup has no content fingerprints: only counts were compared',
      },
    ];
  }
  const actual = await fingerprintRestored(client, expected, {
    scope: manifest.schemas,
    ...(budgetMs !== undefined ? { budgetMs } : {}),
  });
  return compareFingerprints(expected, actual).map(fromFingerprint);
}

const fromFingerprint = (c: FingerprintCheck): CheckResult => ({
  name: c.name,
  kind: 'fingerprint',
  ok: c.status !== 'fail',
  status: c.status === 'pass' ? 'ok' : c.status === 'fail' ? 'mismatch' : 'skipped',
  expected: c.expected,
  actual: c.actual,
  ...(c.detail ? { detail: c.detail } : {}),
});

/**
 * What the backup needs that the target cannot offer, one line each, all at once: extensions
 * not in `pg_available_extensions`, collations whose locale the target cannot create (probed
 * with CREATE COLLATION in pg_temp, rolled back). Empty when the target has everything.
 */
export async function targetLacks(client: ClientBase, manifest: Manifest): Promise<string[]> {
  const lacks: string[] = [];
  // A preset that leaves out what needs a missing extension (presets.ts) has the restore report it.
  const extensions =
    manifest.schemas.include.length > 0 || presetRules(manifest.preset).missingExtensions === 'leave-out'
      ? []
      : (manifest.extensions ?? []);
  if (extensions.length > 0) {
    const { rows } = await client.query<{ name: string }>(
      'SELECT name FROM pg_catalog.pg_available_extensions WHERE name = ANY($1)',
      [extensions.map((x) => x.name)],
    );
    const available = new Set(rows.map((r) => r.name));
    for (const x of extensions) {
      if (!available.has(x.name)) lacks.push(`extension ${x.name} ${x.version}`);
    }
  }
  for (const c of manifest.fingerprints?.collations ?? []) {
    const problem = await probeCollation(client, c);
    if (problem) lacks.push(`collation ${c.schema}.${c.name} (${problem})`);
  }
  return lacks;
}

const PROVIDERS: Readonly<Record<string, string>> = { c: 'libc', i: 'icu', b: 'builtin' };

async function probeCollation(client: ClientBase, c: CollationFingerprint): Promise<string | undefined> {
  const provider = PROVIDERS[c.provider];
  // `d` (the database default) has nothing to create; an unknown provider is the target's to reject.
  if (!provider) return undefined;
  const locale = provider === 'libc' ? c.collate : c.locale;
  if (locale === null) return undefined;
  const ctype = provider === 'libc' && c.ctype !== null && c.ctype !== c.collate ? c.ctype : undefined;
  await client.query('BEGIN');
  try {
    // CREATE COLLATION takes no parameters: the locale is quoted by the server's quote_literal.
    const { rows } = await client.query<{ sql: string }>(
      `SELECT format('CREATE COLLATION pg_temp.restorable_probe (provider = %s, %s)', $1::text,
                     CASE WHEN $3::text IS NULL THEN format('locale = %L', $2::text)
                          ELSE format('lc_collate = %L, lc_ctype = %L', $2::text, $3::text) END) AS sql`,
      [provider, locale, ctype ?? null],
    );
    await client.query(rows[0].sql);
    return undefined;
  } catch (e) {
    return `${provider} locale ${locale}${ctype ? `/${ctype}` : ''}: ${(e as Error).message}`;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
