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
// @ts-nocheck
function stryNS_9fa48() {
  var g = typeof globalThis === 'object' && globalThis && globalThis.Math === Math && globalThis || new Function("return this")();
  var ns = g.__stryker__ || (g.__stryker__ = {});
  if (ns.activeMutant === undefined && g.process && g.process.env && g.process.env.__STRYKER_ACTIVE_MUTANT__) {
    ns.activeMutant = g.process.env.__STRYKER_ACTIVE_MUTANT__;
  }
  function retrieveNS() {
    return ns;
  }
  stryNS_9fa48 = retrieveNS;
  return retrieveNS();
}
stryNS_9fa48();
function stryCov_9fa48() {
  var ns = stryNS_9fa48();
  var cov = ns.mutantCoverage || (ns.mutantCoverage = {
    static: {},
    perTest: {}
  });
  function cover() {
    var c = cov.static;
    if (ns.currentTestId) {
      c = cov.perTest[ns.currentTestId] = cov.perTest[ns.currentTestId] || {};
    }
    var a = arguments;
    for (var i = 0; i < a.length; i++) {
      c[a[i]] = (c[a[i]] || 0) + 1;
    }
  }
  stryCov_9fa48 = cover;
  cover.apply(null, arguments);
}
function stryMutAct_9fa48(id) {
  var ns = stryNS_9fa48();
  function isActive(id) {
    if (ns.activeMutant === id) {
      if (ns.hitCount !== void 0 && ++ns.hitCount > ns.hitLimit) {
        throw new Error('Stryker: Hit count limit reached (' + ns.hitCount + ')');
      }
      return true;
    }
    return false;
  }
  stryMutAct_9fa48 = isActive;
  return isActive(id);
}
export type Tier = 'yearly' | 'monthly' | 'weekly' | 'daily';

/** Highest first: the order in which first-success tiering fills periods. */
export const TIERS: readonly Tier[] = stryMutAct_9fa48("372") ? [] : (stryCov_9fa48("372"), [stryMutAct_9fa48("373") ? "" : (stryCov_9fa48("373"), 'yearly'), stryMutAct_9fa48("374") ? "" : (stryCov_9fa48("374"), 'monthly'), stryMutAct_9fa48("375") ? "" : (stryCov_9fa48("375"), 'weekly'), stryMutAct_9fa48("376") ? "" : (stryCov_9fa48("376"), 'daily')]);
export interface RetentionDays {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
}

/** DESIGN.md defaults: daily 30 days, weekly 90, monthly 1 year, yearly 7 years. */
export const DEFAULT_RETENTION_DAYS: RetentionDays = stryMutAct_9fa48("377") ? {} : (stryCov_9fa48("377"), {
  daily: 30,
  weekly: 90,
  monthly: 365,
  yearly: 2555
});
export function isTier(value: string): value is Tier {
  if (stryMutAct_9fa48("378")) {
    {}
  } else {
    stryCov_9fa48("378");
    return (TIERS as readonly string[]).includes(value);
  }
}
const pad = stryMutAct_9fa48("379") ? () => undefined : (stryCov_9fa48("379"), (() => {
  const pad = (n: number, width = 2): string => String(n).padStart(width, stryMutAct_9fa48("380") ? "" : (stryCov_9fa48("380"), '0'));
  return pad;
})());

/** ISO-8601 week: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(at: Date): {
  year: number;
  week: number;
} {
  if (stryMutAct_9fa48("381")) {
    {}
  } else {
    stryCov_9fa48("381");
    const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
    const dayOfWeek = stryMutAct_9fa48("384") ? d.getUTCDay() && 7 : stryMutAct_9fa48("383") ? false : stryMutAct_9fa48("382") ? true : (stryCov_9fa48("382", "383", "384"), d.getUTCDay() || 7); // Monday 1 … Sunday 7
    stryMutAct_9fa48("385") ? d.setTime(d.getUTCDate() + 4 - dayOfWeek) : (stryCov_9fa48("385"), d.setUTCDate(stryMutAct_9fa48("386") ? d.getUTCDate() + 4 + dayOfWeek : (stryCov_9fa48("386"), (stryMutAct_9fa48("387") ? d.getUTCDate() - 4 : (stryCov_9fa48("387"), d.getUTCDate() + 4)) - dayOfWeek))); // the Thursday of this week decides the year
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.ceil(stryMutAct_9fa48("388") ? ((d.getTime() - yearStart) / 86_400_000 + 1) * 7 : (stryCov_9fa48("388"), (stryMutAct_9fa48("389") ? (d.getTime() - yearStart) / 86_400_000 - 1 : (stryCov_9fa48("389"), (stryMutAct_9fa48("390") ? (d.getTime() - yearStart) * 86_400_000 : (stryCov_9fa48("390"), (stryMutAct_9fa48("391") ? d.getTime() + yearStart : (stryCov_9fa48("391"), d.getTime() - yearStart)) / 86_400_000)) + 1)) / 7));
    return stryMutAct_9fa48("392") ? {} : (stryCov_9fa48("392"), {
      year: d.getUTCFullYear(),
      week
    });
  }
}

/** The period a timestamp falls in for a tier: `2026`, `2026-11`, `2026-W47`, `2026-11-22`. */
export function periodOf(tier: Tier, at: Date): string {
  if (stryMutAct_9fa48("393")) {
    {}
  } else {
    stryCov_9fa48("393");
    const y = at.getUTCFullYear();
    switch (tier) {
      case stryMutAct_9fa48("395") ? "" : (stryCov_9fa48("395"), 'yearly'):
        if (stryMutAct_9fa48("394")) {} else {
          stryCov_9fa48("394");
          return String(y);
        }
      case stryMutAct_9fa48("397") ? "" : (stryCov_9fa48("397"), 'monthly'):
        if (stryMutAct_9fa48("396")) {} else {
          stryCov_9fa48("396");
          return stryMutAct_9fa48("398") ? `` : (stryCov_9fa48("398"), `${y}-${pad(stryMutAct_9fa48("399") ? at.getUTCMonth() - 1 : (stryCov_9fa48("399"), at.getUTCMonth() + 1))}`);
        }
      case stryMutAct_9fa48("401") ? "" : (stryCov_9fa48("401"), 'weekly'):
        if (stryMutAct_9fa48("400")) {} else {
          stryCov_9fa48("400");
          {
            if (stryMutAct_9fa48("402")) {
              {}
            } else {
              stryCov_9fa48("402");
              const w = isoWeek(at);
              return stryMutAct_9fa48("403") ? `` : (stryCov_9fa48("403"), `${w.year}-W${pad(w.week)}`);
            }
          }
        }
      case stryMutAct_9fa48("405") ? "" : (stryCov_9fa48("405"), 'daily'):
        if (stryMutAct_9fa48("404")) {} else {
          stryCov_9fa48("404");
          return stryMutAct_9fa48("406") ? `` : (stryCov_9fa48("406"), `${y}-${pad(stryMutAct_9fa48("407") ? at.getUTCMonth() - 1 : (stryCov_9fa48("407"), at.getUTCMonth() + 1))}-${pad(at.getUTCDate())}`);
        }
    }
  }
}

/** `yyyymmddThhmmssZ`, the timestamp part of a backup id. */
export function compactTimestamp(at: Date): string {
  if (stryMutAct_9fa48("408")) {
    {}
  } else {
    stryCov_9fa48("408");
    return (stryMutAct_9fa48("409") ? `` : (stryCov_9fa48("409"), `${at.getUTCFullYear()}${pad(stryMutAct_9fa48("410") ? at.getUTCMonth() - 1 : (stryCov_9fa48("410"), at.getUTCMonth() + 1))}${pad(at.getUTCDate())}`)) + (stryMutAct_9fa48("411") ? `` : (stryCov_9fa48("411"), `T${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}Z`));
  }
}

/** Database ids become S3 prefixes and resource names: lowercase, digits, hyphens. */
export const DATABASE_ID_PATTERN = stryMutAct_9fa48("420") ? /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[^a-z]$/ : stryMutAct_9fa48("419") ? /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]/ : stryMutAct_9fa48("418") ? /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|[a-z]$/ : stryMutAct_9fa48("417") ? /^[a-z][a-z0-9-]{0,38}[^a-z0-9]$|^[a-z]$/ : stryMutAct_9fa48("416") ? /^[a-z][^a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/ : stryMutAct_9fa48("415") ? /^[a-z][a-z0-9-][a-z0-9]$|^[a-z]$/ : stryMutAct_9fa48("414") ? /^[^a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/ : stryMutAct_9fa48("413") ? /^[a-z][a-z0-9-]{0,38}[a-z0-9]|^[a-z]$/ : stryMutAct_9fa48("412") ? /[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/ : (stryCov_9fa48("412", "413", "414", "415", "416", "417", "418", "419", "420"), /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/);
export function assertDatabaseId(databaseId: string): void {
  if (stryMutAct_9fa48("421")) {
    {}
  } else {
    stryCov_9fa48("421");
    if (stryMutAct_9fa48("424") ? false : stryMutAct_9fa48("423") ? true : stryMutAct_9fa48("422") ? DATABASE_ID_PATTERN.test(databaseId) : (stryCov_9fa48("422", "423", "424"), !DATABASE_ID_PATTERN.test(databaseId))) {
      if (stryMutAct_9fa48("425")) {
        {}
      } else {
        stryCov_9fa48("425");
        throw new Error(stryMutAct_9fa48("426") ? `` : (stryCov_9fa48("426"), `database id "${databaseId}" is invalid: use 1-40 lowercase letters, digits and hyphens, starting with a letter`));
      }
    }
  }
}
export function backupIdFor(databaseId: string, at: Date): string {
  if (stryMutAct_9fa48("427")) {
    {}
  } else {
    stryCov_9fa48("427");
    assertDatabaseId(databaseId);
    return stryMutAct_9fa48("428") ? `` : (stryCov_9fa48("428"), `${databaseId}-${compactTimestamp(at)}`);
  }
}
export interface BackupKeys {
  readonly prefix: string;
  readonly dump: string;
  readonly globals: string;
  readonly manifest: string;
}
export function backupKeys(tier: Tier, databaseId: string, period: string, backupId: string): BackupKeys {
  if (stryMutAct_9fa48("429")) {
    {}
  } else {
    stryCov_9fa48("429");
    const prefix = stryMutAct_9fa48("430") ? `` : (stryCov_9fa48("430"), `${tier}/${databaseId}/${period}/`);
    return stryMutAct_9fa48("431") ? {} : (stryCov_9fa48("431"), {
      prefix,
      dump: stryMutAct_9fa48("432") ? `` : (stryCov_9fa48("432"), `${prefix}${backupId}.dump`),
      globals: stryMutAct_9fa48("433") ? `` : (stryCov_9fa48("433"), `${prefix}${backupId}.globals.sql`),
      manifest: stryMutAct_9fa48("434") ? `` : (stryCov_9fa48("434"), `${prefix}${backupId}.manifest.json`)
    });
  }
}
const MANIFEST_KEY = stryMutAct_9fa48("446") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\D{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("445") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\dZ)\.manifest\.json$/ : stryMutAct_9fa48("444") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\D{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("443") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\dT\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("442") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([^a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("441") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("440") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([^0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("439") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-])\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("438") ? /^(yearly|monthly|weekly|daily)\/([^a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("437") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-])\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : stryMutAct_9fa48("436") ? /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json/ : stryMutAct_9fa48("435") ? /(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/ : (stryCov_9fa48("435", "436", "437", "438", "439", "440", "441", "442", "443", "444", "445", "446"), /^(yearly|monthly|weekly|daily)\/([a-z0-9-]+)\/([0-9W-]+)\/([a-z0-9-]+-\d{8}T\d{6}Z)\.manifest\.json$/);

/** Parses `<tier>/<db>/<period>/<backupId>.manifest.json`; undefined for any other key. */
export function parseManifestKey(key: string): {
  tier: Tier;
  databaseId: string;
  period: string;
  backupId: string;
} | undefined {
  if (stryMutAct_9fa48("447")) {
    {}
  } else {
    stryCov_9fa48("447");
    const m = MANIFEST_KEY.exec(key);
    if (stryMutAct_9fa48("450") ? false : stryMutAct_9fa48("449") ? true : stryMutAct_9fa48("448") ? m : (stryCov_9fa48("448", "449", "450"), !m)) return undefined;
    const [, tier, databaseId, period, backupId] = m;
    if (stryMutAct_9fa48("453") ? false : stryMutAct_9fa48("452") ? true : stryMutAct_9fa48("451") ? backupId.startsWith(`${databaseId}-`) : (stryCov_9fa48("451", "452", "453"), !(stryMutAct_9fa48("454") ? backupId.endsWith(`${databaseId}-`) : (stryCov_9fa48("454"), backupId.startsWith(stryMutAct_9fa48("455") ? `` : (stryCov_9fa48("455"), `${databaseId}-`)))))) return undefined;
    return stryMutAct_9fa48("456") ? {} : (stryCov_9fa48("456"), {
      tier: tier as Tier,
      databaseId,
      period,
      backupId
    });
  }
}

/** `drills/<databaseId>/<yyyy-mm>/<drillId>.json` */
export function drillReportKey(databaseId: string, at: Date, drillId: string): string {
  if (stryMutAct_9fa48("457")) {
    {}
  } else {
    stryCov_9fa48("457");
    return stryMutAct_9fa48("458") ? `` : (stryCov_9fa48("458"), `drills/${databaseId}/${periodOf(stryMutAct_9fa48("459") ? "" : (stryCov_9fa48("459"), 'monthly'), at)}/${drillId}.json`);
  }
}
export interface Placement {
  readonly tier: Tier;
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
  /** Force a tier (operator `backup --tier`); the default picks by first success. */
  readonly tier?: Tier;
}

/** Decides where a new backup goes: its tier, period, id, keys and Object Lock retain-until. */
export function placeBackup(input: PlacementInput): Placement {
  if (stryMutAct_9fa48("460")) {
    {}
  } else {
    stryCov_9fa48("460");
    const retention = stryMutAct_9fa48("461") ? input.retentionDays && DEFAULT_RETENTION_DAYS : (stryCov_9fa48("461"), input.retentionDays ?? DEFAULT_RETENTION_DAYS);
    const tier = stryMutAct_9fa48("462") ? input.tier && TIERS.find(t => t === 'daily' || !input.occupied.has(`${t}/${periodOf(t, input.at)}`))! : (stryCov_9fa48("462"), input.tier ?? TIERS.find(stryMutAct_9fa48("463") ? () => undefined : (stryCov_9fa48("463"), t => stryMutAct_9fa48("466") ? t === 'daily' && !input.occupied.has(`${t}/${periodOf(t, input.at)}`) : stryMutAct_9fa48("465") ? false : stryMutAct_9fa48("464") ? true : (stryCov_9fa48("464", "465", "466"), (stryMutAct_9fa48("468") ? t !== 'daily' : stryMutAct_9fa48("467") ? false : (stryCov_9fa48("467", "468"), t === (stryMutAct_9fa48("469") ? "" : (stryCov_9fa48("469"), 'daily')))) || (stryMutAct_9fa48("470") ? input.occupied.has(`${t}/${periodOf(t, input.at)}`) : (stryCov_9fa48("470"), !input.occupied.has(stryMutAct_9fa48("471") ? `` : (stryCov_9fa48("471"), `${t}/${periodOf(t, input.at)}`)))))))!);
    const period = periodOf(tier, input.at);
    const backupId = backupIdFor(input.databaseId, input.at);
    return stryMutAct_9fa48("472") ? {} : (stryCov_9fa48("472"), {
      tier,
      period,
      backupId,
      keys: backupKeys(tier, input.databaseId, period, backupId),
      retainUntil: new Date(stryMutAct_9fa48("473") ? input.at.getTime() - retention[tier] * 86_400_000 : (stryCov_9fa48("473"), input.at.getTime() + (stryMutAct_9fa48("474") ? retention[tier] / 86_400_000 : (stryCov_9fa48("474"), retention[tier] * 86_400_000))))
    });
  }
}

/** The `"<tier>/<period>"` strings whose occupancy decides the placement of a backup at `at`. */
export function candidatePeriods(at: Date): string[] {
  if (stryMutAct_9fa48("475")) {
    {}
  } else {
    stryCov_9fa48("475");
    return stryMutAct_9fa48("476") ? TIERS.map(t => `${t}/${periodOf(t, at)}`) : (stryCov_9fa48("476"), TIERS.filter(stryMutAct_9fa48("477") ? () => undefined : (stryCov_9fa48("477"), t => stryMutAct_9fa48("480") ? t === 'daily' : stryMutAct_9fa48("479") ? false : stryMutAct_9fa48("478") ? true : (stryCov_9fa48("478", "479", "480"), t !== (stryMutAct_9fa48("481") ? "" : (stryCov_9fa48("481"), 'daily'))))).map(stryMutAct_9fa48("482") ? () => undefined : (stryCov_9fa48("482"), t => stryMutAct_9fa48("483") ? `` : (stryCov_9fa48("483"), `${t}/${periodOf(t, at)}`))));
  }
}