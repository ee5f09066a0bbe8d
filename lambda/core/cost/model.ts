/**
 * The cost model: what the configured retention costs, month by month over seven years, in both
 * regions, against the same copies kept in S3 Standard and as RDS snapshots in AWS Backup.
 *
 * It simulates one backup a day placed by the real tiering code (tiers.ts, grandfather-father-son
 * by first success); each copy lives through its tier's storage classes until expiry. A month is
 * 30 days and storage is billed per GB-day / 30 (S3 bills per GB-hour over the calendar month;
 * the difference is under 2 %). Early deletion: an object that leaves a class (transition or
 * expiry) before the class's minimum duration is billed the remaining days at that class's price,
 * in the month it left, as S3 does.
 * @see https://aws.amazon.com/s3/pricing/ (minimum storage duration charges)
 */
import { placeBackup, type Tier } from '../tiers';
import { pricesFor, type RegionPrices, type StorageClass } from './prices';

export interface ClassStep {
  readonly storageClass: StorageClass;
  /** Days after creation the lifecycle moves the object into this class. */
  readonly afterDays: number;
}

export interface TierPolicy {
  readonly retentionDays: number;
  /** Increasing `afterDays`; the object starts in STANDARD. */
  readonly transitions: readonly ClassStep[];
}

export type RetentionPolicy = Readonly<Record<Tier, TierPolicy>>;

/** DESIGN.md's defaults (lib/constructs/backup-bucket.ts RetentionTiers.standard()). */
export const DEFAULT_POLICY: RetentionPolicy = {
  daily: { retentionDays: 30, transitions: [] },
  weekly: { retentionDays: 90, transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }] },
  monthly: { retentionDays: 365, transitions: [{ storageClass: 'GLACIER_IR', afterDays: 30 }] },
  yearly: {
    retentionDays: 2555,
    transitions: [
      { storageClass: 'GLACIER_IR', afterDays: 30 },
      { storageClass: 'DEEP_ARCHIVE', afterDays: 120 },
    ],
  },
};

const DAYS_PER_MONTH = 30;
/** Requests per backup, per region: dump, roles file, manifest, verification record. */
export const PUTS_PER_BACKUP = 4;
/** Verify reads the dump, roles file and manifest back once. */
export const GETS_PER_BACKUP = 3;

export interface Segment {
  readonly storageClass: StorageClass;
  readonly fromDay: number;
  readonly toDay: number;
}

/** The classes an object passes through, from creation to expiry (transitions at or past expiry never happen). */
export function segmentsOf(policy: TierPolicy): Segment[] {
  const steps = policy.transitions.filter((t) => t.afterDays < policy.retentionDays);
  const starts = [{ storageClass: 'STANDARD' as StorageClass, afterDays: 0 }, ...steps];
  return starts.map((s, i) => ({
    storageClass: s.storageClass,
    fromDay: s.afterDays,
    toDay: i + 1 < starts.length ? starts[i + 1].afterDays : policy.retentionDays,
  }));
}

export interface LifetimeCost {
  readonly storage: number;
  readonly earlyDeletion: number;
  readonly transitions: number;
}

/** The whole-life cost of one object of `gb` under `policy` (storage, early deletion, transition requests). */
export function objectLifetimeCost(gb: number, policy: TierPolicy, prices: RegionPrices): LifetimeCost {
  let storage = 0;
  let earlyDeletion = 0;
  let transitions = 0;
  for (const s of segmentsOf(policy)) {
    const price = prices.storage[s.storageClass];
    const days = s.toDay - s.fromDay;
    storage += (gb * price * days) / DAYS_PER_MONTH;
    const short = prices.minimumDays[s.storageClass] - days;
    if (short > 0) earlyDeletion += (gb * price * short) / DAYS_PER_MONTH;
    if (s.fromDay > 0) transitions += prices.putPer1000[s.storageClass] / 1000;
  }
  return { storage, earlyDeletion, transitions };
}

export interface MonthCost {
  readonly storage: Readonly<Record<StorageClass, number>>;
  readonly earlyDeletion: number;
  readonly requests: number;
  readonly replication: number;
  readonly drills: number;
  readonly total: number;
}

export interface ScenarioResult {
  readonly name: string;
  readonly months: readonly MonthCost[];
  readonly total: number;
  readonly note?: string;
}

export interface ProjectionInput {
  /** Size of one backup (the dump) on day 0, GB. */
  readonly backupGb: number;
  /** Size of the database itself (for drills and RDS snapshots), GB. */
  readonly databaseGb: number;
  /** Growth per month, percent (compounded daily). @default 0 */
  readonly growthPercentPerMonth?: number;
  readonly primaryRegion: string;
  readonly replicaRegion: string;
  /** @default DEFAULT_POLICY */
  readonly policy?: RetentionPolicy;
  /** @default 84 (seven years) */
  readonly months?: number;
  /** @default 2026-01-01 */
  readonly start?: Date;
  /** Which tier each day's backup lands in. @default - first-success GFS (tiers.ts) */
  readonly placement?: (at: Date, occupied: Set<string>) => Tier;
  readonly drillsPerMonth?: number;
  /** Hours a drill instance lives. @default 1 */
  readonly drillHours?: number;
  /** AWS Backup: changed share of the database per retained incremental snapshot. @default 0.05 */
  readonly snapshotChangeFraction?: number;
}

const zeroClasses = (): Record<StorageClass, number> => ({
  STANDARD: 0,
  STANDARD_IA: 0,
  GLACIER_IR: 0,
  DEEP_ARCHIVE: 0,
});

interface Ledger {
  storage: Record<StorageClass, number>;
  earlyDeletion: number;
  requests: number;
  replication: number;
  drills: number;
}
const newLedger = (): Ledger => ({
  storage: zeroClasses(),
  earlyDeletion: 0,
  requests: 0,
  replication: 0,
  drills: 0,
});

function finish(ledgers: Ledger[]): MonthCost[] {
  return ledgers.map((l) => ({
    ...l,
    total:
      Object.values(l.storage).reduce((a, b) => a + b, 0) +
      l.earlyDeletion +
      l.requests +
      l.replication +
      l.drills,
  }));
}

const gfsPlacement = (at: Date, occupied: Set<string>): Tier => {
  const p = placeBackup({ databaseId: 'x', at, occupied });
  return p.tier as Tier;
};

/** The day-by-day simulation of one scenario: every copy in every region, billed to the months it lives in. */
function simulate(input: ProjectionInput, policy: RetentionPolicy, withDrills: boolean): MonthCost[] {
  const months = input.months ?? 84;
  const horizon = months * DAYS_PER_MONTH;
  const start = (input.start ?? new Date('2026-01-01T02:00:00Z')).getTime();
  const growth = (input.growthPercentPerMonth ?? 0) / 100;
  const place = input.placement ?? gfsPlacement;
  const regions = [pricesFor(input.primaryRegion), pricesFor(input.replicaRegion)];
  const ledgers = Array.from({ length: months }, newLedger);
  const monthOf = (day: number) => Math.floor(day / DAYS_PER_MONTH);
  const occupied = new Set<string>();
  for (let day = 0; day < horizon; day++) {
    const at = new Date(start + day * 86_400_000);
    const tier = place(at, occupied);
    const placed = placeBackup({ databaseId: 'x', at, occupied: new Set(), tier });
    occupied.add(`${tier}/${placed.period}`);
    const gb = input.backupGb * Math.pow(1 + growth, day / DAYS_PER_MONTH);
    for (const [r, prices] of regions.entries()) {
      for (const s of segmentsOf(policy[tier])) {
        const price = prices.storage[s.storageClass];
        // Storage, spread over the months the segment covers (cut at the horizon).
        for (let d = day + s.fromDay; d < Math.min(day + s.toDay, horizon);) {
          const m = monthOf(d);
          const until = Math.min(day + s.toDay, horizon, (m + 1) * DAYS_PER_MONTH);
          ledgers[m].storage[s.storageClass] += (gb * price * (until - d)) / DAYS_PER_MONTH;
          d = until;
        }
        const leaves = day + s.toDay;
        const short = prices.minimumDays[s.storageClass] - (s.toDay - s.fromDay);
        if (short > 0 && leaves < horizon) {
          ledgers[monthOf(leaves)].earlyDeletion += (gb * price * short) / DAYS_PER_MONTH;
        }
        if (s.fromDay > 0 && day + s.fromDay < horizon) {
          ledgers[monthOf(day + s.fromDay)].requests += prices.putPer1000[s.storageClass] / 1000;
        }
      }
      const m = monthOf(day);
      ledgers[m].requests +=
        (PUTS_PER_BACKUP * prices.putPer1000.STANDARD) / 1000 +
        (GETS_PER_BACKUP * prices.getPer1000.STANDARD) / 1000;
      if (r === 0) {
        // Replication: every new byte crosses to the replica region once, under RTC.
        ledgers[m].replication += gb * (prices.interRegionTransferPerGb + prices.replicationTimeControlPerGb);
      }
    }
  }
  if (withDrills) {
    const p = regions[0];
    const hours = input.drillHours ?? 1;
    for (let m = 0; m < months; m++) {
      const dbGb = input.databaseGb * Math.pow(1 + growth, m);
      // Drills restore the newest backup (STANDARD: no retrieval fee) into a throwaway instance.
      ledgers[m].drills +=
        (input.drillsPerMonth ?? 1) *
        (hours * p.drillInstancePerHour + (dbGb * p.drillStoragePerGbMonth * hours) / (24 * DAYS_PER_MONTH));
    }
  }
  return finish(ledgers);
}

/** AWS Backup RDS snapshots with the same retention: incremental in warm storage; cold keeps full copies. */
function awsBackup(input: ProjectionInput, policy: RetentionPolicy, cold: boolean): MonthCost[] {
  const months = input.months ?? 84;
  const horizon = months * DAYS_PER_MONTH;
  const start = (input.start ?? new Date('2026-01-01T02:00:00Z')).getTime();
  const growth = (input.growthPercentPerMonth ?? 0) / 100;
  const change = input.snapshotChangeFraction ?? 0.05;
  const place = input.placement ?? gfsPlacement;
  const regions = [pricesFor(input.primaryRegion), pricesFor(input.replicaRegion)];
  const ledgers = Array.from({ length: months }, newLedger);
  const occupied = new Set<string>();
  const COLD_AFTER = 90;
  for (let day = 0; day < horizon; day++) {
    const at = new Date(start + day * 86_400_000);
    const tier = place(at, occupied);
    occupied.add(`${tier}/${placeBackup({ databaseId: 'x', at, occupied: new Set(), tier }).period}`);
    const dbGb = input.databaseGb * Math.pow(1 + growth, day / DAYS_PER_MONTH);
    // The first snapshot is full; every later one adds its changed blocks.
    const warmGb = day === 0 ? dbGb : dbGb * change;
    const life = policy[tier].retentionDays;
    const toCold = cold && life > COLD_AFTER + 90 ? COLD_AFTER : life; // AWS Backup: >= 90 days in cold
    for (const p of regions) {
      for (let d = day; d < Math.min(day + life, horizon); d++) {
        const m = Math.floor(d / DAYS_PER_MONTH);
        if (d < day + toCold)
          ledgers[m].storage.STANDARD += (warmGb * p.backupRdsWarmPerGbMonth) / DAYS_PER_MONTH;
        else ledgers[m].storage.GLACIER_IR += (dbGb * p.backupColdPerGbMonth) / DAYS_PER_MONTH;
      }
    }
    ledgers[Math.floor(day / DAYS_PER_MONTH)].replication += warmGb * regions[0].interRegionTransferPerGb;
  }
  return finish(ledgers);
}

export interface RestoreEstimate {
  readonly storageClass: StorageClass;
  readonly retrievalCost: number;
  readonly hoursBeforeFirstByte: number;
}

export interface CostProjection {
  readonly input: ProjectionInput;
  readonly prices: { readonly primary: RegionPrices; readonly replica: RegionPrices };
  readonly scenarios: readonly ScenarioResult[];
  /** A restore of today's backup size out of each class, in the primary region. */
  readonly restores: readonly RestoreEstimate[];
}

export function projectCost(input: ProjectionInput): CostProjection {
  const policy = input.policy ?? DEFAULT_POLICY;
  const standardOnly = Object.fromEntries(
    Object.entries(policy).map(([t, p]) => [t, { retentionDays: p.retentionDays, transitions: [] }]),
  ) as unknown as RetentionPolicy;
  const sum = (ms: readonly MonthCost[]) => ms.reduce((a, m) => a + m.total, 0);
  const scenario = (name: string, months: MonthCost[], note?: string): ScenarioResult => ({
    name,
    months,
    total: sum(months),
    ...(note ? { note } : {}),
  });
  const primary = pricesFor(input.primaryRegion);
  return {
    input,
    prices: { primary, replica: pricesFor(input.replicaRegion) },
    scenarios: [
      scenario('restorable (configured tiers)', simulate(input, policy, true)),
      scenario('same copies, S3 Standard only', simulate(input, standardOnly, true)),
      scenario(
        'AWS Backup RDS snapshots (warm)',
        awsBackup(input, policy, false),
        'incremental snapshots; each after the first adds the changed share of the database',
      ),
      scenario(
        'AWS Backup RDS snapshots (warm, then cold after 90 days)',
        awsBackup(input, policy, true),
        "cold storage priced as AWS Backup's cold tier; check the feature-availability table for RDS",
      ),
    ],
    restores: (['STANDARD', 'STANDARD_IA', 'GLACIER_IR', 'DEEP_ARCHIVE'] as StorageClass[]).map((c) => ({
      storageClass: c,
      retrievalCost: input.backupGb * primary.retrievalPerGb[c] + primary.getPer1000[c] / 1000,
      hoursBeforeFirstByte: primary.retrievalHours[c],
    })),
  };
}
