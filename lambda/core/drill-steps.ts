/**
 * The steps of a drill, each taking the drill state and returning it extended: select a backup
 * that re-verifies, provision the ephemeral database, restore into it and run the checks, release
 * it. The workflow calls one per Lambda invocation (handlers/drill.ts); `runDrill` (drill.ts) calls
 * them in one process.
 */
import { latestValidBackup, listBackups, type BackupEntry } from './catalog';
import { describeFailures, runChecks, type ChecksResult } from './checks';
import { targetLacks } from './drill-object-checks';
import {
  DrillStepError,
  initialState,
  summarizeChecks,
  summarizeRestore,
  type DrillSource,
  type DrillState,
  type SelectedBackup,
  type SkippedBackup,
} from './drill-state';
import {
  DEFAULT_DRILL_FINGERPRINT_BUDGET_MINUTES,
  DEFAULT_DRILL_MAX_LIFETIME_HOURS,
  type ResolvedDrillSettings,
} from './drill-settings';
import { silentLogger, type CoreLogger } from './logger';
import type { Manifest } from './manifest';
import { allocatedStorageFor, type EphemeralDatabaseProvider } from './providers/provider';
import {
  readManifest,
  restoreBackup,
  withTargetClient,
  type RestoreProgress,
  type RestoreResult,
  type RestoreTarget,
} from './restore';
import { verifyBackup } from './verify';

export interface SelectOptions {
  readonly databaseId: string;
  readonly selection: 'latest' | 'random';
  readonly randomWindowDays: number;
  readonly now: Date;
  /** pg_restore directories for the verification's TOC check. */
  readonly pgBinDirs?: string[];
  readonly random?: () => number;
  readonly logger?: CoreLogger;
}

/**
 * Picks the backup to drill. Candidates are valid backups (catalog.ts); each is re-verified
 * (SHA-256, size, archive TOC) before it is chosen, and one that fails is skipped and recorded.
 * `random` picks uniformly among those created within the window, falling back to the newest
 * when the window holds none.
 */
export async function selectBackup(
  source: DrillSource,
  options: SelectOptions,
): Promise<{ backup: SelectedBackup; manifest: Manifest; skipped: SkippedBackup[] }> {
  const log = options.logger ?? silentLogger;
  const skipped: SkippedBackup[] = [];
  const verify = { pgBinDirs: options.pgBinDirs, logger: log };
  const reasonOf = (r: { checks: readonly { ok: boolean; code?: string; detail: string }[] }) =>
    r.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.code ?? 'FAILED'}: ${c.detail}`)
      .join('; ') || 'verification pending';

  let chosen: BackupEntry | undefined;
  if (options.selection === 'random') {
    const all = await listBackups(source.s3, source.bucket, options.databaseId);
    const since = options.now.getTime() - options.randomWindowDays * 86_400_000;
    const inWindow = all.filter((b) => b.createdAt.getTime() >= since);
    const pool = inWindow.length > 0 ? [...inWindow] : all.slice(0, 1);
    if (inWindow.length === 0 && all.length > 0) {
      log.warn('no backup within the random window; drilling the newest', {
        windowDays: options.randomWindowDays,
      });
    }
    const random = options.random ?? Math.random;
    while (!chosen && pool.length > 0) {
      const [candidate] = pool.splice(Math.floor(random() * pool.length), 1);
      const result = await verifyBackup({
        ...verify,
        s3: source.s3,
        bucket: source.bucket,
        manifest: candidate.manifest!,
      });
      if (result.ok) chosen = candidate;
      else skipped.push({ backupId: candidate.backupId, reason: reasonOf(result) });
    }
  } else {
    chosen = await latestValidBackup(source.s3, source.bucket, options.databaseId, {
      verify,
      onSkip: (entry, result) => skipped.push({ backupId: entry.backupId, reason: reasonOf(result) }),
    });
  }
  for (const s of skipped) log.warn('backup skipped: verification failed', { ...s });
  if (!chosen) {
    const why =
      skipped.length > 0 ? `; skipped: ${skipped.map((s) => `${s.backupId} (${s.reason})`).join(', ')}` : '';
    throw new DrillStepError(
      'select',
      `no valid backup of ${options.databaseId} in s3://${source.bucket}${why}`.slice(0, 2000),
    );
  }
  const manifest = chosen.manifest!;
  return {
    backup: {
      backupId: chosen.backupId,
      manifestKey: chosen.manifestKey,
      dumpKey: manifest.object.key,
      tier: chosen.tier,
      period: chosen.period,
      bytes: manifest.object.bytes,
      createdAt: chosen.createdAt.toISOString(),
      serverMajor: manifest.source.serverMajor,
      serverVersion: manifest.source.serverVersion,
    },
    manifest,
    skipped,
  };
}

export interface StartOptions extends Omit<
  SelectOptions,
  'databaseId' | 'selection' | 'randomWindowDays' | 'now'
> {
  readonly databaseId: string;
  readonly settings: ResolvedDrillSettings;
  readonly source: DrillSource;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Use this id (tests). @default - newDrillId */
  readonly drillId?: string;
}

/** Step 1: a new drill with its backup selected. */
export async function startDrill(options: StartOptions): Promise<DrillState> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const base = initialState(options.databaseId, options.settings, options.source, startedAt, options.drillId);
  const { backup, skipped } = await selectBackup(options.source, {
    ...options,
    selection: options.settings.selection,
    randomWindowDays: options.settings.randomWindowDays,
    now: startedAt,
  });
  return { ...base, backup, skippedBackups: skipped };
}

export interface ProvisionOptions {
  /**
   * The sweeper may delete the database this long after the drill started.
   * @default DEFAULT_DRILL_MAX_LIFETIME_HOURS (6), as the drill handler's environment
   */
  readonly maxLifetimeHours?: number;
}

/**
 * Step 2: ask the provider for an ephemeral database of the backup's major (or the settings'
 * `targetMajor`, to prove the restore path of an upgrade), sized for the dump.
 */
export async function provisionStep(
  provider: EphemeralDatabaseProvider,
  state: DrillState,
  options: ProvisionOptions = {},
): Promise<DrillState> {
  const backup = requireBackup(state);
  const startedAt = new Date(state.startedAt);
  const targetMajor = state.settings.targetMajor;
  if (targetMajor !== undefined && targetMajor < backup.serverMajor) {
    throw new DrillStepError(
      'provision',
      `drill.targetMajor ${targetMajor} is older than the backup's source major ${backup.serverMajor}: ` +
        'a dump restores into the same or a newer major only',
    );
  }
  try {
    const handle = await provider.provision({
      drillId: state.drillId,
      databaseId: state.databaseId,
      engineMajor: targetMajor ?? backup.serverMajor,
      ...(targetMajor !== undefined ? { exactMajor: true } : {}),
      allocatedStorageGb: allocatedStorageFor(backup.bytes),
      allowExtendedSupport: state.settings.allowExtendedSupport,
      expiresAt: new Date(
        startedAt.getTime() + (options.maxLifetimeHours ?? DEFAULT_DRILL_MAX_LIFETIME_HOURS) * 3_600_000,
      ),
      startedAt,
    });
    return { ...state, completed: 'provision', ephemeral: handle };
  } catch (e) {
    throw new DrillStepError('provision', `could not create the ephemeral database: ${(e as Error).message}`);
  }
}

export interface RestoreStepOptions {
  readonly source: DrillSource;
  readonly provider: EphemeralDatabaseProvider;
  readonly now?: () => Date;
  readonly pgBinDirs?: string[];
  readonly tempDir?: string;
  readonly logger?: CoreLogger;
  readonly signal?: AbortSignal;
  /** Test seam: runs between the restore and the checks (e.g. to damage the restored data). */
  readonly afterRestore?: (target: RestoreTarget) => Promise<void>;
}

/** Step 4: restore roles and archive into the ephemeral database, then run the checks. */
export async function restoreAndCheckStep(
  state: DrillState,
  options: RestoreStepOptions,
): Promise<DrillState> {
  const log = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const backup = requireBackup(state);
  if (!state.ephemeral) throw new DrillStepError('restore', 'drill state has no ephemeral database');
  const target = await options.provider.connection(state.ephemeral);
  const manifest = await readManifest(options.source.s3, options.source.bucket, backup.manifestKey);

  // Everything the target lacks, named at once, before pg_restore stops at the first of them.
  let lacks: string[];
  try {
    lacks = await withTargetClient(target, (c) => targetLacks(c, manifest));
  } catch (e) {
    throw new DrillStepError('restore', `cannot inspect the drill target: ${(e as Error).message}`);
  }
  if (lacks.length > 0) {
    throw new DrillStepError('restore', `the drill target lacks what the backup needs: ${lacks.join('; ')}`);
  }

  let restored: RestoreResult;
  try {
    restored = await restoreBackup(
      { s3: options.source.s3, bucket: options.source.bucket, manifest },
      target,
      {
        jobs: state.settings.jobs,
        restoreRoles: true,
        countRows: false,
        pgBinDirs: options.pgBinDirs,
        tempDir: options.tempDir,
        signal: options.signal,
        onProgress: progressLogger(log),
      },
    );
  } catch (e) {
    throw new DrillStepError('restore', (e as Error).message);
  }
  log.info('restore finished', {
    restoreSeconds: restored.restoreSeconds,
    entries: restored.entries,
    owners: restored.owners,
    rolesFailed: restored.roles.failed.length,
  });
  if (options.afterRestore) await options.afterRestore(target);

  let checks: ChecksResult;
  try {
    checks = await withTargetClient(target, (client) =>
      runChecks(client, manifest, {
        operatorChecks: state.settings.checks,
        timeoutSeconds: state.settings.checkTimeoutSeconds,
        fingerprintBudgetMs:
          (state.settings.fingerprintBudgetSeconds ?? DEFAULT_DRILL_FINGERPRINT_BUDGET_MINUTES * 60) * 1000,
        ...(restored.notRestored ? { notRestored: restored.notRestored } : {}),
      }),
    );
  } catch (e) {
    throw new DrillStepError('checks', `checks could not run: ${(e as Error).message}`);
  }
  const verifiedAt = now();
  log.info('checks finished', { ...checks.summary, ok: checks.ok });
  return {
    ...state,
    completed: 'restore-and-check',
    outcome: {
      verifiedAt: verifiedAt.toISOString(),
      restoreSeconds: restored.restoreSeconds,
      restore: summarizeRestore(restored),
      checks: summarizeChecks(checks),
      ...(checks.ok ? {} : { checksFailure: describeFailures(checks) }),
    },
  };
}

/** Step 5: release the ephemeral database (idempotent). Never throws; the record says what happened. */
export async function releaseStep(
  provider: EphemeralDatabaseProvider,
  state: DrillState,
  options: { now?: () => Date; logger?: CoreLogger } = {},
): Promise<DrillState> {
  const now = options.now ?? (() => new Date());
  if (!state.ephemeral) {
    return {
      ...state,
      completed: 'cleanup',
      release: { released: true, alreadyGone: true, at: now().toISOString() },
    };
  }
  let description = state.ephemeralDescription;
  try {
    description ??= await provider.describe(state.ephemeral);
  } catch {
    // describing is for the report only
  }
  try {
    const r = await provider.release(state.ephemeral);
    options.logger?.info('ephemeral database released', {
      id: state.ephemeral.id,
      alreadyGone: r.alreadyGone,
    });
    return {
      ...state,
      completed: 'cleanup',
      ...(description ? { ephemeralDescription: description } : {}),
      release: { released: r.released, alreadyGone: r.alreadyGone, at: now().toISOString() },
    };
  } catch (e) {
    options.logger?.error('could not release the ephemeral database', {
      id: state.ephemeral.id,
      error: (e as Error).message,
    });
    return {
      ...state,
      ...(description ? { ephemeralDescription: description } : {}),
      release: {
        released: false,
        at: now().toISOString(),
        error: `${(e as Error).name}: ${(e as Error).message}`,
      },
    };
  }
}

function requireBackup(state: DrillState): SelectedBackup {
  if (!state.backup) throw new DrillStepError('select', 'drill state has no selected backup');
  return state.backup;
}

function progressLogger(log: CoreLogger) {
  let lastPhase = '';
  let lastAt = 0;
  return (p: RestoreProgress) => {
    const at = Date.now();
    if (p.phase === lastPhase && at - lastAt < 15_000) return;
    lastPhase = p.phase;
    lastAt = at;
    log.info('restore progress', { ...p });
  };
}
