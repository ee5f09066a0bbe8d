/**
 * The scheduled freshness check: per database, how old the newest valid backup is and how its
 * size compares with the recent ones; and whether the backup KMS keys can still be used.
 *
 * Age is measured between two S3 timestamps, the newest manifest's LastModified and the Date
 * header of an S3 response taken right after listing, so a wrong clock on the machine running the
 * check (or a backup written by a machine with a wrong clock) cannot make a stale backup look
 * fresh. Only if the server sends no Date header does the local clock stand in, and the result
 * says so.
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
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { listBackups } from './catalog';
import { readText } from './s3';
import type { Tier } from './tiers';
export interface ReferenceTime {
  readonly time: Date;
  /** `server`: the Date header of an S3 response; `local`: this machine's clock (no header seen). */
  readonly source: 'server' | 'local';
}
export interface DatabaseFreshness {
  readonly databaseId: string;
  readonly newest?: {
    readonly backupId: string;
    readonly tier: Tier;
    readonly manifestKey: string;
    /** S3 LastModified of the manifest. */
    readonly lastModified: Date;
    readonly bytes: number;
  };
  /** Hours from the newest manifest's LastModified to the reference time; undefined when there is no backup. */
  readonly ageHours?: number;
  /** Newest size / median of up to 7 previous valid backups; undefined without a previous one. */
  readonly sizeRatio?: number;
  readonly medianPreviousBytes?: number;
  /** How many previous backups the median used (at most 7). */
  readonly previousCount: number;
  readonly validBackups: number;
  /**
   * Days the backups have gone without a PASSED restore drill: since the newest PASSED report, or,
   * before the first one, since the oldest valid backup (a database is unproven from its first
   * backup on). Undefined when there is neither.
   */
  readonly drillAgeDays?: number;
  /** The newest PASSED drill report, when there is one. */
  readonly lastPassedDrill?: {
    readonly key: string;
    readonly lastModified: Date;
  };
  readonly reference: ReferenceTime;
}
export interface KeyToCheck {
  /** Free text for reports and logs, e.g. `primary` / `replica`. */
  readonly label: string;
  readonly keyId: string;
  /** A KMS client in the key's region. */
  readonly kms: KMSClient;
}
export interface KeyStatus {
  readonly label: string;
  readonly keyId: string;
  /** Enabled and not pending deletion/import; anything else means new backups (or restores) fail. */
  readonly usable: boolean;
  /** KMS KeyState (Enabled, Disabled, PendingDeletion, ...) or `Unknown` when DescribeKey failed. */
  readonly state: string;
  readonly detail: string;
}
export interface FreshnessReport {
  readonly databases: readonly DatabaseFreshness[];
  readonly keys: readonly KeyStatus[];
}
export interface FreshnessOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly databaseIds: readonly string[];
  readonly keys?: readonly KeyToCheck[];
  /** Local clock, used only when S3 sends no Date header. @default () => new Date() */
  readonly now?: () => Date;
}

/** How many previous backups the size comparison looks at (DESIGN: "the median of the last 7"). */
export const SIZE_WINDOW = 7;
export function median(values: readonly number[]): number | undefined {
  if (stryMutAct_9fa48("175")) {
    {}
  } else {
    stryCov_9fa48("175");
    if (stryMutAct_9fa48("178") ? values.length !== 0 : stryMutAct_9fa48("177") ? false : stryMutAct_9fa48("176") ? true : (stryCov_9fa48("176", "177", "178"), values.length === 0)) return undefined;
    const sorted = stryMutAct_9fa48("179") ? [...values] : (stryCov_9fa48("179"), (stryMutAct_9fa48("180") ? [] : (stryCov_9fa48("180"), [...values])).sort(stryMutAct_9fa48("181") ? () => undefined : (stryCov_9fa48("181"), (a, b) => stryMutAct_9fa48("182") ? a + b : (stryCov_9fa48("182"), a - b))));
    const mid = Math.floor(stryMutAct_9fa48("183") ? sorted.length * 2 : (stryCov_9fa48("183"), sorted.length / 2));
    return (stryMutAct_9fa48("184") ? sorted.length * 2 : (stryCov_9fa48("184"), sorted.length % 2)) ? sorted[mid] : stryMutAct_9fa48("185") ? (sorted[mid - 1] + sorted[mid]) * 2 : (stryCov_9fa48("185"), (stryMutAct_9fa48("186") ? sorted[mid - 1] - sorted[mid] : (stryCov_9fa48("186"), sorted[stryMutAct_9fa48("187") ? mid + 1 : (stryCov_9fa48("187"), mid - 1)] + sorted[mid])) / 2);
  }
}

/** Newest size over the median of up to SIZE_WINDOW previous sizes (newest first). */
export function sizeRatio(newestBytes: number, previousBytes: readonly number[]): number | undefined {
  if (stryMutAct_9fa48("188")) {
    {}
  } else {
    stryCov_9fa48("188");
    const m = median(stryMutAct_9fa48("189") ? previousBytes : (stryCov_9fa48("189"), previousBytes.slice(0, SIZE_WINDOW)));
    if (stryMutAct_9fa48("192") ? m === undefined && m <= 0 : stryMutAct_9fa48("191") ? false : stryMutAct_9fa48("190") ? true : (stryCov_9fa48("190", "191", "192"), (stryMutAct_9fa48("194") ? m !== undefined : stryMutAct_9fa48("193") ? false : (stryCov_9fa48("193", "194"), m === undefined)) || (stryMutAct_9fa48("197") ? m > 0 : stryMutAct_9fa48("196") ? m < 0 : stryMutAct_9fa48("195") ? false : (stryCov_9fa48("195", "196", "197"), m <= 0)))) return undefined;
    return stryMutAct_9fa48("198") ? newestBytes * m : (stryCov_9fa48("198"), newestBytes / m);
  }
}

/**
 * The S3 server's idea of "now": the Date header of a cheap ListObjectsV2 response, read with a
 * command-level middleware so the shared client is not modified.
 */
export async function s3ServerTime(s3: S3Client, bucket: string): Promise<Date | undefined> {
  if (stryMutAct_9fa48("199")) {
    {}
  } else {
    stryCov_9fa48("199");
    const cmd = new ListObjectsV2Command(stryMutAct_9fa48("200") ? {} : (stryCov_9fa48("200"), {
      Bucket: bucket,
      Prefix: stryMutAct_9fa48("201") ? "" : (stryCov_9fa48("201"), '.restorable-clock-probe/'),
      MaxKeys: 1
    }));
    let header: string | undefined;
    cmd.middlewareStack.add(stryMutAct_9fa48("202") ? () => undefined : (stryCov_9fa48("202"), next => async args => {
      if (stryMutAct_9fa48("203")) {
        {}
      } else {
        stryCov_9fa48("203");
        const out = await next(args);
        const headers = stryMutAct_9fa48("204") ? (out.response as {
          headers?: Record<string, string | undefined>;
        } | undefined).headers : (stryCov_9fa48("204"), (out.response as {
          headers?: Record<string, string | undefined>;
        } | undefined)?.headers);
        header = stryMutAct_9fa48("205") ? headers?.date && headers?.Date : (stryCov_9fa48("205"), (stryMutAct_9fa48("206") ? headers.date : (stryCov_9fa48("206"), headers?.date)) ?? (stryMutAct_9fa48("207") ? headers.Date : (stryCov_9fa48("207"), headers?.Date)));
        return out;
      }
    }), stryMutAct_9fa48("208") ? {} : (stryCov_9fa48("208"), {
      step: stryMutAct_9fa48("209") ? "" : (stryCov_9fa48("209"), 'deserialize'),
      name: stryMutAct_9fa48("210") ? "" : (stryCov_9fa48("210"), 'restorableCaptureServerDate')
    }));
    await s3.send(cmd);
    if (stryMutAct_9fa48("213") ? false : stryMutAct_9fa48("212") ? true : stryMutAct_9fa48("211") ? header : (stryCov_9fa48("211", "212", "213"), !header)) return undefined;
    const t = new Date(header);
    return Number.isNaN(t.getTime()) ? undefined : t;
  }
}
export async function databaseFreshness(s3: S3Client, bucket: string, databaseId: string, options: {
  now?: () => Date;
} = {}): Promise<DatabaseFreshness> {
  if (stryMutAct_9fa48("214")) {
    {}
  } else {
    stryCov_9fa48("214");
    const valid = await listBackups(s3, bucket, databaseId);
    const server = await s3ServerTime(s3, bucket);
    const reference: ReferenceTime = server ? stryMutAct_9fa48("215") ? {} : (stryCov_9fa48("215"), {
      time: server,
      source: stryMutAct_9fa48("216") ? "" : (stryCov_9fa48("216"), 'server')
    }) : stryMutAct_9fa48("217") ? {} : (stryCov_9fa48("217"), {
      time: (stryMutAct_9fa48("218") ? options.now && (() => new Date()) : (stryCov_9fa48("218"), options.now ?? (stryMutAct_9fa48("219") ? () => undefined : (stryCov_9fa48("219"), () => new Date()))))(),
      source: stryMutAct_9fa48("220") ? "" : (stryCov_9fa48("220"), 'local')
    });
    const lastPassedDrill = await newestPassedDrill(s3, bucket, databaseId);
    const oldest = stryMutAct_9fa48("221") ? valid.at(-1).lastModified : (stryCov_9fa48("221"), valid.at(stryMutAct_9fa48("222") ? +1 : (stryCov_9fa48("222"), -1))?.lastModified);
    const provenSince = stryMutAct_9fa48("223") ? lastPassedDrill?.lastModified && oldest : (stryCov_9fa48("223"), (stryMutAct_9fa48("224") ? lastPassedDrill.lastModified : (stryCov_9fa48("224"), lastPassedDrill?.lastModified)) ?? oldest);
    const drill = stryMutAct_9fa48("225") ? {} : (stryCov_9fa48("225"), {
      ...(lastPassedDrill ? stryMutAct_9fa48("226") ? {} : (stryCov_9fa48("226"), {
        lastPassedDrill
      }) : {}),
      ...(provenSince ? stryMutAct_9fa48("227") ? {} : (stryCov_9fa48("227"), {
        drillAgeDays: stryMutAct_9fa48("228") ? Math.max(0, reference.time.getTime() - provenSince.getTime()) * 86_400_000 : (stryCov_9fa48("228"), (stryMutAct_9fa48("229") ? Math.min(0, reference.time.getTime() - provenSince.getTime()) : (stryCov_9fa48("229"), Math.max(0, stryMutAct_9fa48("230") ? reference.time.getTime() + provenSince.getTime() : (stryCov_9fa48("230"), reference.time.getTime() - provenSince.getTime())))) / 86_400_000)
      }) : {})
    });
    const [newest, ...previous] = valid;
    if (stryMutAct_9fa48("233") ? (!newest || !newest.lastModified) && newest.bytes === undefined : stryMutAct_9fa48("232") ? false : stryMutAct_9fa48("231") ? true : (stryCov_9fa48("231", "232", "233"), (stryMutAct_9fa48("235") ? !newest && !newest.lastModified : stryMutAct_9fa48("234") ? false : (stryCov_9fa48("234", "235"), (stryMutAct_9fa48("236") ? newest : (stryCov_9fa48("236"), !newest)) || (stryMutAct_9fa48("237") ? newest.lastModified : (stryCov_9fa48("237"), !newest.lastModified)))) || (stryMutAct_9fa48("239") ? newest.bytes !== undefined : stryMutAct_9fa48("238") ? false : (stryCov_9fa48("238", "239"), newest.bytes === undefined)))) {
      if (stryMutAct_9fa48("240")) {
        {}
      } else {
        stryCov_9fa48("240");
        return stryMutAct_9fa48("241") ? {} : (stryCov_9fa48("241"), {
          databaseId,
          previousCount: 0,
          validBackups: valid.length,
          reference,
          ...drill
        });
      }
    }
    const previousBytes = stryMutAct_9fa48("242") ? previous.map(e => e.bytes ?? 0) : (stryCov_9fa48("242"), previous.slice(0, SIZE_WINDOW).map(stryMutAct_9fa48("243") ? () => undefined : (stryCov_9fa48("243"), e => stryMutAct_9fa48("244") ? e.bytes && 0 : (stryCov_9fa48("244"), e.bytes ?? 0))));
    const ageMs = stryMutAct_9fa48("245") ? Math.min(0, reference.time.getTime() - newest.lastModified.getTime()) : (stryCov_9fa48("245"), Math.max(0, stryMutAct_9fa48("246") ? reference.time.getTime() + newest.lastModified.getTime() : (stryCov_9fa48("246"), reference.time.getTime() - newest.lastModified.getTime())));
    return stryMutAct_9fa48("247") ? {} : (stryCov_9fa48("247"), {
      databaseId,
      newest: stryMutAct_9fa48("248") ? {} : (stryCov_9fa48("248"), {
        backupId: newest.backupId,
        tier: newest.tier,
        manifestKey: newest.manifestKey,
        lastModified: newest.lastModified,
        bytes: newest.bytes
      }),
      ageHours: stryMutAct_9fa48("249") ? ageMs * 3_600_000 : (stryCov_9fa48("249"), ageMs / 3_600_000),
      sizeRatio: sizeRatio(newest.bytes, previousBytes),
      medianPreviousBytes: median(previousBytes),
      previousCount: previousBytes.length,
      validBackups: valid.length,
      reference,
      ...drill
    });
  }
}

/**
 * The newest drill report under `drills/<db>/` whose status is PASSED (reports are small and few:
 * one a month, expired by lifecycle). Age uses the report's S3 LastModified, like backup age.
 */
export async function newestPassedDrill(s3: S3Client, bucket: string, databaseId: string): Promise<{
  key: string;
  lastModified: Date;
} | undefined> {
  if (stryMutAct_9fa48("250")) {
    {}
  } else {
    stryCov_9fa48("250");
    const reports: _Object[] = stryMutAct_9fa48("251") ? ["Stryker was here"] : (stryCov_9fa48("251"), []);
    let token: string | undefined;
    do {
      if (stryMutAct_9fa48("252")) {
        {}
      } else {
        stryCov_9fa48("252");
        const page = await s3.send(new ListObjectsV2Command(stryMutAct_9fa48("253") ? {} : (stryCov_9fa48("253"), {
          Bucket: bucket,
          Prefix: stryMutAct_9fa48("254") ? `` : (stryCov_9fa48("254"), `drills/${databaseId}/`),
          ContinuationToken: token
        })));
        reports.push(...(stryMutAct_9fa48("255") ? page.Contents ?? [] : (stryCov_9fa48("255"), (stryMutAct_9fa48("256") ? page.Contents && [] : (stryCov_9fa48("256"), page.Contents ?? (stryMutAct_9fa48("257") ? ["Stryker was here"] : (stryCov_9fa48("257"), [])))).filter(stryMutAct_9fa48("258") ? () => undefined : (stryCov_9fa48("258"), o => stryMutAct_9fa48("261") ? o.Key?.endsWith('.json') || o.LastModified : stryMutAct_9fa48("260") ? false : stryMutAct_9fa48("259") ? true : (stryCov_9fa48("259", "260", "261"), (stryMutAct_9fa48("263") ? o.Key.endsWith('.json') : stryMutAct_9fa48("262") ? o.Key?.startsWith('.json') : (stryCov_9fa48("262", "263"), o.Key?.endsWith(stryMutAct_9fa48("264") ? "" : (stryCov_9fa48("264"), '.json')))) && o.LastModified))))));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      }
    } while (stryMutAct_9fa48("265") ? false : (stryCov_9fa48("265"), token));
    stryMutAct_9fa48("266") ? reports : (stryCov_9fa48("266"), reports.sort(stryMutAct_9fa48("267") ? () => undefined : (stryCov_9fa48("267"), (a, b) => stryMutAct_9fa48("268") ? b.LastModified!.getTime() + a.LastModified!.getTime() : (stryCov_9fa48("268"), b.LastModified!.getTime() - a.LastModified!.getTime()))));
    for (const r of reports) {
      if (stryMutAct_9fa48("269")) {
        {}
      } else {
        stryCov_9fa48("269");
        try {
          if (stryMutAct_9fa48("270")) {
            {}
          } else {
            stryCov_9fa48("270");
            const report = JSON.parse(await readText(s3, bucket, r.Key!)) as {
              status?: unknown;
            };
            if (stryMutAct_9fa48("273") ? report.status !== 'PASSED' : stryMutAct_9fa48("272") ? false : stryMutAct_9fa48("271") ? true : (stryCov_9fa48("271", "272", "273"), report.status === (stryMutAct_9fa48("274") ? "" : (stryCov_9fa48("274"), 'PASSED')))) return stryMutAct_9fa48("275") ? {} : (stryCov_9fa48("275"), {
              key: r.Key!,
              lastModified: r.LastModified!
            });
          }
        } catch {
          // An unreadable report proves nothing; look at the next one.
        }
      }
    }
    return undefined;
  }
}

/**
 * Whether a KMS key can be used: Enabled and in state `Enabled`. Disabled, PendingDeletion,
 * PendingImport, Unavailable or an error from DescribeKey all count as unusable.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
 */
export async function keyStatus(key: KeyToCheck): Promise<KeyStatus> {
  if (stryMutAct_9fa48("276")) {
    {}
  } else {
    stryCov_9fa48("276");
    try {
      if (stryMutAct_9fa48("277")) {
        {}
      } else {
        stryCov_9fa48("277");
        const out = await key.kms.send(new DescribeKeyCommand(stryMutAct_9fa48("278") ? {} : (stryCov_9fa48("278"), {
          KeyId: key.keyId
        })));
        const md = out.KeyMetadata;
        const state = stryMutAct_9fa48("279") ? md?.KeyState && 'Unknown' : (stryCov_9fa48("279"), (stryMutAct_9fa48("280") ? md.KeyState : (stryCov_9fa48("280"), md?.KeyState)) ?? (stryMutAct_9fa48("281") ? "" : (stryCov_9fa48("281"), 'Unknown')));
        const usable = stryMutAct_9fa48("284") ? md?.Enabled === true || state === 'Enabled' : stryMutAct_9fa48("283") ? false : stryMutAct_9fa48("282") ? true : (stryCov_9fa48("282", "283", "284"), (stryMutAct_9fa48("286") ? md?.Enabled !== true : stryMutAct_9fa48("285") ? true : (stryCov_9fa48("285", "286"), (stryMutAct_9fa48("287") ? md.Enabled : (stryCov_9fa48("287"), md?.Enabled)) === (stryMutAct_9fa48("288") ? false : (stryCov_9fa48("288"), true)))) && (stryMutAct_9fa48("290") ? state !== 'Enabled' : stryMutAct_9fa48("289") ? true : (stryCov_9fa48("289", "290"), state === (stryMutAct_9fa48("291") ? "" : (stryCov_9fa48("291"), 'Enabled')))));
        const detail = usable ? stryMutAct_9fa48("292") ? "" : (stryCov_9fa48("292"), 'enabled') : (stryMutAct_9fa48("295") ? state !== 'PendingDeletion' : stryMutAct_9fa48("294") ? false : stryMutAct_9fa48("293") ? true : (stryCov_9fa48("293", "294", "295"), state === (stryMutAct_9fa48("296") ? "" : (stryCov_9fa48("296"), 'PendingDeletion')))) ? stryMutAct_9fa48("297") ? `` : (stryCov_9fa48("297"), `pending deletion${(stryMutAct_9fa48("298") ? md.DeletionDate : (stryCov_9fa48("298"), md?.DeletionDate)) ? stryMutAct_9fa48("299") ? `` : (stryCov_9fa48("299"), ` on ${md.DeletionDate.toISOString()}`) : stryMutAct_9fa48("300") ? "Stryker was here!" : (stryCov_9fa48("300"), '')}`) : stryMutAct_9fa48("301") ? `` : (stryCov_9fa48("301"), `key state ${state}${(stryMutAct_9fa48("304") ? md?.Enabled !== false : stryMutAct_9fa48("303") ? false : stryMutAct_9fa48("302") ? true : (stryCov_9fa48("302", "303", "304"), (stryMutAct_9fa48("305") ? md.Enabled : (stryCov_9fa48("305"), md?.Enabled)) === (stryMutAct_9fa48("306") ? true : (stryCov_9fa48("306"), false)))) ? stryMutAct_9fa48("307") ? "" : (stryCov_9fa48("307"), ' (disabled)') : stryMutAct_9fa48("308") ? "Stryker was here!" : (stryCov_9fa48("308"), '')}`);
        return stryMutAct_9fa48("309") ? {} : (stryCov_9fa48("309"), {
          label: key.label,
          keyId: key.keyId,
          usable,
          state,
          detail
        });
      }
    } catch (e) {
      if (stryMutAct_9fa48("310")) {
        {}
      } else {
        stryCov_9fa48("310");
        return stryMutAct_9fa48("311") ? {} : (stryCov_9fa48("311"), {
          label: key.label,
          keyId: key.keyId,
          usable: stryMutAct_9fa48("312") ? true : (stryCov_9fa48("312"), false),
          state: stryMutAct_9fa48("313") ? "" : (stryCov_9fa48("313"), 'Unknown'),
          detail: stryMutAct_9fa48("314") ? `` : (stryCov_9fa48("314"), `DescribeKey failed: ${(e as Error).name}: ${(e as Error).message}`)
        });
      }
    }
  }
}
export async function checkFreshness(options: FreshnessOptions): Promise<FreshnessReport> {
  if (stryMutAct_9fa48("315")) {
    {}
  } else {
    stryCov_9fa48("315");
    const databases: DatabaseFreshness[] = stryMutAct_9fa48("316") ? ["Stryker was here"] : (stryCov_9fa48("316"), []);
    for (const id of options.databaseIds) {
      if (stryMutAct_9fa48("317")) {
        {}
      } else {
        stryCov_9fa48("317");
        databases.push(await databaseFreshness(options.s3, options.bucket, id, stryMutAct_9fa48("318") ? {} : (stryCov_9fa48("318"), {
          now: options.now
        })));
      }
    }
    const keys = await Promise.all((stryMutAct_9fa48("319") ? options.keys && [] : (stryCov_9fa48("319"), options.keys ?? (stryMutAct_9fa48("320") ? ["Stryker was here"] : (stryCov_9fa48("320"), [])))).map(keyStatus));
    return stryMutAct_9fa48("321") ? {} : (stryCov_9fa48("321"), {
      databases,
      keys
    });
  }
}