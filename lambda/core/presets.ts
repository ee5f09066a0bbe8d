/**
 * Database presets: what a platform's databases need from a backup and a restore, in one place
 * for the config (`databases[].preset`), the dump (which schemas it leaves out, recorded in the
 * manifest) and the restore (which schemas the target platform provides, and whether an
 * extension the target does not offer is fatal).
 *
 * `supabase`:
 * - the platform's own schemas are left out of the dump: their objects are the platform's (made by
 *   its migrations and extensions), not the user's. The list is the Supabase CLI's
 *   `utils.InternalSchemas` (what `supabase db dump` excludes) without `auth` and `storage`,
 *   wildcards spelled out;
 * - `auth` and `storage` are dumped whole, because their rows (users, identities, buckets, object
 *   metadata) are the user's data. Restored into a database that already has them (a Supabase
 *   project: the platform made them), only their data is restored, into the platform's tables;
 *   restored anywhere else (a plain or RDS drill target), their definitions come along too;
 * - an extension the target does not offer (pgsodium, pg_graphql, pg_net, supabase_vault... on
 *   RDS) is not fatal: it is left out with every object that depends on it, and each is reported
 *   by name (restore-extensions.ts); the drill reports them and passes on the rest.
 *
 * zod only: `cdk synth` loads this module.
 * @see https://supabase.com/docs/reference/cli/supabase-db-dump
 * @see https://github.com/supabase/cli/blob/develop/internal/utils/misc.go (InternalSchemas)
 */
import { z } from 'zod';

export const DATABASE_PRESETS = ['supabase'] as const;
export type DatabasePreset = (typeof DATABASE_PRESETS)[number];
export const DatabasePresetSchema = z.enum(DATABASE_PRESETS);

/** Schemas a Supabase project's platform owns (never the user's objects). */
export const SUPABASE_PLATFORM_SCHEMAS: readonly string[] = [
  '_analytics',
  '_realtime',
  '_supavisor',
  'etl',
  'extensions',
  'pgbouncer',
  'realtime',
  'supabase_functions',
  'supabase_migrations',
  'cron',
  'dbdev',
  'graphql',
  'graphql_public',
  'net',
  'pgmq',
  'pgsodium',
  'pgsodium_masks',
  'pgtle',
  'repack',
  'tiger',
  'tiger_data',
  'topology',
  'vault',
  // timescaledb_* and _timescaledb_* in the CLI's list, by name (scopes are exact names).
  'timescaledb_information',
  'timescaledb_experimental',
  '_timescaledb_cache',
  '_timescaledb_catalog',
  '_timescaledb_config',
  '_timescaledb_debug',
  '_timescaledb_functions',
  '_timescaledb_internal',
];

/** Schemas whose definitions a Supabase project's platform makes and whose rows are the user's. */
export const SUPABASE_DATA_SCHEMAS: readonly string[] = ['auth', 'storage'];

export interface PresetRules {
  /** Schemas the dump leaves out (added to the database's own `schemas.exclude`). */
  readonly excludeSchemas: readonly string[];
  /**
   * Schemas the target platform provides: when the target already has one, only its data is
   * restored (into the platform's tables); otherwise it is restored whole.
   */
  readonly platformSchemas: readonly string[];
  /** An extension the target does not offer: `fail` the restore, or `leave-out` what needs it and report it. */
  readonly missingExtensions: 'fail' | 'leave-out';
}

const NO_PRESET: PresetRules = { excludeSchemas: [], platformSchemas: [], missingExtensions: 'fail' };

export function presetRules(preset: DatabasePreset | undefined): PresetRules {
  switch (preset) {
    case 'supabase':
      return {
        excludeSchemas: SUPABASE_PLATFORM_SCHEMAS,
        platformSchemas: SUPABASE_DATA_SCHEMAS,
        missingExtensions: 'leave-out',
      };
    case undefined:
      return NO_PRESET;
  }
}

/**
 * The schema scope of a dump under a preset: the preset's schemas join `exclude`, unless the
 * database names them in `include` (an explicit choice wins).
 */
export function presetScope(
  scope: { readonly include?: readonly string[]; readonly exclude?: readonly string[] },
  preset: DatabasePreset | undefined,
): { include?: string[]; exclude?: string[] } {
  const rules = presetRules(preset);
  const include = scope.include ? [...scope.include] : undefined;
  const wanted = new Set(include ?? []);
  const exclude = [
    ...new Set([...(scope.exclude ?? []), ...rules.excludeSchemas.filter((s) => !wanted.has(s))]),
  ];
  return { ...(include ? { include } : {}), ...(exclude.length > 0 ? { exclude } : {}) };
}
