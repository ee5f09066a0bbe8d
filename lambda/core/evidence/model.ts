/**
 * The evidence report model: per database and day, what backups exist and whether they were
 * verified, where the recovery point objective was not met, every restore drill, and the
 * retention in force. Pure: it takes facts already read from the bucket (collect.ts) and decides
 * nothing from the local clock except through `now`, which callers take from S3's Date header.
 *
 * RPO compliance, chosen to match the "backup stale" alarm: at every moment of a day, the newest
 * *countable* backup (valid, and its newest verification record passed) is at most
 * `rpoHours + graceMinutes` old. A day is judged up to `now` only; later days are `future`.
 */
import type { StoredTier } from '../tiers';

export const EVIDENCE_FORMAT_VERSION = 1;

export interface BackupFact {
  readonly backupId: string;
  readonly databaseId: string;
  readonly tier: StoredTier;
  readonly period: string;
  readonly manifestKey: string;
  /** When the backup was committed: the manifest's S3 LastModified (else the time in its id). */
  readonly committedAt: Date;
  readonly bytes?: number;
  readonly sha256?: string;
  /** Listing says valid (manifest readable, agrees with its key, dump present with its size). */
  readonly valid: boolean;
  readonly problem?: string;
  readonly retainUntil?: string;
  readonly reason?: string;
  /** Newest verification record, when there is one. */
  readonly verification?: {
    readonly ok: boolean;
    readonly at: string;
    readonly by: string;
    readonly failed: readonly string[];
    readonly replica: 'present' | 'missing' | 'not-checked';
  };
}

export interface DrillFact {
  readonly drillId: string;
  readonly key: string;
  readonly startedAt: string;
  readonly status: 'PASSED' | 'FAILED';
  readonly failure?: { readonly step: string; readonly reason: string };
  readonly backupId: string | null;
  readonly rtoSeconds: number | null;
  readonly rtoTargetSeconds: number;
  readonly checks: { readonly passed: number; readonly failed: number; readonly total: number } | null;
  readonly instanceReleased: boolean;
  readonly source: string;
  /**
   * Where the backup was proven to restore: engine, server major and the pg_restore used, e.g.
   * `rds, PostgreSQL 16, pg_restore 16.4`; null for reports written before drills recorded it.
   */
  readonly restoredOn: string | null;
}

export interface BackupEvidence {
  readonly backupId: string;
  readonly tier: StoredTier;
  readonly committedAt: string;
  readonly bytes: number | null;
  readonly sha256: string | null;
  readonly valid: boolean;
  readonly problem?: string;
  /** true / false from the newest verification record; null when never verified. */
  readonly verified: boolean | null;
  readonly verifiedAt: string | null;
  readonly verifyFailures: readonly string[];
  /** From the newest verification: the replica copy checked present (true), missing (false) or not checked (null). */
  readonly replicaPresent: boolean | null;
  readonly retainUntil: string | null;
  readonly reason?: string;
  /** Counts toward the RPO: valid and verified. */
  readonly countable: boolean;
}

export type DayStatus = 'ok' | 'gap' | 'future';

export interface DayEvidence {
  /** `yyyy-mm-dd` (UTC). */
  readonly date: string;
  readonly status: DayStatus;
  readonly backups: readonly BackupEvidence[];
  /** The oldest the newest countable backup got during the day, hours; null for future days or when there was none at all. */
  readonly maxAgeHours: number | null;
}

export interface DrillEvidence extends DrillFact {
  readonly rtoMet: boolean | null;
}

export interface DatabaseEvidence {
  readonly databaseId: string;
  /** The RPO this database was judged against, hours. */
  readonly rpoHours: number;
  readonly days: readonly DayEvidence[];
  readonly gapDays: readonly string[];
  readonly drills: readonly DrillEvidence[];
  readonly summary: {
    readonly daysJudged: number;
    readonly daysCompliant: number;
    readonly backups: number;
    readonly verified: number;
    readonly verifyFailed: number;
    readonly unverified: number;
    readonly drills: number;
    readonly drillsPassed: number;
  };
}

export interface RetentionEvidence {
  /** Lifecycle rules as S3 reports them, or why they could not be read. */
  readonly lifecycle:
    | {
        readonly rules: readonly {
          id: string;
          prefix: string;
          expirationDays?: number;
          transitions: string[];
        }[];
      }
    | { readonly error: string };
  readonly objectLock:
    | { readonly enabled: boolean; readonly mode?: string; readonly days?: number; readonly years?: number }
    | { readonly error: string };
  /** Retention the backups themselves carry: Object Lock retain-until minus commit, per tier, in days. */
  readonly observedDays: Readonly<Partial<Record<StoredTier, { min: number; max: number; backups: number }>>>;
}

export interface EvidenceReport {
  readonly formatVersion: typeof EVIDENCE_FORMAT_VERSION;
  readonly generatedAt: string;
  /** Where `generatedAt` came from: S3's Date header, or this machine's clock when S3 sent none. */
  readonly clock: 'server' | 'local';
  readonly bucket: string;
  readonly from: string;
  readonly to: string;
  readonly rpoHours: number;
  readonly graceMinutes: number;
  readonly databases: readonly DatabaseEvidence[];
  readonly retention: RetentionEvidence;
}

export const DAY_MS = 86_400_000;

/** `yyyy-mm-dd` → the UTC midnight it starts at; throws on anything else. */
export function parseDay(value: string, flag = 'date'): Date {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new Error(`${flag} must be yyyy-mm-dd (got ${value})`);
  const d = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) {
    throw new Error(`${flag} is not a calendar day (got ${value})`);
  }
  return d;
}

export const dayOf = (d: Date): string => d.toISOString().slice(0, 10);

/** Every day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const start = parseDay(from, 'from');
  const end = parseDay(to, 'to');
  if (end < start) throw new Error(`to (${to}) is before from (${from})`);
  const out: string[] = [];
  for (let t = start.getTime(); t <= end.getTime(); t += DAY_MS) out.push(dayOf(new Date(t)));
  return out;
}

export function backupEvidence(b: BackupFact): BackupEvidence {
  const v = b.verification;
  return {
    backupId: b.backupId,
    tier: b.tier,
    committedAt: b.committedAt.toISOString(),
    bytes: b.bytes ?? null,
    sha256: b.sha256 ?? null,
    valid: b.valid,
    ...(b.problem ? { problem: b.problem } : {}),
    verified: v ? v.ok : null,
    verifiedAt: v?.at ?? null,
    verifyFailures: v?.failed ?? [],
    replicaPresent: !v || v.replica === 'not-checked' ? null : v.replica === 'present',
    retainUntil: b.retainUntil ?? null,
    ...(b.reason ? { reason: b.reason } : {}),
    countable: b.valid && v?.ok === true,
  };
}

/**
 * The oldest the newest countable backup gets during [start, end): checked just before each
 * backup committed inside the interval and at its end. Infinity when no backup covers the start.
 */
export function maxAgeMs(commits: readonly number[], start: number, end: number): number {
  let newest = -Infinity;
  for (const t of commits) if (t <= start) newest = Math.max(newest, t);
  let worst = 0;
  for (const t of [...commits].filter((c) => c > start && c < end).sort((a, b) => a - b)) {
    worst = Math.max(worst, t - newest);
    newest = t;
  }
  return Math.max(worst, end - newest);
}

export interface BuildOptions {
  readonly databaseId: string;
  readonly from: string;
  readonly to: string;
  readonly rpoHours: number;
  readonly graceMinutes: number;
  readonly now: Date;
  readonly backups: readonly BackupFact[];
  readonly drills: readonly DrillFact[];
}

export function buildDatabaseEvidence(o: BuildOptions): DatabaseEvidence {
  const limitMs = o.rpoHours * 3_600_000 + o.graceMinutes * 60_000;
  const evidence = o.backups.map(backupEvidence);
  const commits = evidence.filter((b) => b.countable).map((b) => Date.parse(b.committedAt));
  const days: DayEvidence[] = daysBetween(o.from, o.to).map((date) => {
    const start = parseDay(date).getTime();
    const backups = evidence
      .filter((b) => b.committedAt.slice(0, 10) === date)
      .sort((a, b) => a.committedAt.localeCompare(b.committedAt));
    if (start > o.now.getTime()) return { date, status: 'future' as const, backups, maxAgeHours: null };
    const end = Math.min(start + DAY_MS, o.now.getTime());
    const worst = maxAgeMs(commits, start, end);
    return {
      date,
      status: worst <= limitMs ? ('ok' as const) : ('gap' as const),
      backups,
      maxAgeHours: Number.isFinite(worst) ? Math.round((worst / 3_600_000) * 100) / 100 : null,
    };
  });
  const fromMs = parseDay(o.from).getTime();
  const toMs = parseDay(o.to).getTime() + DAY_MS;
  const drills: DrillEvidence[] = o.drills
    .filter((d) => Date.parse(d.startedAt) >= fromMs && Date.parse(d.startedAt) < toMs)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
    .map((d) => ({ ...d, rtoMet: d.rtoSeconds === null ? null : d.rtoSeconds <= d.rtoTargetSeconds }));
  const inRange = days.flatMap((d) => d.backups);
  const judged = days.filter((d) => d.status !== 'future');
  return {
    databaseId: o.databaseId,
    rpoHours: o.rpoHours,
    days,
    gapDays: days.filter((d) => d.status === 'gap').map((d) => d.date),
    drills,
    summary: {
      daysJudged: judged.length,
      daysCompliant: judged.filter((d) => d.status === 'ok').length,
      backups: inRange.length,
      verified: inRange.filter((b) => b.verified === true).length,
      verifyFailed: inRange.filter((b) => b.verified === false).length,
      unverified: inRange.filter((b) => b.verified === null).length,
      drills: drills.length,
      drillsPassed: drills.filter((d) => d.status === 'PASSED').length,
    },
  };
}

/** Retain-until minus commit time per tier, in whole days: the retention the objects carry. */
export function observedRetention(backups: readonly BackupFact[]): RetentionEvidence['observedDays'] {
  const out: Partial<Record<StoredTier, { min: number; max: number; backups: number }>> = {};
  for (const b of backups) {
    if (!b.retainUntil || !b.valid) continue;
    const days = Math.round((Date.parse(b.retainUntil) - b.committedAt.getTime()) / DAY_MS);
    const cur = out[b.tier];
    out[b.tier] = cur
      ? { min: Math.min(cur.min, days), max: Math.max(cur.max, days), backups: cur.backups + 1 }
      : { min: days, max: days, backups: 1 };
  }
  return out;
}
