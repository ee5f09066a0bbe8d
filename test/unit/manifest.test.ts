/**
 * The manifest is the commit marker of a backup: whatever it accepts, listing, freshness and
 * drills trust. Each rule of the schema is tried with one field broken at a time, and the error
 * must name the field.
 */
import {
  DIRECTORY_TOC,
  directoryPrefixOf,
  keysOfManifest,
  parseManifest,
  parseTableLabel,
  rowCountOf,
  tableLabel,
  type Manifest,
} from '../../lambda/core/manifest';

const SHA = 'a'.repeat(64);

/** A manifest as loose JSON, so a test can break any field of it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

/** A complete, valid formatVersion 1 manifest, written out literally. */
function valid(): Manifest {
  return {
    formatVersion: 1,
    backupId: 'orders-20261122T020000Z',
    databaseId: 'orders',
    tier: 'weekly',
    period: '2026-W47',
    startedAt: '2026-11-22T02:00:00.000Z',
    completedAt: '2026-11-22T02:03:00+01:00',
    durationSeconds: 180,
    retainUntil: '2027-02-20T02:00:00Z',
    source: { database: 'orders', serverVersion: '16.4', serverVersionNum: 160004, serverMajor: 16 },
    pgDump: { version: 'pg_dump (PostgreSQL) 16.4', major: 16, format: 'custom', options: ['--snapshot=x'] },
    object: { key: 'weekly/orders/2026-W47/orders-20261122T020000Z.dump', bytes: 1234, sha256: SHA },
    globals: {
      present: true,
      key: 'weekly/orders/2026-W47/orders-20261122T020000Z.globals.sql',
      bytes: 0,
      sha256: '0123456789abcdef'.repeat(4),
    },
    rowCounts: { exact: false, budgetSeconds: 0 },
    tables: [
      {
        schema: 'public',
        name: 'orders',
        rows: 0,
        exact: true,
        rowSecurity: false,
        forceRowSecurity: false,
        kind: 'r',
      },
      {
        schema: 'public',
        name: 'events',
        rows: 7,
        exact: false,
        rowSecurity: true,
        forceRowSecurity: true,
        kind: 'p',
      },
    ],
    catalog: {
      schemas: 1,
      tables: 2,
      views: 0,
      materializedViews: 0,
      functions: 0,
      triggers: 0,
      policies: 0,
      indexes: 0,
      sequences: 0,
      types: 0,
    },
    schemas: { include: ['public'], exclude: [] },
    encryption: { kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k' },
  };
}

/** parseManifest of `valid()` changed by `change`; returns the error message (or '' when it parsed). */
function problem(change: (m: Loose) => void): string {
  const m = structuredClone(valid()) as Loose;
  change(m);
  try {
    parseManifest(JSON.stringify(m));
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

describe('parseManifest', () => {
  test('accepts a complete manifest and returns it unchanged', () => {
    expect(parseManifest(JSON.stringify(valid()))).toEqual(valid());
  });

  test('accepts what a failed roles dump writes, no KMS key id, and a date with an offset', () => {
    const m = {
      ...valid(),
      globals: { present: false, reason: 'pg_dumpall: permission denied' },
      encryption: {},
    };
    expect(parseManifest(JSON.stringify(m))).toEqual(m);
  });

  test('keeps the S3 VersionId of the stored objects (issue 12) and refuses an empty one', () => {
    const m = structuredClone(valid()) as Loose;
    (m.object as Loose).versionId = 'v1';
    expect(parseManifest(JSON.stringify(m)).object.versionId).toBe('v1');
    expect(problem((x) => ((x.object as Loose).versionId = ''))).toMatch(/object\.versionId/);
  });

  test('says when the body is not JSON at all', () => {
    expect(() => parseManifest('{"formatVersion": 1,')).toThrow(/^manifest is not valid JSON: .+/);
  });

  test('names (root) when the body is not an object', () => {
    expect(() => parseManifest('[]')).toThrow(/^manifest is invalid: \(root\): /);
  });

  test('names every offending field at once, by its path', () => {
    const message = problem((m) => {
      m.formatVersion = 2;
      m.object.sha256 = 'x';
    });
    expect(message).toMatch(/^manifest is invalid: /);
    expect(message).toContain('formatVersion: ');
    expect(message).toContain('object.sha256: must be a lowercase hex SHA-256');
    expect(message).toContain('; ');
  });

  test.each<[string, string, (m: Loose) => void]>([
    ['an unknown format version', 'formatVersion', (m) => (m.formatVersion = 2)],
    ['an unknown tier', 'tier', (m) => (m.tier = 'hourly')],
    ['a format other than custom or directory', 'pgDump.format', (m) => (m.pgDump.format = 'tar')],
    ['an upper-case SHA-256', 'object.sha256', (m) => (m.object.sha256 = 'A'.repeat(64))],
    ['a SHA-256 one digit short', 'object.sha256', (m) => (m.object.sha256 = 'a'.repeat(63))],
    ['a SHA-256 one digit long', 'object.sha256', (m) => (m.object.sha256 = 'a'.repeat(65))],
    ['a SHA-256 with a prefix', 'object.sha256', (m) => (m.object.sha256 = `x${'a'.repeat(64)}`)],
    ['a SHA-256 with a suffix', 'object.sha256', (m) => (m.object.sha256 = `${'a'.repeat(64)}\n`)],
    ['a roles file SHA-256 that is not hex', 'globals.sha256', (m) => (m.globals.sha256 = 'g'.repeat(64))],
    ['negative bytes', 'object.bytes', (m) => (m.object.bytes = -1)],
    ['fractional bytes', 'object.bytes', (m) => (m.object.bytes = 1.5)],
    ['a negative duration', 'durationSeconds', (m) => (m.durationSeconds = -1)],
    ['a date without a time', 'startedAt', (m) => (m.startedAt = '2026-11-22')],
    ['a date that is not a date', 'completedAt', (m) => (m.completedAt = 'yesterday')],
    ['a retain-until without a date', 'retainUntil', (m) => delete m.retainUntil],
    ['a negative row count', 'tables.0.rows', (m) => (m.tables[0].rows = -1)],
    ['a fractional row count', 'tables.0.rows', (m) => (m.tables[0].rows = 0.5)],
    ['a table kind other than r or p', 'tables.1.kind', (m) => (m.tables[1].kind = 'v')],
    ['a table without rowSecurity', 'tables.0.rowSecurity', (m) => delete m.tables[0].rowSecurity],
    ['an unknown table field', 'tables.0', (m) => (m.tables[0].comment = 'x')],
    ['a negative catalog count', 'catalog.indexes', (m) => (m.catalog.indexes = -1)],
    ['a missing catalog count', 'catalog.types', (m) => delete m.catalog.types],
    ['a negative row-count budget', 'rowCounts.budgetSeconds', (m) => (m.rowCounts.budgetSeconds = -1)],
    [
      'a fractional server version number',
      'source.serverVersionNum',
      (m) => (m.source.serverVersionNum = 1.5),
    ],
    ['a host recorded in the source', 'source', (m) => (m.source.host = 'db.internal')],
    ['a password field anywhere', '(root)', (m) => (m.password = 'x')],
    ['a roles file present without a key', 'globals', (m) => delete m.globals.key],
    ['a roles file absent without a reason', 'globals', (m) => (m.globals = { present: false })],
    ['pg_dump options that are not strings', 'pgDump.options.0', (m) => (m.pgDump.options = [1])],
    ['schemas without exclude', 'schemas.exclude', (m) => delete m.schemas.exclude],
    ['a KMS key id that is not a string', 'encryption.kmsKeyId', (m) => (m.encryption.kmsKeyId = 1)],
  ])('refuses %s, naming %s', (_, path, change) => {
    const message = problem(change);
    expect(message).toMatch(/^manifest is invalid: /);
    expect(message).toContain(`${path}: `);
  });

  test('a SHA-256 of any lowercase hex digit is accepted', () => {
    expect(problem((m) => (m.object.sha256 = '0123456789abcdef'.repeat(4)))).toBe('');
    expect(problem((m) => (m.object.sha256 = 'f9'.repeat(32)))).toBe('');
  });
});

describe('names and keys', () => {
  test('tableLabel is schema.name', () => {
    expect(tableLabel({ schema: 'sales', name: 'Order Lines' })).toBe('sales.Order Lines');
  });

  test('keysOfManifest gives the keys of the backup the manifest describes', () => {
    expect(keysOfManifest(valid())).toEqual({
      prefix: 'weekly/orders/2026-W47/',
      dump: 'weekly/orders/2026-W47/orders-20261122T020000Z.dump',
      globals: 'weekly/orders/2026-W47/orders-20261122T020000Z.globals.sql',
      manifest: 'weekly/orders/2026-W47/orders-20261122T020000Z.manifest.json',
    });
  });
});

describe('the fields later issues added', () => {
  const file = (name: string) => ({ name, key: `k/${name}`, bytes: 1, sha256: SHA });

  test('a directory dump: format and layout, each file one plain name with an optional version', () => {
    const directory = (files: Loose[]) =>
      problem((m) => {
        m.pgDump.format = 'directory';
        m.layout = 'directory';
        m.files = files;
      });
    expect(directory([file('toc.dat'), file('3071.dat.gz'), file('blobs.toc'), file('_x-1.dat')])).toBe('');
    expect(directory([{ ...file('toc.dat'), versionId: 'v1' }])).toBe('');
    for (const bad of ['../toc.dat', 'a/b.dat', '.hidden', 'toc.dat/', '-x', 'a b', '']) {
      expect(directory([file(bad)])).toMatch(/files\.0\.name.*must be one plain file name/s);
    }
    expect(directory([{ ...file('toc.dat'), versionId: '' }])).toMatch(/files\.0\.versionId/);
    expect(problem((m) => (m.pgDump.format = 'tar'))).toMatch(/pgDump\.format/);
  });

  test('extensions, the standby it was dumped from, and an on-demand reason are kept, each field checked', () => {
    const extensions = [{ name: 'postgis', version: '3.3.2', schema: 'extensions' }];
    const standby = {
      host: 'replica.internal',
      port: 5432,
      hotStandbyFeedback: true,
      maxStandbyStreamingDelayMs: -1,
      replayLagSeconds: null,
    };
    const withAll = {
      ...valid(),
      extensions,
      source: { ...valid().source, standby },
      reason: 'r'.repeat(500),
    };
    expect(parseManifest(JSON.stringify(withAll))).toEqual(withAll);
    expect(problem((m) => (m.extensions = [{ ...extensions[0], owner: 'x' }]))).toMatch(/extensions\.0/);
    expect(problem((m) => (m.source.standby = { ...standby, user: 'admin' }))).toMatch(/source\.standby/);
    expect(problem((m) => (m.reason = 'r'.repeat(501)))).toMatch(/reason/);
  });
});

describe('row counts and labels', () => {
  test('rowCountOf: the recorded kind, else exact or estimated from the older flag', () => {
    expect(rowCountOf({ exact: true })).toBe('exact');
    expect(rowCountOf({ exact: false })).toBe('estimated');
    expect(rowCountOf({ exact: false, count: 'unknown' })).toBe('unknown');
    expect(rowCountOf({ exact: true, count: 'estimated' })).toBe('estimated');
  });

  test('tableLabel quotes a part only when it holds a dot or a quote, or is empty', () => {
    expect(tableLabel({ schema: 'public', name: 'orders' })).toBe('public.orders');
    expect(tableLabel({ schema: 'a.b', name: 'c' })).toBe('"a.b".c');
    expect(tableLabel({ schema: 'a', name: 'b.c' })).toBe('a."b.c"');
    expect(tableLabel({ schema: 's', name: 'say "hi"' })).toBe('s."say ""hi"""');
    expect(tableLabel({ schema: '', name: 'x' })).toBe('"".x');
  });

  test('parseTableLabel reads back every label tableLabel writes', () => {
    for (const t of [
      { schema: 'public', name: 'orders' },
      { schema: 'a.b', name: 'c' },
      { schema: 'a', name: 'b.c' },
      { schema: 'q"s', name: '"' },
      { schema: '', name: '' },
      { schema: 'with space', name: 'x.y.z' },
    ]) {
      expect(parseTableLabel(tableLabel(t))).toEqual(t);
    }
    // Older, unquoted labels: split at the first dot.
    expect(parseTableLabel('a.b.c')).toEqual({ schema: 'a', name: 'b.c' });
    expect(parseTableLabel('"a".b')).toEqual({ schema: 'a', name: 'b' });
    // Older labels of an empty schema or name (unquoted then): the empty part is kept.
    expect(parseTableLabel('.x')).toEqual({ schema: '', name: 'x' });
    expect(parseTableLabel('a.')).toEqual({ schema: 'a', name: '' });
    expect(parseTableLabel('"a".')).toEqual({ schema: 'a', name: '' });
  });

  test('parseTableLabel refuses what is not schema.name, saying why', () => {
    expect(() => parseTableLabel('orders')).toThrow('table label orders is not schema.name');
    expect(() => parseTableLabel('"a.b')).toThrow('table label "a.b has an unterminated quote');
    expect(() => parseTableLabel('s."n')).toThrow('has an unterminated quote');
    expect(() => parseTableLabel('"a"b')).toThrow('table label "a"b is not schema.name');
    expect(() => parseTableLabel('s."n"x')).toThrow('table label s."n"x has text after its name');
    expect(() => parseTableLabel('"a""b"x.c')).toThrow('is not schema.name');
  });

  test("directoryPrefixOf: the backup's .dir/ next to its manifest", () => {
    expect(directoryPrefixOf(valid())).toBe('weekly/orders/2026-W47/orders-20261122T020000Z.dir/');
    // The table of contents pg_dump -Fd writes: the file a directory manifest's `object` names.
    expect(DIRECTORY_TOC).toBe('toc.dat');
  });
});
