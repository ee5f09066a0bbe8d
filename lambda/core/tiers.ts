/**
 * Grandfather-father-son tiering by first success, and the key layout.
 *
 * A new backup goes to the highest tier whose current period holds no manifest yet (yearly, then
 * monthly, then weekly, else daily). A failed Sunday dump therefore does not lose the week: the
 * next successful one becomes the weekly. Each object is stored once, under its tier's prefix, so
 * four lifecycle rules (one per tier prefix) cover every database.
 *
 * Everything here is pure and works in UTC.
 */

export type Tier = 'yearly' | 'monthly' | 'weekly' | 'daily';

/** Highest first: the order in which first-success tiering fills periods. */
export const TIERS: readonly Tier[] = ['yearly', 'monthly', 'weekly', 'daily'];

/**
 * On-demand backups (before a migration, `restorable backup --reason`) live apart from the
 * grandfather-father-son tiers: they never fill a GFS period, and their own prefix gets its own
 * (short) lifecycle rule, so a burst of pre-migration backups neither displaces a weekly nor is
 * kept for seven years.
 */
export const ADHOC_TIER = 'adhoc';
/** Every prefix a backup can be stored under: the GFS tiers and `adhoc`. */
export type StoredTier = Tier | typeof ADHOC_TIER;
export const STORED_TIERS: readonly StoredTier[] = [...TIERS, ADHOC_TIER];

/** Retention of on-demand backups unless the config says otherwise. */
export const DEFAULT_ADHOC_RETENTION_DAYS = 30;

export interface RetentionDays {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
  /** On-demand backups. @default DEFAULT_ADHOC_RETENTION_DAYS */
  readonly adhoc?: number;
}

/** DESIGN.md defaults: daily 30 days, weekly 90, monthly 1 year, yearly 7 years. */
export const DEFAULT_RETENTION_DAYS: RetentionDays = { daily: 30, weekly: 90, monthly: 365, yearly: 2555 };

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

export function isStoredTier(value: string): value is StoredTier {
  return (STORED_TIERS as readonly string[]).includes(value);
}

/** Days a backup of `tier` is kept (and locked). */
export function retentionOf(tier: StoredTier, retention: RetentionDays = DEFAULT_RETENTION_DAYS): number {
  return tier === ADHOC_TIER ? (retention.adhoc ?? DEFAULT_ADHOC_RETENTION_DAYS) : retention[tier];
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** ISO-8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(at: Date): { year: number; week: number } {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const dayOfWeek = d.getUTCDay() || 7; // Monday 1 … Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - dayOfWeek); // the Thursday of this week decides the year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return { year: d.getUTCFullYear(), week };
}

/**
 * The period a timestamp falls in for a tier: `2026`, `2026-11`, `2026-W47`, `2026-11-22`;
 * on-demand backups are filed by day like dailies.
 */
export function periodOf(tier: StoredTier, at: Date): string {
  const y = at.getUTCFullYear();
  switch (tier) {
    case 'yearly':
      return String(y);
    case 'monthly':
      return `${y}-${pad(at.getUTCMonth() + 1)}`;
    case 'weekly': {
      const w = isoWeek(at);
      return `${w.year}-W${pad(w.week)}`;
    }
    case 'daily':
    case 'adhoc':
      return `${y}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  }
}

/** `yyyymmddThhmmssZ`, the timestamp part of a backup id. */
export function compactTimestamp(at: Date): string {
  return (
    `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}` +
    `T${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}Z`
  );
}

/** Database ids become S3 prefixes and resource names: lowercase, digits, hyphens. */
export const DATABASE_ID_PATTERN = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/;

export function assertDatabaseId(databaseId: string): void {
  if (!DATABASE_ID_PATTERN.test(databaseId)) {
    throw new Error(
      `database id "${databaseId}" is invalid: use 1-40 lowercase letters, digits and hyphens, starting with a letter`,
    );
  }
}

export function backupIdFor(databaseId: string, at: Date): string {
  assertDatabaseId(databaseId);
  return `${databaseId}-${compactTimestamp(at)}`;
}

/**
 * The object tag every dump archive is written with. Lifecycle transitions to colder storage
 * classes match this tag, so manifests, roles files and reports (written without it) never leave
 * instant-access storage while their archive moves to Glacier; expiry still covers every object.
 */
export const ARCHIVE_TAG = { key: 'restorable:kind', value: 'archive' } as const;

/** {@link ARCHIVE_TAG} in the URL-encoded form of the `x-amz-tagging` header (`Tagging` on PutObject). */
export const ARCHIVE_TAGGING = new URLSearchParams({ [ARCHIVE_TAG.key]: ARCHIVE_TAG.value }).toString();

/** Where drill reports live: `drills/<databaseId>/...` (also the prefix of their lifecycle rule). */
export const DRILL_REPORTS_PREFIX = 'drills/';

/** `<tier>/<databaseId>/`: one database's backups in one tier (`adhoc` included). */
export function tierPrefix(tier: StoredTier, databaseId: string): string {
  return `${tier}/${databaseId}/`;
}

/**
 * `<tier>/<databaseId>/` for every GFS tier and `adhoc`: everywhere one database's backups live
 * (the dump writes on-demand backups under `adhoc/`, and verify and drills read them there).
 */
export function backupPrefixes(databaseId: string): string[] {
  return STORED_TIERS.map((tier) => tierPrefix(tier, databaseId));
}

/** `drills/<databaseId>/`: where one database's drill reports live. */
export function drillReportPrefix(databaseId: string): string {
  return `${DRILL_REPORTS_PREFIX}${databaseId}/`;
}

export interface BackupKeys {
  readonly prefix: string;
  readonly dump: string;
  readonly globals: string;
  readonly manifest: string;
}

export function backupKeys(
  tier: StoredTier,
  databaseId: string,
  period: string,
  backupId: string,
): BackupKeys {
  const prefix = `${tierPrefix(tier, databaseId)}${period}/`;
  return {
    prefix,
    dump: `${prefix}${backupId}.dump`,
    globals: `${prefix}${backupId}.globals.sql`,
    manifest: `${prefix}${backupId}.manifest.json`,
  };
}

const MANIFEST_KEY =
  /^(yearly|monthly|weekly|daily|adhoc)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/;

/** Parses `<tier>/<db>/<period>/<backupId>.manifest.json`; undefined for any other key. */
export function parseManifestKey(
  key: string,
): { tier: StoredTier; databaseId: string; period: string; backupId: string } | undefined {
  const m = MANIFEST_KEY.exec(key);
  if (!m) return undefined;
  const [, tier, databaseId, period, backupId] = m;
  if (!backupId.startsWith(`${databaseId}-`)) return undefined;
  return { tier: tier as StoredTier, databaseId, period, backupId };
}

/** Where the scheduled evidence reports go (and what their writer is granted). */
export const EVIDENCE_REPORTS_PREFIX = 'reports/';

/** `reports/<yyyy-mm>/<name>`: where the scheduled evidence reports go. */
export function evidenceReportKey(month: string, name: string): string {
  if (!/^\d{4}-\d{2}$/.test(month)) throw new Error(`report month must be yyyy-mm (got ${month})`);
  return `${EVIDENCE_REPORTS_PREFIX}${month}/${name}`;
}

/** `drills/<databaseId>/<yyyy-mm>/<drillId>.json` */
export function drillReportKey(databaseId: string, at: Date, drillId: string): string {
  return `${drillReportPrefix(databaseId)}${periodOf('monthly', at)}/${drillId}.json`;
}

export interface Placement {
  readonly tier: StoredTier;
  readonly period: string;
  readonly backupId: string;
  readonly keys: BackupKeys;
  /** Object Lock retain-until: the tier's expiry, counted from the backup time. */
  readonly retainUntil: Date;
}

export interface PlacementInput {
  readonly databaseId: string;
  readonly at: Date;
  /**
   * Which periods already hold a successful backup (a manifest), as `"<tier>/<period>"`, e.g.
   * `"weekly/2026-W47"`. Only the periods that `at` falls into matter.
   */
  readonly occupied: ReadonlySet<string>;
  readonly retentionDays?: RetentionDays;
  /**
   * Force a tier (operator `backup --tier`), or `adhoc` for an on-demand backup outside the GFS
   * periods; the default picks by first success.
   */
  readonly tier?: StoredTier;
}

/** Decides where a new backup goes: its tier, period, id, keys and Object Lock retain-until. */
export function placeBackup(input: PlacementInput): Placement {
  const retention = input.retentionDays ?? DEFAULT_RETENTION_DAYS;
  const tier =
    input.tier ?? TIERS.find((t) => t === 'daily' || !input.occupied.has(`${t}/${periodOf(t, input.at)}`))!;
  const period = periodOf(tier, input.at);
  const backupId = backupIdFor(input.databaseId, input.at);
  return {
    tier,
    period,
    backupId,
    keys: backupKeys(tier, input.databaseId, period, backupId),
    retainUntil: new Date(input.at.getTime() + retentionOf(tier, retention) * 86_400_000),
  };
}

/** The `"<tier>/<period>"` strings whose occupancy decides the placement of a backup at `at`. */
export function candidatePeriods(at: Date): string[] {
  return TIERS.filter((t) => t !== 'daily').map((t) => `${t}/${periodOf(t, at)}`);
}
