/**
 * Drill: the steps of the monthly restore-drill workflow (Step Functions), one per invocation,
 * dispatched on `event.action`. Each step takes the drill state (JSON, no credentials) and returns
 * it extended; the logic lives in lambda/core/drill.ts.
 *
 * Suggested state machine (execution input: DrillRunInputSchema below,
 * `{ databaseId, drill?: <config databases[].drill>, rdsResourceArn? }`; the fleet's drill
 * orchestrator passes the discovery function's FleetRunItem.execution in this shape, so one shared
 * drill workflow serves every database, each with its own settings):
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
 *                        timeoutSeconds? }], checkTimeoutSeconds?, jobs? }, rdsResourceArn? }
 *                      (extra keys of `drill` ignored)
 *                      → state   (ResultPath $.state)
 *                      Picks the newest backup that re-verifies (SHA-256, size, TOC) — or a random
 *                      verified one within randomWindowDays — from the replica bucket by default.
 *                      Fails with DrillStepError "select: no valid backup ..." when there is none,
 *                      and "select: DATABASE_GONE: ..." when `rdsResourceArn` names an RDS resource
 *                      deleted since discovery (that drill fails alone).
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
 * Environment: DrillEnvSchema (lambda/core/handler-env.ts), parsed on the first invocation. Reports
 * go to DRILL_REPORT_BUCKET, else BACKUP_BUCKET; drills with source 'replica' (the default) need
 * REPLICA_BUCKET and REPLICA_REGION.
 *
 * Metrics (namespace Restorable, dimension DatabaseId), from report and from cleanup-with-error:
 *   DrillSuccess / DrillFailure (1/0 each run), DrillMismatches, DrillRtoSeconds,
 *   DrillRtoOverTarget (RTO / target) and DrillRestoreSeconds (when the data was verified).
 *
 * With DATABASE_ACCESS_ROLE_ARN, the S3 calls (the backup's source bucket, the report) act as the
 * data-access role assumed for the drill's database (run-clients.ts); RDS calls and the drill
 * instance's own master secret stay with the function's role (the data-access role holds data
 * permissions only, and a drill instance is not the database's).
 *
 * IAM: s3:ListBucket + s3:GetObject on the source bucket's tier prefixes (and kms:Decrypt with the
 * bucket's key), s3:PutObject on drills/* of the report bucket (kms:GenerateDataKey);
 * rds:CreateDBInstance + rds:AddTagsToResource (request tag restorable:drill=true, identifier
 * restorable-drill-*), rds:DescribeDBInstances, rds:DeleteDBInstance (resource tag
 * restorable:drill=true); for the managed master password, on secrets rds!*:
 * secretsmanager:CreateSecret, TagResource and DeleteSecret (RDS acts with the caller's
 * permissions when it creates and removes the secret) and GetSecretValue, plus kms:Decrypt and
 * kms:GenerateDataKey on the secret's key (aws/secretsmanager by default); kms:CreateGrant and
 * kms:DescribeKey on the drill instances' key when one is set.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html#rds-secrets-manager-permissions
 * Network: the function runs in the VPC of the drill subnet group and reaches the instance on 5432,
 * S3 (replica region) and Secrets Manager (endpoints or NAT). Ephemeral storage (/tmp) must hold
 * the archive; a restore must fit the 15-minute Lambda limit (larger databases: the Fargate runner).
 */
import { RDSClient } from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import {
  buildReport,
  DRILL_STEPS,
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
import { FleetDatabaseError, RDS_RESOURCE_ARN_PATTERN } from '../core/discovery-recheck';
import { DrillSettingsSchema } from '../core/drill-settings';
import { DRILL_ACTIONS, DRILL_CLEANUP_ERROR } from '../core/drill-workflow';
import type { DrillEnv } from '../core/handler-env';
import { RdsDatabaseProvider } from '../core/providers/rds';
import { DATABASE_ID_PATTERN } from '../core/tiers';
import { ConfigError, EventError, handlerEnv, parseEvent } from './env';
import {
  emitForDatabase,
  logger,
  MetricUnit,
  startInvocation,
  traced,
  type LambdaContext,
} from './powertools';
import { confirmRunDatabase } from './confirm-run';
import { runClients } from './run-clients';

export class DrillCleanupError extends Error {
  override readonly name = DRILL_CLEANUP_ERROR;
}

const databaseId = z.string().regex(DATABASE_ID_PATTERN, 'must be a lowercase-hyphen database id');
const rdsResourceArn = z
  .string()
  .regex(RDS_RESOURCE_ARN_PATTERN, 'must be an RDS instance or cluster ARN')
  .optional();

/**
 * The drill workflow's execution input: the database, its drill settings (`databases[].drill` as
 * the config holds it, or the discovery defaults for a discovered database), and for a discovered
 * database the RDS resource it was found as (re-described before the drill: DATABASE_GONE).
 * The Select task passes these fields on (or the input whole, `action: 'select'` included); the
 * settings are the drill's own schema, so the config, the orchestrator's input and the handler
 * accept the same thing.
 */
export const DrillRunInputSchema = z.strictObject({
  /** The workflow may pass its input to the Select task whole: then it is the select event. */
  action: z.literal(DRILL_ACTIONS.Select).optional(),
  databaseId,
  drill: DrillSettingsSchema.optional(),
  rdsResourceArn,
});
export type DrillRunInput = z.input<typeof DrillRunInputSchema>;
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
  z.strictObject({
    action: z.literal(DRILL_ACTIONS.Select),
    databaseId,
    drill: z.unknown().optional(),
    rdsResourceArn,
  }),
  z.strictObject({ action: z.literal(DRILL_ACTIONS.Provision), state: StateSchema }),
  z.strictObject({ action: z.literal(DRILL_ACTIONS.Status), state: StateSchema }),
  z.strictObject({ action: z.literal(DRILL_ACTIONS.RestoreAndCheck), state: StateSchema }),
  z.strictObject({ action: z.literal(DRILL_ACTIONS.Report), state: StateSchema }),
  z.strictObject({
    action: z.literal(DRILL_ACTIONS.Cleanup),
    state: z.unknown(),
    error: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    step: z.string().optional(),
  }),
]);
export type DrillEvent = z.infer<typeof EventSchema>;

// ---------------------------------------------------------------------------------------------
// Configuration and clients (created once per execution environment)
// ---------------------------------------------------------------------------------------------

const readEnv = handlerEnv('drill');
let rds: RDSClient | undefined;
let secrets: SecretsManagerClient | undefined;

/** S3 of one database's drill: the data-access role's session for it when DATABASE_ACCESS_ROLE_ARN is set. */
const s3For = (env: DrillEnv, databaseId: string, region?: string) =>
  runClients({ roleArn: env.DATABASE_ACCESS_ROLE_ARN, databaseId }).s3(region);

function sourceFor(env: DrillEnv, databaseId: string, kind: 'replica' | 'primary'): DrillSource {
  if (kind === 'primary') return { s3: s3For(env, databaseId), bucket: env.BACKUP_BUCKET, kind };
  const { REPLICA_BUCKET: bucket, REPLICA_REGION: region } = env;
  if (!bucket || !region) {
    throw new ConfigError(
      'a drill from the replica needs REPLICA_BUCKET and REPLICA_REGION, which are not set',
    );
  }
  return { s3: s3For(env, databaseId, region), bucket, region, kind };
}

function sourceOf(env: DrillEnv, state: DrillState): DrillSource {
  return {
    s3: s3For(env, state.databaseId, state.source.region),
    bucket: state.source.bucket,
    ...(state.source.region ? { region: state.source.region } : {}),
    kind: state.source.kind,
  };
}

/** The RDS provider; `instanceClass` is the drill settings' choice, over the environment's. */
function provider(env: DrillEnv, instanceClass?: string): RdsDatabaseProvider {
  rds ??= traced(new RDSClient({}));
  secrets ??= traced(new SecretsManagerClient({}));
  return new RdsDatabaseProvider({
    rds,
    secrets,
    subnetGroupName: env.DRILL_SUBNET_GROUP,
    securityGroupIds: env.DRILL_SECURITY_GROUP_IDS,
    instanceClass: instanceClass ?? env.DRILL_INSTANCE_CLASS,
    kmsKeyId: env.DRILL_KMS_KEY_ARN,
    parameterGroups: env.DRILL_PARAMETER_GROUPS,
    sslMode: env.DRILL_SSL_MODE,
    caBundlePath: env.PG_CA_BUNDLE,
  });
}

function reportTarget(env: DrillEnv, databaseId: string) {
  return { s3: s3For(env, databaseId), bucket: env.DRILL_REPORT_BUCKET ?? env.BACKUP_BUCKET };
}

const asState = (s: unknown) => s as DrillState;

// ---------------------------------------------------------------------------------------------
// Failure (Catch path)
// ---------------------------------------------------------------------------------------------

const STEPS: readonly string[] = DRILL_STEPS;

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
  if (prefixed && STEPS.includes(prefixed[1])) {
    step = prefixed[1] as DrillStep;
    message = prefixed[2];
  }
  if (explicitStep && STEPS.includes(explicitStep)) step = explicitStep as DrillStep;
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
  const env = readEnv();
  const ev = parseEvent(EventSchema, event, 'drill');
  try {
    switch (ev.action) {
      case 'select': {
        const settings = resolveDrillSettings(ev.drill);
        await confirmRunDatabase(ev).catch((e: unknown) => {
          if (e instanceof FleetDatabaseError) throw new DrillStepError('select', `${e.code}: ${e.message}`);
          throw e;
        });
        const state = await startDrill({
          databaseId: ev.databaseId,
          settings,
          source: sourceFor(env, ev.databaseId, settings.source),
          pgBinDirs: env.PG_BIN_DIRS,
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
        const next = await provisionStep(provider(env, state.settings.instanceClass), state, {
          maxLifetimeHours: env.DRILL_MAX_LIFETIME_HOURS,
        });
        logger.info('drill instance requested', { drillId: state.drillId, instance: next.ephemeral?.id });
        return next;
      }
      case 'status': {
        const state = asState(ev.state);
        if (!state.ephemeral) throw new DrillStepError('wait', 'drill state has no ephemeral database');
        const s = await provider(env).status(state.ephemeral);
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
          source: sourceOf(env, state),
          provider: provider(env),
          pgBinDirs: env.PG_BIN_DIRS,
          tempDir: env.DRILL_TEMP_DIR,
          logger,
        });
      }
      case 'cleanup':
        return await cleanup(env, ev);
      case 'report': {
        const state = asState(ev.state);
        const report = buildReport(state, 'rds', new Date());
        return await publish(env, report);
      }
    }
  } catch (e) {
    logger.error('drill step failed', { action: ev.action, error: (e as Error).message });
    if (e instanceof DrillStepError) throw new DrillStepError(e.step, `${e.step}: ${e.message}`);
    throw e;
  }
};

async function publish(env: DrillEnv, report: DrillReport) {
  const { s3, bucket } = reportTarget(env, report.databaseId);
  const reportKey = await writeReport(s3, bucket, report);
  emitForDatabase(
    report.databaseId,
    drillMetrics(report).map(([name, unit, value]) => [
      name,
      unit === 'Seconds' ? MetricUnit.Seconds : unit === 'None' ? MetricUnit.NoUnit : MetricUnit.Count,
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

async function cleanup(env: DrillEnv, ev: Extract<DrillEvent, { action: 'cleanup' }>) {
  let state = findDrillState(ev.state);
  const released = state ? await releaseStep(provider(env), state, { logger }) : undefined;
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
        ? { bucket: env.BACKUP_BUCKET, kind: 'primary' as const }
        : {
            bucket: env.REPLICA_BUCKET ?? '',
            region: env.REPLICA_REGION,
            kind: 'replica' as const,
          };
    state = initialState(db, settings, source, new Date());
  } else {
    state = released!;
  }
  const report = buildReport(state, 'rds', new Date(), failure);
  const result = await publish(env, report);
  if (state.ephemeral && !state.release?.released) {
    throw new DrillCleanupError(
      `could not delete ${state.ephemeral.id}: ${state.release?.error ?? 'unknown error'}`,
    );
  }
  return { ...result, released: report.ephemeral.released };
}
