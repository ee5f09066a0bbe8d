/**
 * The restore's options and result types (restore.ts runs it): one home for the contract the
 * drill, the CLI and tests read.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Manifest } from './manifest';
import type { SkippedEntry } from './restore-plan';
import type { TableRef } from './restore-plan';
import type { GlobalsExpectation } from './restore-check';
import type { DatabasePropertiesResult } from './restore-database';
import type { ExtensionsResult, NotRestored } from './restore-extensions';
import type { MatviewRefresh } from './restore-matviews';
import type { OwnerMapping } from './restore-owners';
import type { PlatformSchemasResult } from './restore-platform';
import type { RestoredTable } from './restore-result';
import type { RolesResult } from './restore-roles';
import type { SideRestore } from './restore-table-side';
import type { SwapResult } from './restore-table-swap';

export type RestoreProgress =
  | { readonly phase: 'download'; readonly bytes: number; readonly totalBytes: number }
  | { readonly phase: 'roles'; readonly applied: number; readonly failed: number }
  | {
      readonly phase: 'restore';
      readonly entriesDone: number;
      readonly entriesTotal: number;
      /** The last pg_restore -v line, e.g. `processing data for table "shop.orders"`. */
      readonly item?: string;
    }
  | { readonly phase: 'count'; readonly tables: number };

export interface RestoreOptions {
  /** pg_restore parallel jobs. @default - min(4, CPUs) */
  readonly jobs?: number;
  /**
   * Restore only these tables (`"schema.name"`, `'"Schema"."Name"'` or `{ schema, name }`), with
   * what belongs to them (restore-plan.ts). @default - the whole archive
   */
  readonly tables?: readonly (string | TableRef)[];
  /** Full restore: restore into a target that is not empty. @default false */
  readonly force?: boolean;
  /**
   * Table restore: tables the target already has are restored into a new schema beside them
   * (restore-table-side.ts); with replace, the copies then take the live tables' places in one
   * transaction, dependent views and foreign keys re-created (restore-table-swap.ts), or the
   * restore is refused up front naming the dependents it cannot re-create. @default false
   */
  readonly replace?: boolean;
  /** Full restore only: drop each archived object before re-creating it (`--clean --if-exists`). @default false */
  readonly clean?: boolean;
  /** Create the roles from the backup's globals file first (when it has one). @default true */
  readonly restoreRoles?: boolean;
  /** Count rows of the restored tables afterwards. @default true */
  readonly countRows?: boolean;
  /** Called with download bytes, roles, and pg_restore entries processed. */
  readonly onProgress?: (progress: RestoreProgress) => void;
  /** Where the temporary archive goes (needs room for the whole dump). @default - os.tmpdir() */
  readonly tempDir?: string;
  /** Aborts the download or kills pg_restore. */
  readonly signal?: AbortSignal;
  /** Directories holding pg_restore binaries, for tests. @default - pg-bin.ts search */
  readonly pgBinDirs?: string[];
}

export interface RestoreResult {
  readonly backupId: string;
  readonly databaseId: string;
  readonly target: string;
  readonly mode: 'full' | 'tables';
  readonly archive: { readonly key: string; readonly bytes: number; readonly sha256: string };
  readonly pgRestore: { readonly path: string; readonly major: number; readonly version: string };
  readonly targetServerVersion: string;
  readonly jobs: number;
  /**
   * kept: every archived owner; mapped: every owner the restorer can act as, the objects of the
   * others now the restorer's (`ownerMappings`); dropped: none (and no grants).
   */
  readonly owners: 'kept' | 'mapped' | 'dropped';
  /** owners `mapped`: each object whose archived owner could not be kept, with that owner and why. */
  readonly ownerMappings?: readonly OwnerMapping[];
  readonly ownersReason?: string;
  /** Owner roles the restorer granted itself membership in (a lasting change to the target cluster). */
  readonly ownersSelfGrants: readonly string[];
  readonly roles: RolesResult;
  /** Extensions the archive uses, those the target already had, and entries left out because of them. */
  readonly extensions?: ExtensionsResult;
  /** Preset backups: the platform's schemas (Supabase auth, storage) restored whole or data only. */
  readonly platformSchemas?: PlatformSchemasResult;
  /**
   * Left out because an extension the target does not offer needs them (preset backups only): the
   * drill's checks report these rather than fail on them.
   */
  readonly notRestored?: NotRestored;
  /** Full restore: the archive's database settings, role-in-database settings, grants and comment, applied. */
  readonly databaseProperties?: DatabasePropertiesResult;
  /**
   * What the restored database should hold besides tables (roles, memberships, database settings
   * and grants), for checkRestoredGlobals (the drill's check).
   */
  readonly expected?: GlobalsExpectation;
  readonly entries: { readonly total: number; readonly processed: number };
  /** Table restore into a target that had the tables: where the copies went, and what to do next. */
  readonly beside?: {
    readonly schema: string;
    readonly tables: SideRestore['tables'];
    readonly swapped: boolean;
    readonly nextSteps: readonly string[];
  };
  readonly swap?: SwapResult;
  /** Table restore: entries of the tables that were left out, with why. */
  readonly skipped: readonly SkippedEntry[];
  /** Table restore: prerequisites (schema, types, functions) created because the target lacked them. */
  readonly prerequisites: readonly string[];
  readonly tables: readonly RestoredTable[];
  readonly downloadSeconds: number;
  /** pg_restore alone. */
  readonly pgRestoreSeconds: number;
  /** The whole restore: target checks, download, roles, pg_restore (not the row counts). */
  readonly restoreSeconds: number;
  readonly countSeconds: number;
  /** Materialized views refreshed after pg_restore with the source's search_path (restore-matviews.ts). */
  readonly matviews?: MatviewRefresh;
  readonly warnings: readonly string[];
}

export interface RestoreSource {
  readonly s3: S3Client;
  readonly bucket: string;
  /** The manifest, or `manifestKey` to read it from the bucket. */
  readonly manifest?: Manifest;
  readonly manifestKey?: string;
}
