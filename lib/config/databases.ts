/**
 * `databases[]`: what each backed-up database is, where it runs, when it is dumped and how it is
 * drilled. The drill's own settings come from `lambda/core/drill-settings.ts`, which the drill
 * itself validates with, so the config and the runtime cannot disagree.
 */
import { z } from 'zod';
import {
  DEFAULT_BACKUP_SCHEDULE,
  DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS,
  DEFAULT_SSL_MODE,
  DumpFromSchema,
  LockWaitTimeoutSecondsSchema,
  SslModeSchema,
} from '../../lambda/core/backup-settings';
import { CompressionChoiceSchema } from '../../lambda/core/compression-settings';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_SCHEDULE,
  DrillInstanceClassSchema,
  DrillSettingFields,
} from '../../lambda/core/drill-settings';
import { DatabasePresetSchema } from '../../lambda/core/presets';
import { DATABASE_ID_PATTERN } from '../../lambda/core/tiers';
import {
  asArray,
  asRecord,
  regexField,
  scheduleExpression,
  SECRET_ARN,
  SECURITY_GROUP_ID,
  SUBNET_ID,
  VPC_ID,
} from './fields';

const VpcSchema = z.strictObject({
  vpcId: regexField(VPC_ID, 'a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: z
    .array(regexField(SUBNET_ID, 'a subnet id such as subnet-0123456789abcdef0'))
    .min(1)
    .describe('Private subnets from which the runner reaches the database.'),
  securityGroupIds: z
    .array(regexField(SECURITY_GROUP_ID, 'a security group id such as sg-0123456789abcdef0'))
    .min(1)
    .describe('Security groups the database accepts the runner from.'),
});

/** A drill's own network: the drill creates its security groups, so only placement is needed. */
const DrillVpcSchema = z.strictObject({
  vpcId: regexField(VPC_ID, 'a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: z
    .array(regexField(SUBNET_ID, 'a subnet id such as subnet-0123456789abcdef0'))
    .min(2)
    .describe(
      'Private subnets in at least two AZs (an RDS subnet group needs two), with NAT to reach S3 in the replica region.',
    ),
});

/**
 * `databases[].drill`: the drill's own settings, schemas and defaults (selection, window, source,
 * RTO target, checks) come from the core (`lambda/core/drill-settings.ts`), which the construct and
 * the drill itself use too; the config adds only what decides where and when a drill runs.
 */
const DrillSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run scheduled restore drills for this database.'),
  schedule: scheduleExpression(
    DEFAULT_DRILL_SCHEDULE,
    'When drills run (UTC); default: last Friday of the month 03:00.',
  ),
  ...DrillSettingFields,
  instanceClass: DrillInstanceClassSchema.default(DEFAULT_DRILL_INSTANCE_CLASS).describe(
    'Instance class of the ephemeral drill database.',
  ),
  parameters: z
    .record(
      z.string().regex(/^[a-z][a-z0-9_.]*$/, 'a lowercase parameter name'),
      z.union([z.string(), z.number()]),
    )
    .optional()
    .describe(
      "Parameters of the drill instance's RDS parameter group, e.g. { shared_preload_libraries: 'pg_cron', " +
        'max_locks_per_transaction: 1024 }; default: max_locks_per_transaction 256.',
    ),
  vpc: DrillVpcSchema.optional().describe(
    "Network for the ephemeral drill instance and the drill function; default: the database's vpc. " +
      'Databases outside any VPC (e.g. Supabase) need one to be drilled.',
  ),
});

export const DatabaseSchema = z.strictObject({
  id: regexField(
    DATABASE_ID_PATTERN,
    '1-40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen',
  ).describe('Becomes an S3 key prefix and part of resource names.'),
  secretArn: regexField(
    SECRET_ARN,
    'a full Secrets Manager secret ARN, including the 6-character suffix',
  ).describe('Secret in the standard RDS shape (host, port, username, password, dbname).'),
  engine: z
    .enum(['postgres', 'aurora-postgresql', 'external'])
    .optional()
    .describe('Where the database runs; "external" for hosts outside AWS such as Supabase.'),
  vpc: VpcSchema.optional().describe(
    'Run the backup inside this VPC; omit for hosts reachable from the internet.',
  ),
  schedule: scheduleExpression(DEFAULT_BACKUP_SCHEDULE, 'When backups run (UTC); default: daily 02:00.'),
  rpoHours: z
    .int()
    .min(1)
    .max(8760)
    .default(24)
    .describe('Alarm when the newest backup is older than this + 1 h.'),
  preset: DatabasePresetSchema.optional().describe(
    'The platform the database runs on. "supabase": back up the user\'s schemas and the data of auth and ' +
      "storage, leave out the platform's own schemas (extensions, graphql, realtime, vault, ...); a restore " +
      "into a Supabase project restores only auth's and storage's data, and objects needing an extension " +
      'the target lacks (pgsodium, pg_graphql, pg_net, supabase_vault) are left out and reported. See docs/RUNBOOK.md.',
  ),
  dumpFrom: DumpFromSchema.optional().describe(
    "Dump from this read replica instead of the database: { host, port } with the database's credentials, " +
      'or { secretArn } of its own. The replica must be a standby with hot_standby_feedback = on (or ' +
      'max_standby_streaming_delay = -1), checked before each backup (REPLICA_UNSUITABLE otherwise).',
  ),
  schemas: z
    .strictObject({
      include: z.array(z.string().min(1)).min(1).optional().describe('Dump only these schemas (pg_dump -n).'),
      exclude: z.array(z.string().min(1)).min(1).optional().describe('Leave these schemas out (pg_dump -N).'),
    })
    .prefault({}),
  sslMode: SslModeSchema.default(DEFAULT_SSL_MODE).describe(
    'libpq sslmode; verify-full checks the certificate and the host name.',
  ),
  compression: CompressionChoiceSchema.optional().describe(
    'Archive compression: { kind: zstd | gzip | none, level }; default zstd level 3 on every core.',
  ),
  lockWaitTimeoutSeconds: LockWaitTimeoutSecondsSchema.optional().describe(
    `How long pg_dump waits for a table lock before the backup gives way (LOCK_TIMEOUT); default ${DEFAULT_LOCK_WAIT_TIMEOUT_SECONDS}.`,
  ),
  drill: DrillSchema.prefault({}),
});

/** Database ids are unique: they are key prefixes and resource names. */
export function checkDatabaseRules(config: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const firstIndexOfId = new Map<string, number>();
  asArray(config.databases).forEach((db, i) => {
    const id = asRecord(db).id;
    if (typeof id !== 'string') return;
    const first = firstIndexOfId.get(id);
    if (first === undefined) {
      firstIndexOfId.set(id, i);
    } else {
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'id'],
        message: `${JSON.stringify(id)} is already used by databases[${first}]: ids must be unique`,
      });
    }
  });
}
