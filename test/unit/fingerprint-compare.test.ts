import { compareFingerprints, summarizeFingerprintChecks } from '../../lambda/core/fingerprint-compare';
import { FingerprintsSchema, type Fingerprints } from '../../lambda/core/fingerprint-schema';
import { chooseModulus, tableHashQuery } from '../../lambda/core/fingerprint-sql';

const H = (c: string) => c.repeat(64);

const base: Fingerprints = {
  algorithm: 'rowtext-sha256-v1',
  fullRowLimit: 100,
  sampleTargetRows: 10,
  budgetSeconds: null,
  complete: true,
  seconds: 1,
  tables: [
    {
      schema: 's',
      name: 't',
      strength: 'strong',
      key: ['id'],
      method: 'full',
      modulus: 1,
      rowsHashed: 3,
      rowsTotal: 3,
      sha256: H('a'),
    },
  ],
  sequences: [{ schema: 's', name: 'q', lastValue: '10', isCalled: true, increment: '1', cycle: false }],
  materializedViews: [],
  largeObjects: { count: 0, sha256: H('0') },
  extensions: [],
  locale: { encoding: 'UTF8', provider: 'c', collate: 'C.UTF-8', ctype: 'C.UTF-8', locale: null },
  collations: [],
};

const withSeq = (s: Partial<Fingerprints['sequences'][number]>): Fingerprints => ({
  ...base,
  sequences: [{ ...base.sequences[0], ...s }],
});
const seqCheck = (e: Fingerprints, a: Fingerprints) =>
  compareFingerprints(e, a).find((c) => c.kind === 'sequence');

describe('compareFingerprints', () => {
  it('the schema accepts what the tests build', () => {
    expect(() => FingerprintsSchema.parse(base)).not.toThrow();
  });

  it('passes a sequence that advanced (nextval while pg_dump ran) and fails one that went back', () => {
    expect(seqCheck(base, withSeq({ lastValue: '12' }))).toMatchObject({ status: 'pass' });
    expect(seqCheck(base, withSeq({ lastValue: '9' }))).toMatchObject({
      status: 'fail',
      name: 'sequence:s.q',
    });
    // Same last_value but not called: nextval would hand out 10 again.
    expect(seqCheck(base, withSeq({ isCalled: false }))).toMatchObject({ status: 'fail' });
  });

  it('reads "ahead" by the increment direction, and never for a cycling sequence', () => {
    const down = withSeq({ increment: '-1' });
    expect(seqCheck(down, withSeq({ increment: '-1', lastValue: '5' }))).toMatchObject({ status: 'pass' });
    expect(seqCheck(down, withSeq({ increment: '-1', lastValue: '15' }))).toMatchObject({ status: 'fail' });
    const cyc = withSeq({ cycle: true });
    expect(seqCheck(cyc, withSeq({ cycle: true, lastValue: '12' }))).toMatchObject({ status: 'fail' });
  });

  it('compares int8 sequence values beyond 2^53 exactly', () => {
    const big = withSeq({ lastValue: '9007199254740993' });
    expect(seqCheck(big, withSeq({ lastValue: '9007199254740992' }))).toMatchObject({ status: 'fail' });
  });

  it('reports a table skipped for the budget as skipped, never as a pass, and does not fail on it', () => {
    const actual = { ...base, tables: [{ schema: 's', name: 't', skipped: 'budget' as const }] };
    const checks = compareFingerprints(base, actual);
    expect(checks[0]).toMatchObject({ name: 'rows-hash:s.t', status: 'skipped', pass: false });
    expect(summarizeFingerprintChecks(checks)).toMatchObject({ ok: true, skipped: 1, failed: 0 });
  });

  it('fails a missing table and a table that errored after restore', () => {
    expect(compareFingerprints(base, { ...base, tables: [] })[0]).toMatchObject({
      status: 'fail',
      detail: 'table not found after restore',
    });
    const errored = {
      ...base,
      tables: [{ schema: 's', name: 't', skipped: 'error' as const, detail: 'boom' }],
    };
    expect(compareFingerprints(base, errored)[0]).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/boom/),
    });
  });

  it('fails a missing extension and a different extension version', () => {
    const e = { ...base, extensions: [{ name: 'postgis', version: '3.4.2' }] };
    expect(compareFingerprints(e, base).find((c) => c.kind === 'extension')).toMatchObject({
      status: 'fail',
    });
    const newer = { ...base, extensions: [{ name: 'postgis', version: '3.5.0' }] };
    expect(compareFingerprints(e, newer).find((c) => c.kind === 'extension')).toMatchObject({
      status: 'fail',
      detail: 'version 3.5.0 after restore, 3.4.2 at dump time',
    });
  });
});

describe('fingerprint SQL', () => {
  it('samples about the target number of rows and never below a modulus of 2', () => {
    expect(chooseModulus(50, 100)).toBe(1);
    expect(chooseModulus(101, 100)).toBe(2);
    expect(chooseModulus(1_000_000, 20_000)).toBe(50);
  });

  it('quotes every identifier and passes the modulus as a parameter', () => {
    const q = tableHashQuery({
      schema: 'a"b',
      name: 'x"; DROP TABLE y;--',
      columns: [{ name: 'Col"', collatable: true }],
      key: [{ name: 'Col"', collatable: true }],
      modulus: 7,
    });
    expect(q.values).toEqual([7]);
    expect(q.text).toContain('ONLY "a""b"."x""; DROP TABLE y;--" AS t');
    expect(q.text).toContain('ORDER BY t."Col""" COLLATE "C"');
    expect(q.text).not.toContain('7');
  });
});
