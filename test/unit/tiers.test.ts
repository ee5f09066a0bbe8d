import {
  backupIdFor,
  backupKeys,
  candidatePeriods,
  DEFAULT_RETENTION_DAYS,
  drillReportKey,
  evidenceReportKey,
  isoWeek,
  parseManifestKey,
  periodOf,
  placeBackup,
  STORED_TIERS,
  ARCHIVE_TAGGING,
  TIERS,
  type Tier,
} from '../../lambda/core/tiers';

const d = (iso: string) => new Date(iso.length === 10 ? `${iso}T02:00:00Z` : iso);

describe('ISO weeks', () => {
  test.each([
    ['2026-12-28', '2026-W53'], // Monday of the 53rd week of 2026
    ['2026-12-31', '2026-W53'],
    ['2027-01-01', '2026-W53'], // Friday 1 January still belongs to 2026's last week
    ['2027-01-03', '2026-W53'], // Sunday: last day of 2026-W53
    ['2027-01-04', '2027-W01'], // Monday: week 1 of 2027
    ['2025-12-29', '2026-W01'], // week 1 of 2026 starts in December 2025
    ['2026-01-01', '2026-W01'],
    ['2024-12-30', '2025-W01'],
    ['2021-01-03', '2020-W53'],
    ['2024-02-29', '2024-W09'], // leap day
    ['2026-11-22', '2026-W47'], // DESIGN.md's example
    ['2026-11-23', '2026-W48'],
  ])('%s is in %s', (day, week) => {
    expect(periodOf('weekly', d(day))).toBe(week);
  });

  test('weeks use UTC, not the local zone: Sunday 23:59:59Z and Monday 00:00:00Z differ', () => {
    expect(periodOf('weekly', d('2026-11-22T23:59:59Z'))).toBe('2026-W47');
    expect(periodOf('weekly', d('2026-11-23T00:00:00Z'))).toBe('2026-W48');
    expect(isoWeek(d('2026-11-23T00:00:00Z'))).toEqual({ year: 2026, week: 48 });
  });
});

describe('periods', () => {
  test.each([
    ['2026-12-31T23:59:59Z', { yearly: '2026', monthly: '2026-12', weekly: '2026-W53', daily: '2026-12-31' }],
    ['2027-01-01T00:00:00Z', { yearly: '2027', monthly: '2027-01', weekly: '2026-W53', daily: '2027-01-01' }],
    ['2028-02-29T12:00:00Z', { yearly: '2028', monthly: '2028-02', weekly: '2028-W09', daily: '2028-02-29' }],
    ['2028-03-01T00:00:00Z', { yearly: '2028', monthly: '2028-03', weekly: '2028-W09', daily: '2028-03-01' }],
  ])('%s', (iso, expected) => {
    for (const tier of TIERS) expect(periodOf(tier, d(iso))).toBe(expected[tier]);
  });

  test('candidate periods are the yearly, monthly and weekly periods of the moment', () => {
    expect(candidatePeriods(d('2027-01-01'))).toEqual(['yearly/2027', 'monthly/2027-01', 'weekly/2026-W53']);
  });
});

describe('placeBackup (grandfather-father-son by first success)', () => {
  const place = (at: string, occupied: string[] = [], tier?: Tier) =>
    placeBackup({ databaseId: 'orders', at: d(at), occupied: new Set(occupied), tier });

  test('fills the highest free tier first', () => {
    expect(place('2026-11-22').tier).toBe('yearly');
    expect(place('2026-11-22', ['yearly/2026']).tier).toBe('monthly');
    expect(place('2026-11-22', ['yearly/2026', 'monthly/2026-11']).tier).toBe('weekly');
    expect(place('2026-11-22', ['yearly/2026', 'monthly/2026-11', 'weekly/2026-W47']).tier).toBe('daily');
  });

  test('only the periods the moment falls in count', () => {
    // Last year's yearly and last week's weekly do not occupy this year's or this week's slot.
    expect(place('2027-01-01', ['yearly/2026', 'monthly/2026-12', 'weekly/2026-W52']).tier).toBe('yearly');
    expect(place('2027-01-04', ['yearly/2027', 'monthly/2027-01', 'weekly/2026-W53'])).toMatchObject({
      tier: 'weekly',
      period: '2027-W01',
    });
  });

  test('a failed Sunday leaves the weekly slot for the next success', () => {
    // Nothing was written for Sunday 2027-01-17 (2027-W02), so that week holds no weekly; Monday
    // 2027-01-18 opens 2027-W03 and its success is the weekly.
    const occupied = ['yearly/2027', 'monthly/2027-01', 'weekly/2027-W01'];
    expect(place('2027-01-17', occupied)).toMatchObject({ tier: 'weekly', period: '2027-W02' });
    expect(place('2027-01-18', occupied)).toMatchObject({ tier: 'weekly', period: '2027-W03' });
  });

  test('an operator can force a tier', () => {
    expect(place('2026-11-22', [], 'daily')).toMatchObject({ tier: 'daily', period: '2026-11-22' });
  });

  // Literal dates, worked out by hand (not from the code's own constants): 2026-11-22 + 30 days is
  // 2026-12-22; + 90 days 2027-02-20; + 365 days 2027-11-22; + 2555 days (7 × 365) 2033-11-20,
  // two leap days (2028-02-29, 2032-02-29) short of seven calendar years.
  test.each([
    ['daily', '2026-12-22T02:00:00.000Z'],
    ['weekly', '2027-02-20T02:00:00.000Z'],
    ['monthly', '2027-11-22T02:00:00.000Z'],
    ['yearly', '2033-11-20T02:00:00.000Z'],
  ] as [Tier, string][])(
    'Object Lock retain-until of a %s backup is its default tier expiry',
    (tier, until) => {
      expect(place('2026-11-22T02:00:00Z', [], tier).retainUntil.toISOString()).toBe(until);
    },
  );

  test("the defaults are DESIGN.md's: daily 30 days, weekly 90, monthly 1 year, yearly 7 years", () => {
    expect(DEFAULT_RETENTION_DAYS).toEqual({ daily: 30, weekly: 90, monthly: 365, yearly: 2555 });
  });

  test('retain-until follows configured retention, across a leap day', () => {
    const p = placeBackup({
      databaseId: 'orders',
      at: d('2028-02-28T02:00:00Z'),
      occupied: new Set(),
      tier: 'daily',
      retentionDays: { daily: 2, weekly: 14, monthly: 60, yearly: 400 },
    });
    expect(p.retainUntil.toISOString()).toBe('2028-03-01T02:00:00.000Z');
  });

  test('ids and keys follow the layout, and manifest keys parse back', () => {
    const p = place('2026-11-22T02:03:04Z', ['yearly/2026', 'monthly/2026-11']);
    expect(p.backupId).toBe('orders-20261122T020304Z');
    expect(p.keys).toEqual({
      prefix: 'weekly/orders/2026-W47/',
      dump: 'weekly/orders/2026-W47/orders-20261122T020304Z.dump',
      globals: 'weekly/orders/2026-W47/orders-20261122T020304Z.globals.sql',
      manifest: 'weekly/orders/2026-W47/orders-20261122T020304Z.manifest.json',
    });
    expect(parseManifestKey(p.keys.manifest)).toEqual({
      tier: 'weekly',
      databaseId: 'orders',
      period: '2026-W47',
      backupId: 'orders-20261122T020304Z',
    });
    expect(parseManifestKey(p.keys.dump)).toBeUndefined();
    expect(
      parseManifestKey('daily/orders/2026-11-22/billing-20261122T020304Z.manifest.json'),
    ).toBeUndefined();
    expect(backupKeys('daily', 'a', '2026-11-22', backupIdFor('a', d('2026-11-22'))).prefix).toBe(
      'daily/a/2026-11-22/',
    );
  });

  test('rejects database ids that would make unsafe prefixes', () => {
    expect(() => backupIdFor('Orders', d('2026-11-22'))).toThrow(/database id "Orders" is invalid/);
    expect(() => backupIdFor('../x', d('2026-11-22'))).toThrow(/is invalid/);
    // Whole-id rules, not prefix matches: a valid start does not excuse what follows.
    for (const bad of ['a_', 'orders_x', 'orders-', 'a'.repeat(41), '1orders', '']) {
      expect(() => backupIdFor(bad, d('2026-11-22'))).toThrow(/is invalid/);
    }
    for (const good of ['a', 'ab', 'orders-eu-1', 'a'.repeat(40)]) {
      expect(backupIdFor(good, d('2026-11-22'))).toBe(`${good}-20261122T020000Z`);
    }
  });

  test('a second backup on a day that already has one is another daily', () => {
    const all = ['yearly/2026', 'monthly/2026-11', 'weekly/2026-W47', 'daily/2026-11-22'];
    expect(place('2026-11-22T14:00:00Z', all)).toMatchObject({ tier: 'daily', period: '2026-11-22' });
  });

  test('only a whole manifest key parses: nothing before the tier, nothing after .manifest.json', () => {
    const key = 'daily/orders/2026-11-22/orders-20261122T020304Z.manifest.json';
    expect(parseManifestKey(key)).toBeDefined();
    expect(parseManifestKey(`x/${key}`)).toBeUndefined();
    expect(parseManifestKey(`${key}.bak`)).toBeUndefined();
  });

  test('drill reports are filed by database and month', () => {
    expect(drillReportKey('orders', d('2026-11-22T23:00:00Z'), 'orders-drill-20261122')).toBe(
      'drills/orders/2026-11/orders-drill-20261122.json',
    );
  });
});

describe('stored prefixes, tags and report keys', () => {
  test('backups are stored under the four GFS tiers and adhoc, nowhere else', () => {
    expect([...STORED_TIERS].sort()).toEqual(['adhoc', 'daily', 'monthly', 'weekly', 'yearly']);
  });

  test('the archive tag as the x-amz-tagging header spells it', () => {
    expect(ARCHIVE_TAGGING).toBe('restorable%3Akind=archive');
  });

  test('evidenceReportKey: reports/<yyyy-mm>/<name>, the month checked whole', () => {
    expect(evidenceReportKey('2026-11', 'report.html')).toBe('reports/2026-11/report.html');
    for (const bad of ['2026-1', '26-11', 'x2026-11', '2026-11x', 'abcd-11', '2026-ab', '']) {
      expect(() => evidenceReportKey(bad, 'r.json')).toThrow(`report month must be yyyy-mm (got ${bad})`);
    }
  });
});
