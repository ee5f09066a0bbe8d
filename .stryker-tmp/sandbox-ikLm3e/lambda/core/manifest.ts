/**
 * The backup manifest (formatVersion 1): written last, it is the commit marker of a backup. A
 * backup without a readable manifest that agrees with its object does not exist as far as
 * listing, freshness and drills are concerned.
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
import { z } from 'zod';
import { backupKeys, type BackupKeys } from './tiers';
const sha256Hex = z.string().regex(stryMutAct_9fa48("325") ? /^[^0-9a-f]{64}$/ : stryMutAct_9fa48("324") ? /^[0-9a-f]$/ : stryMutAct_9fa48("323") ? /^[0-9a-f]{64}/ : stryMutAct_9fa48("322") ? /[0-9a-f]{64}$/ : (stryCov_9fa48("322", "323", "324", "325"), /^[0-9a-f]{64}$/), stryMutAct_9fa48("326") ? "" : (stryCov_9fa48("326"), 'must be a lowercase hex SHA-256'));
const isoDate = z.iso.datetime(stryMutAct_9fa48("327") ? {} : (stryCov_9fa48("327"), {
  offset: stryMutAct_9fa48("328") ? false : (stryCov_9fa48("328"), true)
}));
export const TableEntrySchema = z.strictObject(stryMutAct_9fa48("329") ? {} : (stryCov_9fa48("329"), {
  schema: z.string(),
  name: z.string(),
  /** Exact `count(*)` in the dump's snapshot, or the planner estimate when the budget ran out. */
  rows: z.number().int().nonnegative(),
  exact: z.boolean(),
  rowSecurity: z.boolean(),
  forceRowSecurity: z.boolean(),
  /** `r` ordinary, `p` partitioned parent (its rows live in the partitions). */
  kind: z.enum(stryMutAct_9fa48("330") ? [] : (stryCov_9fa48("330"), [stryMutAct_9fa48("331") ? "" : (stryCov_9fa48("331"), 'r'), stryMutAct_9fa48("332") ? "" : (stryCov_9fa48("332"), 'p')]))
}));
export type TableEntry = z.infer<typeof TableEntrySchema>;
export const CatalogCountsSchema = z.strictObject(stryMutAct_9fa48("333") ? {} : (stryCov_9fa48("333"), {
  schemas: z.number().int().nonnegative(),
  tables: z.number().int().nonnegative(),
  views: z.number().int().nonnegative(),
  materializedViews: z.number().int().nonnegative(),
  functions: z.number().int().nonnegative(),
  triggers: z.number().int().nonnegative(),
  policies: z.number().int().nonnegative(),
  indexes: z.number().int().nonnegative(),
  sequences: z.number().int().nonnegative(),
  types: z.number().int().nonnegative()
}));
export type CatalogCounts = z.infer<typeof CatalogCountsSchema>;
const StoredObjectSchema = z.strictObject(stryMutAct_9fa48("334") ? {} : (stryCov_9fa48("334"), {
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: sha256Hex
}));
export type StoredObject = z.infer<typeof StoredObjectSchema>;
export const ManifestSchema = z.strictObject(stryMutAct_9fa48("335") ? {} : (stryCov_9fa48("335"), {
  formatVersion: z.literal(1),
  backupId: z.string(),
  databaseId: z.string(),
  tier: z.enum(stryMutAct_9fa48("336") ? [] : (stryCov_9fa48("336"), [stryMutAct_9fa48("337") ? "" : (stryCov_9fa48("337"), 'yearly'), stryMutAct_9fa48("338") ? "" : (stryCov_9fa48("338"), 'monthly'), stryMutAct_9fa48("339") ? "" : (stryCov_9fa48("339"), 'weekly'), stryMutAct_9fa48("340") ? "" : (stryCov_9fa48("340"), 'daily')])),
  period: z.string(),
  startedAt: isoDate,
  completedAt: isoDate,
  durationSeconds: z.number().nonnegative(),
  retainUntil: isoDate,
  source: z.strictObject(stryMutAct_9fa48("341") ? {} : (stryCov_9fa48("341"), {
    /** The database name dumped (not a secret; host and user are deliberately not recorded). */
    database: z.string(),
    serverVersion: z.string(),
    serverVersionNum: z.number().int(),
    serverMajor: z.number().int()
  })),
  pgDump: z.strictObject(stryMutAct_9fa48("342") ? {} : (stryCov_9fa48("342"), {
    version: z.string(),
    major: z.number().int(),
    format: z.literal(stryMutAct_9fa48("343") ? "" : (stryCov_9fa48("343"), 'custom')),
    /** pg_dump options without connection parameters (those never leave the process). */
    options: z.array(z.string())
  })),
  object: StoredObjectSchema,
  globals: z.union(stryMutAct_9fa48("344") ? [] : (stryCov_9fa48("344"), [StoredObjectSchema.extend(stryMutAct_9fa48("345") ? {} : (stryCov_9fa48("345"), {
    present: z.literal(stryMutAct_9fa48("346") ? false : (stryCov_9fa48("346"), true))
  })), z.strictObject(stryMutAct_9fa48("347") ? {} : (stryCov_9fa48("347"), {
    present: z.literal(stryMutAct_9fa48("348") ? true : (stryCov_9fa48("348"), false)),
    reason: z.string()
  }))])),
  rowCounts: z.strictObject(stryMutAct_9fa48("349") ? {} : (stryCov_9fa48("349"), {
    /** true when every table was counted exactly inside the snapshot. */
    exact: z.boolean(),
    budgetSeconds: z.number().nonnegative()
  })),
  tables: z.array(TableEntrySchema),
  catalog: CatalogCountsSchema,
  schemas: z.strictObject(stryMutAct_9fa48("350") ? {} : (stryCov_9fa48("350"), {
    include: z.array(z.string()),
    exclude: z.array(z.string())
  })),
  encryption: z.strictObject(stryMutAct_9fa48("351") ? {} : (stryCov_9fa48("351"), {
    kmsKeyId: z.string().optional()
  }))
}));
export type Manifest = z.infer<typeof ManifestSchema>;

/** Parses and validates a manifest body; throws with the offending paths. */
export function parseManifest(body: string): Manifest {
  if (stryMutAct_9fa48("352")) {
    {}
  } else {
    stryCov_9fa48("352");
    let json: unknown;
    try {
      if (stryMutAct_9fa48("353")) {
        {}
      } else {
        stryCov_9fa48("353");
        json = JSON.parse(body);
      }
    } catch (e) {
      if (stryMutAct_9fa48("354")) {
        {}
      } else {
        stryCov_9fa48("354");
        throw new Error(stryMutAct_9fa48("355") ? `` : (stryCov_9fa48("355"), `manifest is not valid JSON: ${(e as Error).message}`));
      }
    }
    const result = ManifestSchema.safeParse(json);
    if (stryMutAct_9fa48("358") ? false : stryMutAct_9fa48("357") ? true : stryMutAct_9fa48("356") ? result.success : (stryCov_9fa48("356", "357", "358"), !result.success)) {
      if (stryMutAct_9fa48("359")) {
        {}
      } else {
        stryCov_9fa48("359");
        const problems = result.error.issues.map(stryMutAct_9fa48("360") ? () => undefined : (stryCov_9fa48("360"), i => stryMutAct_9fa48("361") ? `` : (stryCov_9fa48("361"), `${stryMutAct_9fa48("364") ? i.path.join('.') && '(root)' : stryMutAct_9fa48("363") ? false : stryMutAct_9fa48("362") ? true : (stryCov_9fa48("362", "363", "364"), i.path.join(stryMutAct_9fa48("365") ? "" : (stryCov_9fa48("365"), '.')) || (stryMutAct_9fa48("366") ? "" : (stryCov_9fa48("366"), '(root)')))}: ${i.message}`)));
        throw new Error(stryMutAct_9fa48("367") ? `` : (stryCov_9fa48("367"), `manifest is invalid: ${problems.join(stryMutAct_9fa48("368") ? "" : (stryCov_9fa48("368"), '; '))}`));
      }
    }
    return result.data;
  }
}

/** Fully qualified, display-only table name (`schema.name`); never used to build SQL. */
export const tableLabel = stryMutAct_9fa48("369") ? () => undefined : (stryCov_9fa48("369"), (() => {
  const tableLabel = (t: {
    schema: string;
    name: string;
  }): string => stryMutAct_9fa48("370") ? `` : (stryCov_9fa48("370"), `${t.schema}.${t.name}`);
  return tableLabel;
})());

/** The keys of the backup a manifest describes (its dump, roles file and the manifest itself). */
export const keysOfManifest = stryMutAct_9fa48("371") ? () => undefined : (stryCov_9fa48("371"), (() => {
  const keysOfManifest = (m: Pick<Manifest, 'tier' | 'databaseId' | 'period' | 'backupId'>): BackupKeys => backupKeys(m.tier, m.databaseId, m.period, m.backupId);
  return keysOfManifest;
})());