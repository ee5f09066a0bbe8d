/**
 * Grandfather-father-son end to end: real dumps at simulated dates (injected clock) fill yearly,
 * monthly, weekly and daily periods by first success, across a year boundary that falls inside
 * ISO week 2026-W53, and failed runs (a Sunday outage, a failed Monday) take no period away.
 */
import { listBackups } from '../../lambda/core/catalog';
import { BackupError, dumpDatabase } from '../../lambda/core/dump';
import type { Manifest } from '../../lambda/core/manifest';
import { makeStandInBinDir, startHarness, type Harness } from '../support/harness';

jest.setTimeout(120_000);

let h: Harness;
let broken: string;

beforeAll(async () => {
  h = await startHarness({ seed: { customers: 10, products: 5, orders: 20, events: 20 } });
  broken = makeStandInBinDir({ kind: 'exit', bytes: 2048, code: 1 }, { realBinDir: h.realBinDir });
});

afterAll(async () => {
  await h?.stop();
});

const at = (day: string) => new Date(`${day}T02:00:00Z`);

async function run(day: string): Promise<Manifest> {
  return dumpDatabase(h.dumpOptions({ now: () => at(day) }));
}

async function fail(day: string): Promise<void> {
  const err = await dumpDatabase(h.dumpOptions({ now: () => at(day), pgBinDirs: [broken] })).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BackupError);
}

test('first success fills yearly, monthly, weekly, then daily; failures take no period', async () => {
  const placed: [string, string, string][] = [];
  const ok = async (day: string) => {
    const m = await run(day);
    placed.push([day, m.tier, m.period]);
    return m;
  };

  // ISO week 2026-W53 runs from Monday 2026-12-28 to Sunday 2027-01-03, across the new year.
  await ok('2026-12-28'); // first backup ever
  await ok('2026-12-29');
  await ok('2026-12-30');
  await ok('2026-12-31');
  await ok('2027-01-01'); // new year: yearly 2027, although still in week 2026-W53
  await ok('2027-01-02'); // new month
  await ok('2027-01-03'); // Sunday, 2026-W53 already has its weekly
  await ok('2027-01-04'); // Monday: 2027-W01
  await ok('2027-01-05');
  // An outage: Saturday's and Sunday's runs fail, so week 2027-W02 gets no weekly...
  await fail('2027-01-16');
  await fail('2027-01-17');
  // ...and Monday's success becomes the weekly, as it must.
  await ok('2027-01-18');
  await ok('2027-01-19');
  // The first run of 2027-W04 fails; the next success takes the week's slot.
  await fail('2027-01-25');
  await ok('2027-01-26');
  await ok('2027-01-27');
  // A new month beats a new week; the week's slot goes to the next run.
  await ok('2027-02-01');
  await ok('2027-02-02');

  expect(placed).toEqual([
    ['2026-12-28', 'yearly', '2026'],
    ['2026-12-29', 'monthly', '2026-12'],
    ['2026-12-30', 'weekly', '2026-W53'],
    ['2026-12-31', 'daily', '2026-12-31'],
    ['2027-01-01', 'yearly', '2027'],
    ['2027-01-02', 'monthly', '2027-01'],
    ['2027-01-03', 'daily', '2027-01-03'],
    ['2027-01-04', 'weekly', '2027-W01'],
    ['2027-01-05', 'daily', '2027-01-05'],
    ['2027-01-18', 'weekly', '2027-W03'],
    ['2027-01-19', 'daily', '2027-01-19'],
    ['2027-01-26', 'weekly', '2027-W04'],
    ['2027-01-27', 'daily', '2027-01-27'],
    ['2027-02-01', 'monthly', '2027-02'],
    ['2027-02-02', 'weekly', '2027-W05'],
  ]);

  // The bucket agrees: every backup stored once, under its tier, with its tier's retain-until.
  const listed = await listBackups(h.s3, h.bucket, 'app', { includeInvalid: true });
  expect(listed.every((e) => e.valid)).toBe(true);
  expect(listed).toHaveLength(placed.length);
  expect(new Set(listed.map((e) => e.backupId)).size).toBe(listed.length);
  const byTier = (tier: string) =>
    listed
      .filter((e) => e.tier === tier)
      .map((e) => e.period)
      .sort();
  expect(byTier('yearly')).toEqual(['2026', '2027']);
  expect(byTier('monthly')).toEqual(['2026-12', '2027-01', '2027-02']);
  expect(byTier('weekly')).toEqual(['2026-W53', '2027-W01', '2027-W03', '2027-W04', '2027-W05']);
  expect(byTier('weekly')).not.toContain('2027-W02');
  // DESIGN.md's retention, written out here rather than taken from the code under test.
  const days = { daily: 30, weekly: 90, monthly: 365, yearly: 2555, adhoc: 30 };
  for (const e of listed) {
    const m = e.manifest!;
    const expected = new Date(new Date(m.startedAt).getTime() + days[m.tier] * 24 * 3600 * 1000);
    expect(m.retainUntil).toBe(expected.toISOString());
  }
  // Failed runs left nothing behind but what succeeded.
  expect(h.s3server.pendingUploads(h.bucket)).toEqual([]);
});
