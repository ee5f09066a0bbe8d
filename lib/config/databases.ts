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
import { refineRunnerSettings, RunnerSettingFields } from '../../lambda/core/runner-settings';
import { DatabasePresetSchema } from '../../lambda/core/presets';
import { DATABASE_ID_PATTERN } from '../../lambda/core/tiers';
import {
  asArray,
  asRecord,
  KMS_KEY_ARN,
  regexField,
  ROUTE_TABLE_ID,
  scheduleExpression,
  SECRET_ARN,
  SECURITY_GROUP_ID,
  SUBNET_ID,
  VPC_ID,
} from './fields';

export const VpcSchema = z.strictObject({
  vpcId: regexField(VPC_ID, 'a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: z
    .array(regexField(SUBNET_ID, 'a subnet id such as subnet-0123456789abcdef0'))
    .min(1)
    .describe('Private subnets from which the runner reaches the database.'),
  securityGroupIds: z
    .array(regexField(SECURITY_GROUP_ID, 'a security group id such as sg-0123456789abcdef0'))
    .min(1)
    .describe('Security groups the database accepts the runner from.'),
  provisionEndpoints: z
    .boolean()
    .default(false)
    .describe(
      'Create the VPC endpoints the dump and the drill need in this VPC (interface: Secrets Manager, RDS, KMS, ' +
        'STS, CloudWatch Logs and Monitoring, in subnetIds; gateway: S3, on routeTableIds). ' +
        'Default: none created, and synth warns with the list (the subnets need NAT or these endpoints). ' +
        'Per-database shape only, and on one database per VPC (one endpoint with private DNS per service per VPC).',
    ),
  routeTableIds: z
    .array(regexField(ROUTE_TABLE_ID, 'a route table id such as rtb-0123456789abcdef0'))
    .min(1)
    .optional()
    .describe("The subnets' route tables, for the S3 gateway endpoint; required with provisionEndpoints."),
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

export const DatabaseSchema = z
  .strictObject({
    id: regexField(
      DATABASE_ID_PATTERN,
      '1-40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen',
    ).describe('Becomes an S3 key prefix and part of resource names.'),
    secretArn: regexField(
      SECRET_ARN,
      'a full Secrets Manager secret ARN, including the 6-character suffix',
    ).describe('Secret in the standard RDS shape (host, port, username, password, dbname).'),
    secretKmsKeyArn: regexField(
      KMS_KEY_ARN,
      'a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/<uuid>',
    )
      .optional()
      .describe(
        "The customer managed key the secret is encrypted with (the secret's KmsKeyId), in the secret's region; " +
          'the dump gets kms:Decrypt on it through Secrets Manager, for this secret only. ' +
          'Default: the AWS managed key aws/secretsmanager, which needs no grant.',
      ),
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
        include: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Dump only these schemas (pg_dump -n).'),
        exclude: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('Leave these schemas out (pg_dump -N).'),
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
    /** runner, fargate, sizeHintGiB: lambda/core/runner-settings.ts, which the FargateRunner validates with too. */
    ...RunnerSettingFields,
  })
  .superRefine(refineRunnerSettings)
  .superRefine((db, ctx) => {
    // A Fargate task has no network but a VPC's (awsvpc): its ENI goes into the database's subnets.
    if (db.runner === 'fargate' && db.vpc === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runner'],
        message:
          'is "fargate" but the database has no vpc: Fargate tasks run in VPC subnets (awsvpc), so set databases[].vpc ' +
          '(private subnets with NAT or VPC endpoints, and the security groups the database accepts), or use runner "lambda"',
      });
    }
  });

/**
 * Database ids are unique: they are key prefixes and resource names. A secret's customer managed
 * key is in the secret's region: Secrets Manager encrypts only with a key of its own region.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
 */
export function checkDatabaseRules(config: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const firstIndexOfId = new Map<string, number>();
  asArray(config.databases).forEach((db, i) => {
    checkSecretKey(asRecord(db), i, ctx);
    checkEndpoints(asRecord(db), i, ctx);
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

function checkSecretKey(db: Record<string, unknown>, i: number, ctx: z.core.$RefinementCtx): void {
  const { secretArn, secretKmsKeyArn } = db;
  // Malformed ARNs are reported by their own fields.
  if (typeof secretArn !== 'string' || !SECRET_ARN.test(secretArn)) return;
  if (typeof secretKmsKeyArn !== 'string' || !KMS_KEY_ARN.test(secretKmsKeyArn)) return;
  const [, secretPartition, , secretRegion] = secretArn.split(':');
  const [, keyPartition, , keyRegion] = secretKmsKeyArn.split(':');
  if (secretRegion !== keyRegion || secretPartition !== keyPartition) {
    ctx.addIssue({
      code: 'custom',
      path: ['databases', i, 'secretKmsKeyArn'],
      message:
        `(${JSON.stringify(secretKmsKeyArn)}) is in ${keyPartition}/${keyRegion} but the secret is in ` +
        `${secretPartition}/${secretRegion}: Secrets Manager encrypts a secret only with a key of its own region`,
    });
  }
}

/** A gateway endpoint attaches to route tables, and imported subnets do not name theirs. */
function checkEndpoints(db: Record<string, unknown>, i: number, ctx: z.core.$RefinementCtx): void {
  const vpc = asRecord(db.vpc);
  if (
    vpc.provisionEndpoints === true &&
    !(Array.isArray(vpc.routeTableIds) && vpc.routeTableIds.length > 0)
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['databases', i, 'vpc', 'routeTableIds'],
      message:
        "is required with provisionEndpoints: the S3 gateway endpoint is added to the subnets' route tables, " +
        'which an imported subnet does not name',
    });
  }
}
