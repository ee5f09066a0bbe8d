/**
 * Drill: the steps of the monthly restore-drill workflow (Step Functions), one per invocation,
 * dispatched on `event.action`. Each step takes the drill state (JSON, no credentials) and returns
 * it extended; the logic lives in lambda/core/drill.ts.
 *
 * Suggested state machine (execution input `{ databaseId, drill: <config databases[].drill> }`):
 *
 *   Select ──► Provision ──► Wait 60 s ──► Status ──(creating)──► back to Wait
 *                                             └─(available)──► RestoreAndCheck ──► Cleanup ──► Report
 *   Every task: Catch States.ALL (ResultPath $.error) ──► CleanupOnError ──► Fail
 *
 * Actions (in → out). `state` below is a DrillState (lambda/core/drill.ts):
 *   { formatVersion: 1, drillId, databaseId, startedAt, settings, source: { bucket, region?, kind },
 *     completed, backup?, skippedBackups?, ephemeral?: { provider: 'rds', id, region? },
 *     ephemeralDescription?, outcome?, release? }
 *
 * - select             { action: 'select', databaseId, drill?: { selection?: 'latest'|'random',
 *                        randomWindowDays?, source?: 'replica'|'primary', instanceClass?,
 *                        rtoTargetMinutes?, rtoTargetSeconds?, checks?: [{ name, sql, expect,
 *                        timeoutSeconds? }], checkTimeoutSeconds?, jobs? } }   (extra keys ignored)
 *                      → state   (ResultPath $.state)
 *                      Picks the newest backup that re-verifies (SHA-256, size, TOC) — or a random
 *                      verified one within randomWindowDays — from the replica bucket by default.
 *                      Fails with DrillStepError "select: no valid backup ..." when there is none.
 * - provision          { action: 'provision', state } → state with `ephemeral`   (ResultPath $.state)
 *                      CreateDBInstance restorable-drill-<db>-<yyyymmddhhmmss>, returns at once.
 * - status             { action: 'status', state } → { status: 'creating' | 'available', detail }
 *                      (ResultPath $.availability; Choice on $.availability.status). Throws
 *                      DrillStepError "wait: ..." when the instance failed or vanished.
 * - restore-and-check  { action: 'restore-and-check', state } → state with `outcome`
 *                      (ResultPath $.state). Roles, pg_restore -j, checks. Failed checks are
 *                      returned in the outcome (the report fails the drill); a restore that
 *                      cannot complete throws DrillStepError "restore: ...".
 * - cleanup            { action: 'cleanup', state } → state with `release`   (ResultPath $.state)
 *                      Deletes the instance (idempotent; gone already is fine).
 *                      From a Catch: { action: 'cleanup', state: $, error: { Error, Cause } }
 *                      (`state` may be the whole execution state: the drill state is taken from
 *                      `state.state` when present; a failure in Select leaves none and that is
 *                      fine). Releases whatever was created, writes a FAILED report with
 *                      failure { step, reason } (step from the error message's "<step>: "
 *                      prefix, else from how far the state got; optional `step` overrides),
 *                      emits DrillFailure, and returns { status: 'FAILED', reportKey, failure,
 *                      released }.
 *                      Throws DrillCleanupError when the instance could not be deleted (after
 *                      writing the report): retry it with backoff; the sweeper is the backstop.
 * - report             { action: 'report', state } → { status: 'PASSED'|'FAILED', reportKey,
 *                      failure?, rtoSeconds, restoreSeconds, mismatches }   (ResultPath $.report)
 *                      Writes drills/<db>/<yyyy-mm>/<drillId>.json and emits the metrics. A drill
 *                      fails on failed checks, RTO over target, or an instance not released;
 *                      Choice on $.report.status to end in Fail if wanted.
 *
 * Errors: errorType DrillStepError (message "<step>: <reason>"; do not retry), DrillCleanupError
 * (retry), ConfigError (missing/invalid variable), EventError (malformed event).
 *
 * Environment:
 *   BACKUP_BUCKET              primary bucket (required); reports go here unless DRILL_REPORT_BUCKET
 *   REPLICA_BUCKET             replica bucket (required for drills with source 'replica', the default)
 *   REPLICA_REGION             the replica bucket's region (required with REPLICA_BUCKET)
 *   DRILL_REPORT_BUCKET        where reports go (default BACKUP_BUCKET, in this function's region)
 *   DRILL_SUBNET_GROUP         DB subnet group for drill instances (required by provision)
 *   DRILL_SECURITY_GROUP_IDS   comma-separated security groups (required by provision)
 *   DRILL_INSTANCE_CLASS       default instance class (default db.t4g.medium; the event's wins)
 *   DRILL_KMS_KEY_ARN          storage encryption key (default: aws/rds)
 *   DRILL_MAX_LIFETIME_HOURS   restorable:expires-at = drill start + this (default 24)
 *   DRILL_SSL_MODE             verify-full (default) | verify-ca | require | disable (tests only)
 *   PG_CA_BUNDLE               CA bundle for verify-full (default /opt/rds-ca/global-bundle.pem)
 *   PG_BIN_DIRS                colon-separated pg_restore directories (default: image layout)
 *   DRILL_TEMP_DIR             where the archive is downloaded (default /tmp: size ephemeral storage
 *                              to hold the dump)
 *
 * Metrics (namespace Restorable, dimension DatabaseId), from report and from cleanup-with-error:
 *   DrillSuccess / DrillFailure (1/0 each run), DrillMismatches, DrillRtoSeconds and
 *   DrillRestoreSeconds (when the data was verified).
 *
 * IAM: s3:ListBucket + s3:GetObject on the source bucket's tier prefixes (and kms:Decrypt with the
 * bucket's key), s3:PutObject on drills/* of the report bucket (kms:GenerateDataKey);
 * rds:CreateDBInstance + rds:AddTagsToResource (request tag restorable:drill=true, identifier
 * restorable-drill-*), rds:DescribeDBInstances, rds:DeleteDBInstance (resource tag
 * restorable:drill=true); for the managed master password, on secrets rds!*:
 * secretsmanager:CreateSecret, TagResource and DeleteSecret (RDS acts with the caller's
 * permissions when it creates and removes the secret) and GetSecretValue, plus kms:Decrypt and
 * kms:GenerateDataKey on the secret's key (aws/secretsmanager by default); kms:CreateGrant and
 * kms:DescribeKey on DRILL_KMS_KEY_ARN when set.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions
 * Network: the function runs in the VPC of DRILL_SUBNET_GROUP and reaches the instance on 5432,
 * S3 (replica region) and Secrets Manager (endpoints or NAT). Ephemeral storage (/tmp) must hold
 * the archive; a restore must fit the 15-minute Lambda limit (larger databases: the Fargate runner).
 */
// @ts-nocheck

import { z } from 'zod';
import {
  buildReport,
  DrillStepError,
  drillMetrics,
  initialState,
  provisionStep,
  releaseStep,
  resolveDrillSettings,
  restoreAndCheckStep,
  startDrill,
  writeReport,
  type DrillReport,
  type DrillSource,
  type DrillState,
  type DrillStep,
} from '../core/drill';
import { RdsDatabaseProvider } from '../core/providers/rds';
import { sharedS3Client } from '../core/s3';
import { SSL_MODES, type SslMode } from '../core/secrets';
import { DATABASE_ID_PATTERN } from '../core/tiers';
import { ConfigError, EventError, numberEnv, optionalEnv, parseEvent, pathListEnv, requireEnv } from './env';
import { emitForDatabase, logger, MetricUnit, startInvocation, type LambdaContext } from './powertools';

export class DrillCleanupError extends Error {
  override readonly name = 'DrillCleanupError';
}

const databaseId = z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id');
/** The state is our own output coming back; checked for shape, not re-validated field by field. */
const StateSchema = z.looseObject({
  formatVersion: z.literal(1),
  drillId: z.string().min(1),
  databaseId,
  startedAt: z.string(),
  settings: z.looseObject({ rtoTargetSeconds: z.number() }),
  source: z.looseObject({ bucket: z.string(), kind: z.enum(['replica', 'primary']) }),
  completed: z.string(),
});

const EventSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('select'), databaseId, drill: z.unknown().optional() }),
  z.strictObject({ action: z.literal('provision'), state: StateSchema }),
  z.strictObject({ action: z.literal('status'), state: StateSchema }),
  z.strictObject({ action: z.literal('restore-and-check'), state: StateSchema }),
  z.strictObject({ action: z.literal('report'), state: StateSchema }),
  z.strictObject({
    action: z.literal('cleanup'),
    state: z.unknown(),
    error: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    step: z.string().optional(),
  }),
]);
export type DrillEvent = z.infer<typeof EventSchema>;

// ---------------------------------------------------------------------------------------------
// Configuration and clients (created once per execution environment)
// ---------------------------------------------------------------------------------------------

function sourceFor(kind: 'replica' | 'primary'): DrillSource {
  if (kind === 'primary') return { s3: sharedS3Client(), bucket: requireEnv('BACKUP_BUCKET'), kind };
  const region = requireEnv('REPLICA_REGION');
  return { s3: sharedS3Client(region), bucket: requireEnv('REPLICA_BUCKET'), region, kind };
}

function sourceOf(state: DrillState): DrillSource {
  return {
    s3: sharedS3Client(state.source.region),
    bucket: state.source.bucket,
    ...(state.source.region ? { region: state.source.region } : {}),
    kind: state.source.kind,
  };
}

function sslMode(): SslMode {
  const mode = optionalEnv('DRILL_SSL_MODE') ?? 'verify-full';
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`DRILL_SSL_MODE must be one of ${SSL_MODES.join(', ')}, got ${mode}`);
  }
  return mode as SslMode;
}

/** The RDS provider; network settings are only required by the steps that create instances. */
function provider(options: { forCreate?: boolean; instanceClass?: string } = {}): RdsDatabaseProvider {
  const groups = (optionalEnv('DRILL_SECURITY_GROUP_IDS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (options.forCreate && groups.length === 0) {
    throw new ConfigError('environment variable DRILL_SECURITY_GROUP_IDS is required but not set');
  }
  return new RdsDatabaseProvider({
    subnetGroupName: options.forCreate ? requireEnv('DRILL_SUBNET_GROUP') : optionalEnv('DRILL_SUBNET_GROUP'),
    securityGroupIds: groups,
    instanceClass: options.instanceClass ?? optionalEnv('DRILL_INSTANCE_CLASS') ?? 'db.t4g.medium',
    kmsKeyId: optionalEnv('DRILL_KMS_KEY_ARN'),
    sslMode: sslMode(),
    caBundlePath: optionalEnv('PG_CA_BUNDLE'),
  });
}

function reportTarget() {
  return { s3: sharedS3Client(), bucket: optionalEnv('DRILL_REPORT_BUCKET') ?? requireEnv('BACKUP_BUCKET') };
}

const asState = (s: unknown) => s as DrillState;

// ---------------------------------------------------------------------------------------------
// Failure (Catch path)
// ---------------------------------------------------------------------------------------------

const STEPS: readonly DrillStep[] = [
  'select',
  'provision',
  'wait',
  'restore',
  'checks',
  'rto',
  'cleanup',
  'report',
];

/** The drill state inside whatever the Catch passed: the state itself, or the execution state holding it. */
export function findDrillState(value: unknown): DrillState | undefined {
  const isState = (v: unknown) => StateSchema.safeParse(v).success;
  if (isState(value)) return value as DrillState;
  const nested = (value as { state?: unknown } | undefined)?.state;
  return isState(nested) ? (nested as DrillState) : undefined;
}

/** `{ Error, Cause }` from Step Functions → the step and a readable reason (no stack trace). */
export function describeError(
  error: { Error?: string; Cause?: string } | undefined,
  state: DrillState | undefined,
  execution: unknown,
  explicitStep?: string,
): { step: DrillStep; reason: string } {
  let message = error?.Cause ?? '';
  try {
    const cause = JSON.parse(message) as { errorMessage?: string; errorType?: string };
    if (cause.errorMessage) message = cause.errorMessage;
  } catch {
    // Not a Lambda error payload (e.g. States.Timeout): keep the text.
  }
  const prefixed = /^([a-z-]+): ([\s\S]*)$/.exec(message);
  let step: DrillStep | undefined;
  if (prefixed && (STEPS as readonly string[]).includes(prefixed[1])) {
    step = prefixed[1] as DrillStep;
    message = prefixed[2];
  }
  if (explicitStep && (STEPS as readonly string[]).includes(explicitStep)) step = explicitStep as DrillStep;
  if (!step) {
    const availability = (execution as { availability?: { status?: string } } | undefined)?.availability
      ?.status;
    if (!state || !state.backup) step = 'select';
    else if (state.completed === 'select') step = 'provision';
    else if (state.completed === 'provision') step = availability === 'available' ? 'restore' : 'wait';
    else if (state.completed === 'restore-and-check') step = 'cleanup';
    else step = 'report';
  }
  const kind = error?.Error && error.Error !== 'DrillStepError' ? `${error.Error}: ` : '';
  return { step, reason: `${kind}${message || 'no cause given'}`.slice(0, 2000) };
}

// ---------------------------------------------------------------------------------------------
// The handler
// ---------------------------------------------------------------------------------------------

export const handler = async (event: unknown, context?: LambdaContext): Promise<unknown> => {
  const action = (event as { action?: unknown } | undefined)?.action;
  const stateDb = findDrillState((event as { state?: unknown } | undefined)?.state)?.databaseId;
  const claimed = (event as { databaseId?: unknown } | undefined)?.databaseId;
  const dbId =
    stateDb ?? (typeof claimed === 'string' && DATABASE_ID_PATTERN.test(claimed) ? claimed : undefined);
  startInvocation(context, { action, databaseId: dbId });
  const ev = parseEvent(EventSchema, event, 'drill');
  try {
    switch (ev.action) {
      case 'select': {
        const settings = resolveDrillSettings(ev.drill);
        const state = await startDrill({
          databaseId: ev.databaseId,
          settings,
          source: sourceFor(settings.source),
          pgBinDirs: pathListEnv('PG_BIN_DIRS'),
          logger,
        });
        logger.info('backup selected', {
          drillId: state.drillId,
          backupId: state.backup?.backupId,
          skipped: state.skippedBackups?.length,
        });
        return state;
      }
      case 'provision': {
        const state = asState(ev.state);
        const next = await provisionStep(
          provider({ forCreate: true, instanceClass: state.settings.instanceClass }),
          state,
          {
            maxLifetimeHours: numberEnv('DRILL_MAX_LIFETIME_HOURS', 24),
          },
        );
        logger.info('drill instance requested', { drillId: state.drillId, instance: next.ephemeral?.id });
        return next;
      }
      case 'status': {
        const state = asState(ev.state);
        if (!state.ephemeral) throw new DrillStepError('wait', 'drill state has no ephemeral database');
        const s = await provider().status(state.ephemeral);
        logger.info('drill instance status', { instance: state.ephemeral.id, ...s });
        if (s.status === 'failed' || s.status === 'deleted') {
          throw new DrillStepError(
            'wait',
            `drill instance ${state.ephemeral.id} is ${s.status} (${s.detail ?? 'no detail'})`,
          );
        }
        return { status: s.status, detail: s.detail ?? s.status };
      }
      case 'restore-and-check': {
        const state = asState(ev.state);
        return await restoreAndCheckStep(state, {
          source: sourceOf(state),
          provider: provider(),
          pgBinDirs: pathListEnv('PG_BIN_DIRS'),
          tempDir: optionalEnv('DRILL_TEMP_DIR'),
          logger,
        });
      }
      case 'cleanup':
        return await cleanup(ev);
      case 'report': {
        const state = asState(ev.state);
        const report = buildReport(state, 'rds', new Date());
        return await publish(report);
      }
    }
  } catch (e) {
    logger.error('drill step failed', { action: ev.action, error: (e as Error).message });
    if (e instanceof DrillStepError) throw new DrillStepError(e.step, `${e.step}: ${e.message}`);
    throw e;
  }
};

async function publish(report: DrillReport) {
  const { s3, bucket } = reportTarget();
  const reportKey = await writeReport(s3, bucket, report);
  emitForDatabase(
    report.databaseId,
    drillMetrics(report).map(([name, unit, value]) => [
      name,
      unit === 'Seconds' ? MetricUnit.Seconds : MetricUnit.Count,
      value,
    ]),
  );
  logger.info('drill report written', {
    reportKey,
    status: report.status,
    failure: report.failure,
    rtoSeconds: report.rtoSeconds,
  });
  return {
    status: report.status,
    reportKey,
    ...(report.failure ? { failure: report.failure } : {}),
    rtoSeconds: report.rtoSeconds,
    restoreSeconds: report.restoreSeconds,
    mismatches: report.mismatches,
  };
}

async function cleanup(ev: Extract<DrillEvent, { action: 'cleanup' }>) {
  let state = findDrillState(ev.state);
  const released = state ? await releaseStep(provider(), state, { logger }) : undefined;
  if (!ev.error) {
    // Success path: release only; the report step follows.
    if (!released) throw new EventError('cleanup without an error needs the drill state');
    if (!released.release?.released) {
      throw new DrillCleanupError(
        `could not delete ${state?.ephemeral?.id}: ${released.release?.error ?? 'unknown error'}`,
      );
    }
    return released;
  }

  // Catch path: something failed. Report it, whatever state we have.
  const failure = describeError(ev.error, state, ev.state, ev.step);
  if (!state) {
    const execution = ev.state as { databaseId?: unknown; drill?: unknown } | undefined;
    const db =
      typeof execution?.databaseId === 'string' && DATABASE_ID_PATTERN.test(execution.databaseId)
        ? execution.databaseId
        : undefined;
    if (!db) throw new EventError('cleanup could not find a database id in the state');
    let settings;
    try {
      settings = resolveDrillSettings(execution?.drill);
    } catch {
      settings = resolveDrillSettings({});
    }
    const source =
      settings.source === 'primary'
        ? { bucket: optionalEnv('BACKUP_BUCKET') ?? '', kind: 'primary' as const }
        : {
            bucket: optionalEnv('REPLICA_BUCKET') ?? '',
            region: optionalEnv('REPLICA_REGION'),
            kind: 'replica' as const,
          };
    state = initialState(db, settings, source, new Date());
  } else {
    state = released!;
  }
  const report = buildReport(state, 'rds', new Date(), failure);
  const result = await publish(report);
  if (state.ephemeral && !state.release?.released) {
    throw new DrillCleanupError(
      `could not delete ${state.ephemeral.id}: ${state.release?.error ?? 'unknown error'}`,
    );
  }
  return { ...result, released: report.ephemeral.released };
}
