/**
 * The cost model against figures worked out by hand from the us-east-1 table (prices.ts):
 * Standard $0.023, Glacier IR $0.004 per GB-month, Glacier IR minimum 90 days, transitions into
 * Glacier IR $0.02 per 1,000.
 */
import {
  DEFAULT_POLICY,
  objectLifetimeCost,
  projectCost,
  segmentsOf,
  type RetentionPolicy,
} from '../../lambda/core/cost/model';
import { PRICES, pricesFor } from '../../lambda/core/cost/prices';

const us = pricesFor('us-east-1');

describe('one object', () => {
  test('10 GB kept 30 days in Standard costs 10 × 0.023 = $0.23, nothing else', () => {
    const c = objectLifetimeCost(10, { retentionDays: 30, transitions: [] }, us);
    expect(c.storage).toBeCloseTo(0.23, 10);
    expect(c.earlyDeletion).toBe(0);
    expect(c.transitions).toBe(0);
  });

  test('moved to Glacier IR at 30 days and expired at 60 pays 60 days of early deletion', () => {
    // Standard 30 d: 10 × 0.023 = 0.23. Glacier IR 30 d: 10 × 0.004 = 0.04.
    // Glacier IR's minimum is 90 d: 60 days short → 10 × 0.004 × 60/30 = 0.08.
    const c = objectLifetimeCost(
      10,
      { retentionDays: 60, transitions: [{ storageClass: 'GLACIER_IR', afterDays: 30 }] },
      us,
    );
    expect(c.storage).toBeCloseTo(0.27, 10);
    expect(c.earlyDeletion).toBeCloseTo(0.08, 10);
    expect(c.transitions).toBeCloseTo(0.00002, 10);
  });

  test('the default yearly tier keeps every class past its minimum: no early deletion', () => {
    expect(segmentsOf(DEFAULT_POLICY.yearly).map((s) => [s.storageClass, s.toDay - s.fromDay])).toEqual([
      ['STANDARD', 30],
      ['GLACIER_IR', 90],
      ['DEEP_ARCHIVE', 2435],
    ]);
    expect(objectLifetimeCost(100, DEFAULT_POLICY.yearly, us).earlyDeletion).toBe(0);
  });

  test('a transition at or after expiry never happens', () => {
    expect(
      segmentsOf({ retentionDays: 30, transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }] }),
    ).toEqual([{ storageClass: 'STANDARD', fromDay: 0, toDay: 30 }]);
  });
});

describe('projection', () => {
  const dailyOnly: RetentionPolicy = { ...DEFAULT_POLICY, daily: { retentionDays: 30, transitions: [] } };

  test('daily backups of 1 GB kept 30 days: from month 2 on, 30 live copies per region = $0.69 each', () => {
    const p = projectCost({
      backupGb: 1,
      databaseGb: 4,
      primaryRegion: 'us-east-1',
      replicaRegion: 'us-west-2',
      policy: dailyOnly,
      placement: () => 'daily',
      months: 3,
      drillsPerMonth: 0,
    });
    const [tiers] = p.scenarios;
    // Month 1: copies 1..30 → 1+2+...+30 = 465 GB-days / 30 × 0.023 = 0.3565 per region.
    expect(tiers.months[0].storage.STANDARD).toBeCloseTo(2 * 0.3565, 10);
    expect(tiers.months[1].storage.STANDARD).toBeCloseTo(2 * 0.69, 10);
    expect(tiers.months[2].storage.STANDARD).toBeCloseTo(2 * 0.69, 10);
    // 30 backups a month: 4 PUTs + 3 GETs each, in each region.
    expect(tiers.months[1].requests).toBeCloseTo(2 * 30 * (4 * 0.000005 + 3 * 0.0000004), 10);
    // Each backup crosses regions once: 30 × 1 GB × (0.02 + 0.015).
    expect(tiers.months[1].replication).toBeCloseTo(1.05, 10);
    expect(tiers.months[1].earlyDeletion).toBe(0);
    expect(tiers.total).toBeCloseTo(
      tiers.months.reduce((a, m) => a + m.total, 0),
      10,
    );
  });

  test('an early-deletion charge appears in the month the short-lived copy expires', () => {
    const shortGlacier: RetentionPolicy = {
      ...DEFAULT_POLICY,
      daily: { retentionDays: 60, transitions: [{ storageClass: 'GLACIER_IR', afterDays: 30 }] },
    };
    const p = projectCost({
      backupGb: 10,
      databaseGb: 40,
      primaryRegion: 'us-east-1',
      replicaRegion: 'us-east-1',
      policy: shortGlacier,
      placement: () => 'daily',
      months: 3,
      drillsPerMonth: 0,
    });
    const [tiers] = p.scenarios;
    expect(tiers.months[0].earlyDeletion).toBe(0);
    expect(tiers.months[1].earlyDeletion).toBe(0);
    // Backups of days 0..29 expire on days 60..89 (month 3): 30 × 0.08 per region.
    expect(tiers.months[2].earlyDeletion).toBeCloseTo(2 * 30 * 0.08, 10);
  });

  test('drills: one a month, 1 hour of db.t4g.medium plus storage for an hour', () => {
    const p = projectCost({
      backupGb: 25,
      databaseGb: 100,
      primaryRegion: 'us-east-1',
      replicaRegion: 'us-west-2',
      months: 1,
    });
    expect(p.scenarios[0].months[0].drills).toBeCloseTo(0.065 + (100 * 0.115) / 720, 10);
  });

  test('seven years of GFS: tiers cost less than Standard only; restores name retrieval fees and wait', () => {
    const p = projectCost({
      backupGb: 25,
      databaseGb: 100,
      primaryRegion: 'us-east-1',
      replicaRegion: 'eu-west-1',
    });
    const [tiers, standard, warm, cold] = p.scenarios;
    expect(tiers.months).toHaveLength(84);
    expect(tiers.total).toBeLessThan(standard.total);
    expect(cold.total).toBeLessThan(warm.total);
    // The yearly copies outlive every minimum: early deletion only from weekly IA (30 → 90, 60 days: none).
    expect(tiers.months.reduce((a, m) => a + m.earlyDeletion, 0)).toBe(0);
    const deep = p.restores.find((r) => r.storageClass === 'DEEP_ARCHIVE')!;
    expect(deep.retrievalCost).toBeCloseTo(25 * 0.02 + 0.0004 / 1000, 10);
    expect(deep.hoursBeforeFirstByte).toBe(12);
  });

  test('every price table is dated and names its sources', () => {
    for (const p of Object.values(PRICES)) {
      expect(p.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(p.sources.length).toBeGreaterThan(0);
      for (const s of p.sources) expect(s).toMatch(/^https:\/\/(aws\.amazon\.com|docs\.aws\.amazon\.com)\//);
    }
    expect(() => pricesFor('mars-1')).toThrow(/no price table for region mars-1.*known: us-east-1/);
  });
});
