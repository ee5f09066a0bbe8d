/**
 * What backups exist, read from the bucket itself: the manifests under every tier prefix.
 *
 * A backup is *valid* when its manifest parses, agrees with its key, and the dump object it names
 * exists with the manifest's byte count. Anything else (an orphaned dump whose manifest is
 * missing, a manifest that is garbage, a dump that vanished or changed size) is not a backup as
 * far as placement, freshness and drills are concerned; `includeInvalid` lists them with the
 * problem for operators.
 *
 * "Latest good" for drills: `latestValidBackup(..., { verify })` re-verifies candidates newest
 * first (streams the object back, SHA-256 and size, optionally the archive TOC) and skips those
 * that fail. We chose this over writing "verified" marker objects: a marker records that bytes
 * were good once, while bit rot or a replaced object version can make them bad later; the drill
 * reads the whole object anyway, so checking it first costs one extra read and trusts nothing
 * stale.
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
import { HeadObjectCommand, ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { parseManifest, type Manifest } from './manifest';
import { isNotFound, readText } from './s3';
import { candidatePeriods, parseManifestKey, TIERS, type Tier } from './tiers';
import { verifyBackup, type VerifyOptions, type VerifyResult } from './verify';
export interface BackupEntry {
  readonly backupId: string;
  readonly databaseId: string;
  readonly tier: Tier;
  readonly period: string;
  readonly manifestKey: string;
  /** Key of the dump archive (from the manifest, or derived from the id when the manifest is unusable). */
  readonly dumpKey: string;
  /** Present when the manifest parsed. */
  readonly manifest?: Manifest;
  readonly valid: boolean;
  /** Why the entry is not valid. */
  readonly problem?: string;
  /** When the backup ran: the timestamp in its id (what ordering uses). */
  readonly createdAt: Date;
  /** S3 LastModified of the manifest (the commit), or of the dump when there is no manifest. */
  readonly lastModified?: Date;
  /** Dump size in bytes, from the manifest (or the object when there is no manifest). */
  readonly bytes?: number;
}
export interface ListBackupsOptions {
  /** Only this tier. @default - all four */
  readonly tier?: Tier;
  /** Also return entries that are not valid (with `problem`). @default false */
  readonly includeInvalid?: boolean;
  /** Only keys under this period (with `tier`), e.g. `2026-W47`. @default - every period */
  readonly period?: string;
}
const DUMP_SUFFIX = stryMutAct_9fa48("0") ? "" : (stryCov_9fa48("0"), '.dump');
const MANIFEST_SUFFIX = stryMutAct_9fa48("1") ? "" : (stryCov_9fa48("1"), '.manifest.json');

/** `2026…T020000Z` in a backup id → Date. */
export function backupIdTime(backupId: string): Date {
  if (stryMutAct_9fa48("2")) {
    {}
  } else {
    stryCov_9fa48("2");
    const m = (stryMutAct_9fa48("15") ? /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\D{2})Z$/ : stryMutAct_9fa48("14") ? /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d)Z$/ : stryMutAct_9fa48("13") ? /(\d{4})(\d{2})(\d{2})T(\d{2})(\D{2})(\d{2})Z$/ : stryMutAct_9fa48("12") ? /(\d{4})(\d{2})(\d{2})T(\d{2})(\d)(\d{2})Z$/ : stryMutAct_9fa48("11") ? /(\d{4})(\d{2})(\d{2})T(\D{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("10") ? /(\d{4})(\d{2})(\d{2})T(\d)(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("9") ? /(\d{4})(\d{2})(\D{2})T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("8") ? /(\d{4})(\d{2})(\d)T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("7") ? /(\d{4})(\D{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("6") ? /(\d{4})(\d)(\d{2})T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("5") ? /(\D{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("4") ? /(\d)(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/ : stryMutAct_9fa48("3") ? /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/ : (stryCov_9fa48("3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"), /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/)).exec(backupId);
    if (stryMutAct_9fa48("18") ? false : stryMutAct_9fa48("17") ? true : stryMutAct_9fa48("16") ? m : (stryCov_9fa48("16", "17", "18"), !m)) throw new Error(stryMutAct_9fa48("19") ? `` : (stryCov_9fa48("19"), `backup id "${backupId}" has no timestamp`));
    const [, y, mo, d, h, mi, s] = m.map(Number);
    return new Date(Date.UTC(y, stryMutAct_9fa48("20") ? mo + 1 : (stryCov_9fa48("20"), mo - 1), d, h, mi, s));
  }
}
async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<_Object[]> {
  if (stryMutAct_9fa48("21")) {
    {}
  } else {
    stryCov_9fa48("21");
    const out: _Object[] = stryMutAct_9fa48("22") ? ["Stryker was here"] : (stryCov_9fa48("22"), []);
    let token: string | undefined;
    do {
      if (stryMutAct_9fa48("23")) {
        {}
      } else {
        stryCov_9fa48("23");
        const page = await s3.send(new ListObjectsV2Command(stryMutAct_9fa48("24") ? {} : (stryCov_9fa48("24"), {
          Bucket: bucket,
          Prefix: prefix,
          ContinuationToken: token
        })));
        out.push(...(stryMutAct_9fa48("25") ? page.Contents && [] : (stryCov_9fa48("25"), page.Contents ?? (stryMutAct_9fa48("26") ? ["Stryker was here"] : (stryCov_9fa48("26"), [])))));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      }
    } while (stryMutAct_9fa48("27") ? false : (stryCov_9fa48("27"), token));
    return out;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  if (stryMutAct_9fa48("28")) {
    {}
  } else {
    stryCov_9fa48("28");
    const results = stryMutAct_9fa48("29") ? new Array() : (stryCov_9fa48("29"), new Array<R>(items.length));
    let next = 0;
    const worker = async () => {
      if (stryMutAct_9fa48("30")) {
        {}
      } else {
        stryCov_9fa48("30");
        while (stryMutAct_9fa48("33") ? next >= items.length : stryMutAct_9fa48("32") ? next <= items.length : stryMutAct_9fa48("31") ? false : (stryCov_9fa48("31", "32", "33"), next < items.length)) {
          if (stryMutAct_9fa48("34")) {
            {}
          } else {
            stryCov_9fa48("34");
            const i = stryMutAct_9fa48("35") ? next-- : (stryCov_9fa48("35"), next++);
            results[i] = await fn(items[i]);
          }
        }
      }
    };
    await Promise.all(Array.from(stryMutAct_9fa48("36") ? {} : (stryCov_9fa48("36"), {
      length: stryMutAct_9fa48("37") ? Math.max(limit, items.length) : (stryCov_9fa48("37"), Math.min(limit, items.length))
    }), worker));
    return results;
  }
}
async function inspectManifest(s3: S3Client, bucket: string, obj: _Object, parsed: NonNullable<ReturnType<typeof parseManifestKey>>): Promise<BackupEntry> {
  if (stryMutAct_9fa48("38")) {
    {}
  } else {
    stryCov_9fa48("38");
    const key = obj.Key!;
    const dumpKey = stryMutAct_9fa48("39") ? key.slice(0, -MANIFEST_SUFFIX.length) - DUMP_SUFFIX : (stryCov_9fa48("39"), (stryMutAct_9fa48("40") ? key : (stryCov_9fa48("40"), key.slice(0, stryMutAct_9fa48("41") ? +MANIFEST_SUFFIX.length : (stryCov_9fa48("41"), -MANIFEST_SUFFIX.length)))) + DUMP_SUFFIX);
    const base = stryMutAct_9fa48("42") ? {} : (stryCov_9fa48("42"), {
      backupId: parsed.backupId,
      databaseId: parsed.databaseId,
      tier: parsed.tier,
      period: parsed.period,
      manifestKey: key,
      dumpKey,
      createdAt: backupIdTime(parsed.backupId),
      lastModified: obj.LastModified
    });
    let manifest: Manifest;
    try {
      if (stryMutAct_9fa48("43")) {
        {}
      } else {
        stryCov_9fa48("43");
        manifest = parseManifest(await readText(s3, bucket, key));
      }
    } catch (e) {
      if (stryMutAct_9fa48("44")) {
        {}
      } else {
        stryCov_9fa48("44");
        if (stryMutAct_9fa48("46") ? false : stryMutAct_9fa48("45") ? true : (stryCov_9fa48("45", "46"), isNotFound(e))) return stryMutAct_9fa48("47") ? {} : (stryCov_9fa48("47"), {
          ...base,
          valid: stryMutAct_9fa48("48") ? true : (stryCov_9fa48("48"), false),
          problem: stryMutAct_9fa48("49") ? "" : (stryCov_9fa48("49"), 'manifest disappeared while listing')
        });
        return stryMutAct_9fa48("50") ? {} : (stryCov_9fa48("50"), {
          ...base,
          valid: stryMutAct_9fa48("51") ? true : (stryCov_9fa48("51"), false),
          problem: stryMutAct_9fa48("52") ? `` : (stryCov_9fa48("52"), `manifest unreadable: ${(e as Error).message}`)
        });
      }
    }
    const withManifest = stryMutAct_9fa48("53") ? {} : (stryCov_9fa48("53"), {
      ...base,
      manifest,
      dumpKey: manifest.object.key,
      bytes: manifest.object.bytes
    });
    const mismatch = (stryMutAct_9fa48("56") ? manifest.backupId === parsed.backupId : stryMutAct_9fa48("55") ? false : stryMutAct_9fa48("54") ? true : (stryCov_9fa48("54", "55", "56"), manifest.backupId !== parsed.backupId)) ? stryMutAct_9fa48("57") ? `` : (stryCov_9fa48("57"), `manifest backupId ${manifest.backupId} does not match its key`) : (stryMutAct_9fa48("60") ? manifest.databaseId === parsed.databaseId : stryMutAct_9fa48("59") ? false : stryMutAct_9fa48("58") ? true : (stryCov_9fa48("58", "59", "60"), manifest.databaseId !== parsed.databaseId)) ? stryMutAct_9fa48("61") ? `` : (stryCov_9fa48("61"), `manifest databaseId ${manifest.databaseId} does not match its key`) : (stryMutAct_9fa48("64") ? manifest.tier !== parsed.tier && manifest.period !== parsed.period : stryMutAct_9fa48("63") ? false : stryMutAct_9fa48("62") ? true : (stryCov_9fa48("62", "63", "64"), (stryMutAct_9fa48("66") ? manifest.tier === parsed.tier : stryMutAct_9fa48("65") ? false : (stryCov_9fa48("65", "66"), manifest.tier !== parsed.tier)) || (stryMutAct_9fa48("68") ? manifest.period === parsed.period : stryMutAct_9fa48("67") ? false : (stryCov_9fa48("67", "68"), manifest.period !== parsed.period)))) ? stryMutAct_9fa48("69") ? `` : (stryCov_9fa48("69"), `manifest tier/period ${manifest.tier}/${manifest.period} does not match its key`) : (stryMutAct_9fa48("72") ? manifest.object.key === dumpKey : stryMutAct_9fa48("71") ? false : stryMutAct_9fa48("70") ? true : (stryCov_9fa48("70", "71", "72"), manifest.object.key !== dumpKey)) ? stryMutAct_9fa48("73") ? `` : (stryCov_9fa48("73"), `manifest names dump ${manifest.object.key}, expected ${dumpKey}`) : undefined;
    if (stryMutAct_9fa48("75") ? false : stryMutAct_9fa48("74") ? true : (stryCov_9fa48("74", "75"), mismatch)) return stryMutAct_9fa48("76") ? {} : (stryCov_9fa48("76"), {
      ...withManifest,
      valid: stryMutAct_9fa48("77") ? true : (stryCov_9fa48("77"), false),
      problem: mismatch
    });
    try {
      if (stryMutAct_9fa48("78")) {
        {}
      } else {
        stryCov_9fa48("78");
        const head = await s3.send(new HeadObjectCommand(stryMutAct_9fa48("79") ? {} : (stryCov_9fa48("79"), {
          Bucket: bucket,
          Key: manifest.object.key
        })));
        if (stryMutAct_9fa48("82") ? head.ContentLength === manifest.object.bytes : stryMutAct_9fa48("81") ? false : stryMutAct_9fa48("80") ? true : (stryCov_9fa48("80", "81", "82"), head.ContentLength !== manifest.object.bytes)) {
          if (stryMutAct_9fa48("83")) {
            {}
          } else {
            stryCov_9fa48("83");
            return stryMutAct_9fa48("84") ? {} : (stryCov_9fa48("84"), {
              ...withManifest,
              valid: stryMutAct_9fa48("85") ? true : (stryCov_9fa48("85"), false),
              problem: stryMutAct_9fa48("86") ? `` : (stryCov_9fa48("86"), `dump is ${head.ContentLength} bytes, manifest says ${manifest.object.bytes}`)
            });
          }
        }
      }
    } catch (e) {
      if (stryMutAct_9fa48("87")) {
        {}
      } else {
        stryCov_9fa48("87");
        if (stryMutAct_9fa48("89") ? false : stryMutAct_9fa48("88") ? true : (stryCov_9fa48("88", "89"), isNotFound(e))) return stryMutAct_9fa48("90") ? {} : (stryCov_9fa48("90"), {
          ...withManifest,
          valid: stryMutAct_9fa48("91") ? true : (stryCov_9fa48("91"), false),
          problem: stryMutAct_9fa48("92") ? "" : (stryCov_9fa48("92"), 'dump object missing')
        });
        throw e;
      }
    }
    return stryMutAct_9fa48("93") ? {} : (stryCov_9fa48("93"), {
      ...withManifest,
      valid: stryMutAct_9fa48("94") ? false : (stryCov_9fa48("94"), true)
    });
  }
}

/**
 * Backups of one database across tiers, newest first (by the time in the backup id; ties by
 * manifest LastModified).
 */
export async function listBackups(s3: S3Client, bucket: string, databaseId: string, options: ListBackupsOptions = {}): Promise<BackupEntry[]> {
  if (stryMutAct_9fa48("95")) {
    {}
  } else {
    stryCov_9fa48("95");
    const tiers = options.tier ? stryMutAct_9fa48("96") ? [] : (stryCov_9fa48("96"), [options.tier]) : TIERS;
    const prefixes = tiers.map(stryMutAct_9fa48("97") ? () => undefined : (stryCov_9fa48("97"), t => stryMutAct_9fa48("98") ? `` : (stryCov_9fa48("98"), `${t}/${databaseId}/${(stryMutAct_9fa48("101") ? options.period || options.tier : stryMutAct_9fa48("100") ? false : stryMutAct_9fa48("99") ? true : (stryCov_9fa48("99", "100", "101"), options.period && options.tier)) ? stryMutAct_9fa48("102") ? `` : (stryCov_9fa48("102"), `${options.period}/`) : stryMutAct_9fa48("103") ? "Stryker was here!" : (stryCov_9fa48("103"), '')}`)));
    const objects = (await Promise.all(prefixes.map(stryMutAct_9fa48("104") ? () => undefined : (stryCov_9fa48("104"), p => listAll(s3, bucket, p))))).flat();
    const manifests: {
      obj: _Object;
      parsed: NonNullable<ReturnType<typeof parseManifestKey>>;
    }[] = stryMutAct_9fa48("105") ? ["Stryker was here"] : (stryCov_9fa48("105"), []);
    const manifestKeys = new Set<string>();
    for (const obj of objects) {
      if (stryMutAct_9fa48("106")) {
        {}
      } else {
        stryCov_9fa48("106");
        const parsed = obj.Key ? parseManifestKey(obj.Key) : undefined;
        if (stryMutAct_9fa48("109") ? parsed || parsed.databaseId === databaseId : stryMutAct_9fa48("108") ? false : stryMutAct_9fa48("107") ? true : (stryCov_9fa48("107", "108", "109"), parsed && (stryMutAct_9fa48("111") ? parsed.databaseId !== databaseId : stryMutAct_9fa48("110") ? true : (stryCov_9fa48("110", "111"), parsed.databaseId === databaseId)))) {
          if (stryMutAct_9fa48("112")) {
            {}
          } else {
            stryCov_9fa48("112");
            manifests.push(stryMutAct_9fa48("113") ? {} : (stryCov_9fa48("113"), {
              obj,
              parsed
            }));
            manifestKeys.add(obj.Key!);
          }
        }
      }
    }
    const entries = await mapLimit(manifests, 8, stryMutAct_9fa48("114") ? () => undefined : (stryCov_9fa48("114"), ({
      obj,
      parsed
    }) => inspectManifest(s3, bucket, obj, parsed)));
    if (stryMutAct_9fa48("116") ? false : stryMutAct_9fa48("115") ? true : (stryCov_9fa48("115", "116"), options.includeInvalid)) {
      if (stryMutAct_9fa48("117")) {
        {}
      } else {
        stryCov_9fa48("117");
        // Dumps without a manifest: failed or in-flight runs, or a manifest deleted since.
        for (const obj of objects) {
          if (stryMutAct_9fa48("118")) {
            {}
          } else {
            stryCov_9fa48("118");
            if (stryMutAct_9fa48("121") ? false : stryMutAct_9fa48("120") ? true : stryMutAct_9fa48("119") ? obj.Key?.endsWith(DUMP_SUFFIX) : (stryCov_9fa48("119", "120", "121"), !(stryMutAct_9fa48("123") ? obj.Key.endsWith(DUMP_SUFFIX) : stryMutAct_9fa48("122") ? obj.Key?.startsWith(DUMP_SUFFIX) : (stryCov_9fa48("122", "123"), obj.Key?.endsWith(DUMP_SUFFIX))))) continue;
            const manifestKey = stryMutAct_9fa48("124") ? obj.Key.slice(0, -DUMP_SUFFIX.length) - MANIFEST_SUFFIX : (stryCov_9fa48("124"), (stryMutAct_9fa48("125") ? obj.Key : (stryCov_9fa48("125"), obj.Key.slice(0, stryMutAct_9fa48("126") ? +DUMP_SUFFIX.length : (stryCov_9fa48("126"), -DUMP_SUFFIX.length)))) + MANIFEST_SUFFIX);
            const parsed = parseManifestKey(manifestKey);
            if (stryMutAct_9fa48("129") ? (!parsed || parsed.databaseId !== databaseId) && manifestKeys.has(manifestKey) : stryMutAct_9fa48("128") ? false : stryMutAct_9fa48("127") ? true : (stryCov_9fa48("127", "128", "129"), (stryMutAct_9fa48("131") ? !parsed && parsed.databaseId !== databaseId : stryMutAct_9fa48("130") ? false : (stryCov_9fa48("130", "131"), (stryMutAct_9fa48("132") ? parsed : (stryCov_9fa48("132"), !parsed)) || (stryMutAct_9fa48("134") ? parsed.databaseId === databaseId : stryMutAct_9fa48("133") ? false : (stryCov_9fa48("133", "134"), parsed.databaseId !== databaseId)))) || manifestKeys.has(manifestKey))) continue;
            entries.push(stryMutAct_9fa48("135") ? {} : (stryCov_9fa48("135"), {
              backupId: parsed.backupId,
              databaseId,
              tier: parsed.tier,
              period: parsed.period,
              manifestKey,
              dumpKey: obj.Key,
              createdAt: backupIdTime(parsed.backupId),
              lastModified: obj.LastModified,
              bytes: obj.Size,
              valid: stryMutAct_9fa48("136") ? true : (stryCov_9fa48("136"), false),
              problem: stryMutAct_9fa48("137") ? "" : (stryCov_9fa48("137"), 'manifest missing (run failed, still running, or manifest deleted)')
            }));
          }
        }
      }
    }
    const sorted = stryMutAct_9fa48("138") ? entries : (stryCov_9fa48("138"), entries.sort(stryMutAct_9fa48("139") ? () => undefined : (stryCov_9fa48("139"), (a, b) => stryMutAct_9fa48("142") ? (b.createdAt.getTime() - a.createdAt.getTime() || (b.lastModified?.getTime() ?? 0) - (a.lastModified?.getTime() ?? 0)) && b.backupId.localeCompare(a.backupId) : stryMutAct_9fa48("141") ? false : stryMutAct_9fa48("140") ? true : (stryCov_9fa48("140", "141", "142"), (stryMutAct_9fa48("144") ? b.createdAt.getTime() - a.createdAt.getTime() && (b.lastModified?.getTime() ?? 0) - (a.lastModified?.getTime() ?? 0) : stryMutAct_9fa48("143") ? false : (stryCov_9fa48("143", "144"), (stryMutAct_9fa48("145") ? b.createdAt.getTime() + a.createdAt.getTime() : (stryCov_9fa48("145"), b.createdAt.getTime() - a.createdAt.getTime())) || (stryMutAct_9fa48("146") ? (b.lastModified?.getTime() ?? 0) + (a.lastModified?.getTime() ?? 0) : (stryCov_9fa48("146"), (stryMutAct_9fa48("147") ? b.lastModified?.getTime() && 0 : (stryCov_9fa48("147"), (stryMutAct_9fa48("148") ? b.lastModified.getTime() : (stryCov_9fa48("148"), b.lastModified?.getTime())) ?? 0)) - (stryMutAct_9fa48("149") ? a.lastModified?.getTime() && 0 : (stryCov_9fa48("149"), (stryMutAct_9fa48("150") ? a.lastModified.getTime() : (stryCov_9fa48("150"), a.lastModified?.getTime())) ?? 0)))))) || b.backupId.localeCompare(a.backupId)))));
    return options.includeInvalid ? sorted : stryMutAct_9fa48("151") ? sorted : (stryCov_9fa48("151"), sorted.filter(stryMutAct_9fa48("152") ? () => undefined : (stryCov_9fa48("152"), e => e.valid)));
  }
}
export interface LatestOptions {
  readonly tier?: Tier;
  /**
   * Re-verify candidates newest first and skip those that fail (checksum, size, TOC). Pass verify
   * options (e.g. `pgBinDirs`, `toc: false`) or `true` for the defaults. @default false
   */
  readonly verify?: boolean | Omit<VerifyOptions, 's3' | 'bucket' | 'manifestKey' | 'manifest'>;
  /** Called for each candidate skipped because verification failed. */
  readonly onSkip?: (entry: BackupEntry, result: VerifyResult) => void;
}

/** The newest valid backup (optionally the newest that also re-verifies), or undefined. */
export async function latestValidBackup(s3: S3Client, bucket: string, databaseId: string, options: LatestOptions = {}): Promise<(BackupEntry & {
  verification?: VerifyResult;
}) | undefined> {
  if (stryMutAct_9fa48("153")) {
    {}
  } else {
    stryCov_9fa48("153");
    const entries = await listBackups(s3, bucket, databaseId, stryMutAct_9fa48("154") ? {} : (stryCov_9fa48("154"), {
      tier: options.tier
    }));
    if (stryMutAct_9fa48("157") ? false : stryMutAct_9fa48("156") ? true : stryMutAct_9fa48("155") ? options.verify : (stryCov_9fa48("155", "156", "157"), !options.verify)) return entries[0];
    const verifyOptions = (stryMutAct_9fa48("160") ? options.verify !== true : stryMutAct_9fa48("159") ? false : stryMutAct_9fa48("158") ? true : (stryCov_9fa48("158", "159", "160"), options.verify === (stryMutAct_9fa48("161") ? false : (stryCov_9fa48("161"), true)))) ? {} : options.verify;
    for (const entry of entries) {
      if (stryMutAct_9fa48("162")) {
        {}
      } else {
        stryCov_9fa48("162");
        const result = await verifyBackup(stryMutAct_9fa48("163") ? {} : (stryCov_9fa48("163"), {
          ...verifyOptions,
          s3,
          bucket,
          manifest: entry.manifest!
        }));
        if (stryMutAct_9fa48("165") ? false : stryMutAct_9fa48("164") ? true : (stryCov_9fa48("164", "165"), result.ok)) return stryMutAct_9fa48("166") ? {} : (stryCov_9fa48("166"), {
          ...entry,
          verification: result
        });
        stryMutAct_9fa48("167") ? options.onSkip(entry, result) : (stryCov_9fa48("167"), options.onSkip?.(entry, result));
      }
    }
    return undefined;
  }
}

/**
 * The `"<tier>/<period>"` strings (among the yearly, monthly and weekly periods `at` falls in) that
 * already hold a valid backup; the input `placeBackup` needs.
 */
export async function occupiedPeriods(s3: S3Client, bucket: string, databaseId: string, at: Date): Promise<Set<string>> {
  if (stryMutAct_9fa48("168")) {
    {}
  } else {
    stryCov_9fa48("168");
    const occupied = new Set<string>();
    await Promise.all(candidatePeriods(at).map(async tp => {
      if (stryMutAct_9fa48("169")) {
        {}
      } else {
        stryCov_9fa48("169");
        const [tier, period] = tp.split('/') as [Tier, string];
        const valid = await listBackups(s3, bucket, databaseId, stryMutAct_9fa48("170") ? {} : (stryCov_9fa48("170"), {
          tier,
          period
        }));
        if (stryMutAct_9fa48("174") ? valid.length <= 0 : stryMutAct_9fa48("173") ? valid.length >= 0 : stryMutAct_9fa48("172") ? false : stryMutAct_9fa48("171") ? true : (stryCov_9fa48("171", "172", "173", "174"), valid.length > 0)) occupied.add(tp);
      }
    }));
    return occupied;
  }
}