/**
 * Ephemeral databases as RDS for PostgreSQL instances.
 *
 * Every instance is `restorable-drill-<db>-<yyyymmddhhmmss>`, the backup's engine major, encrypted,
 * private, single-AZ, without automated backups or deletion protection, with an RDS-managed
 * master password (Secrets Manager; we never see or choose it), and tagged `restorable:drill=true`
 * plus `restorable:expires-at` so the sweeper can remove it if a drill crashes. The drill's IAM
 * role is scoped to that name prefix and tag.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
 */
import {
  CreateDBInstanceCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  type DBInstance,
  type Tag,
} from '@aws-sdk/client-rds';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_SSL_MODE } from '../backup-settings';
import {
  DRILL_INSTANCE_PREFIX,
  TAG_DATABASE,
  TAG_DRILL,
  TAG_DRILL_ID,
  TAG_EXPIRES_AT,
} from '../drill-naming';
import { DEFAULT_DRILL_INSTANCE_CLASS } from '../drill-settings';
import { ENGINE_LIFECYCLE_SUPPORT, rdsExtendedSupportOn } from '../rds-extended-support';
import { compactTimestamp } from '../tiers';
import type { RestoreTarget } from '../restore';
import { resolveConnection, type SslMode } from '../secrets';
import type {
  EphemeralDatabaseProvider,
  EphemeralDescription,
  EphemeralHandle,
  EphemeralStatus,
  ProvisionRequest,
  ReleaseResult,
  StatusResult,
} from './provider';

export { DRILL_INSTANCE_PREFIX, TAG_DATABASE, TAG_DRILL, TAG_DRILL_ID, TAG_EXPIRES_AT };

/** RDS instance identifiers: 1-63 letters, digits, hyphens; a letter first; no `--`; no trailing `-`. */
export const DB_INSTANCE_IDENTIFIER = /^(?!.*--)[a-z][a-z0-9-]{0,62}(?<!-)$/;

/**
 * `restorable-drill-<db>-<yyyymmddhhmmss>`, the database id shortened (and cleaned of `--`) so the
 * whole stays within RDS's 63 characters.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html (DBInstanceIdentifier)
 */
export function drillInstanceIdentifier(databaseId: string, startedAt: Date): string {
  const stamp = compactTimestamp(startedAt).replace(/[TZ]/g, '');
  const room = 63 - DRILL_INSTANCE_PREFIX.length - 1 - stamp.length;
  const db = databaseId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
  const id = `${DRILL_INSTANCE_PREFIX}${db || 'db'}-${stamp}`;
  if (!DB_INSTANCE_IDENTIFIER.test(id))
    throw new Error(`cannot build a valid RDS identifier from "${databaseId}"`);
  return id;
}

/**
 * The `EngineLifecycleSupport` of a drill instance of `major` created on `date`: Extended Support
 * only when the major is in it and the drill allows it; a major in it without that is refused
 * before anything is created.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support-creating-db-instance.html
 */
export function engineLifecycleSupport(major: number, date: Date, allowExtendedSupport: boolean): string {
  const { inExtendedSupport, standardSupportEnd } = rdsExtendedSupportOn(major, date);
  if (!inExtendedSupport) return ENGINE_LIFECYCLE_SUPPORT.disabled;
  if (!allowExtendedSupport) {
    throw new Error(
      `PostgreSQL ${major} left RDS standard support on ${standardSupportEnd}: a drill instance would run on ` +
        'RDS Extended Support, billed per vCPU-hour. Restore into a newer major (drill.targetMajor) or ' +
        'allow it with drill.allowExtendedSupport: true',
    );
  }
  return ENGINE_LIFECYCLE_SUPPORT.extended;
}

export interface RdsProviderConfig {
  /** @default - a client for the current region */
  readonly rds?: RDSClient;
  /** @default - a client for the current region */
  readonly secrets?: SecretsManagerClient;
  /** Region, for reports. @default - AWS_REGION */
  readonly region?: string;
  /** @default 'db.t4g.medium' */
  readonly instanceClass?: string;
  /** A DB subnet group in private subnets the drill Lambda can reach. Required to provision. */
  readonly subnetGroupName?: string;
  /** Security groups admitting the drill Lambda on 5432. Required to provision. */
  readonly securityGroupIds?: readonly string[];
  /** KMS key for storage encryption. @default - the account's aws/rds key */
  readonly kmsKeyId?: string;
  /** KMS key for the managed master user secret. @default - aws/secretsmanager */
  readonly masterUserSecretKmsKeyId?: string;
  /** @default 'restorable_admin' */
  readonly masterUsername?: string;
  /** @default 'gp3' */
  readonly storageType?: string;
  /** The database the restore goes into (exists on every new RDS instance). @default 'postgres' */
  readonly database?: string;
  /** @default 'verify-full' */
  readonly sslMode?: SslMode;
  /** @default - secrets.ts default (RESTORABLE_CA_BUNDLE or the image's RDS bundle) */
  readonly caBundlePath?: string;
  /**
   * DB parameter group per engine major (`{"16": "restorable-drill-app-pg16"}`): the drill's own,
   * with `max_locks_per_transaction` raised (lib/constructs/drill-parameter-groups.ts). A major
   * without one gets the RDS default group.
   * @default - the RDS default parameter group of the major
   */
  readonly parameterGroups?: Readonly<Record<string, string>>;
}

const CREATING = new Set([
  'creating',
  'backing-up',
  'modifying',
  'configuring-enhanced-monitoring',
  'configuring-iam-database-auth',
  'configuring-log-exports',
  'rebooting',
  'resetting-master-credentials',
  'starting',
  'upgrading',
  'renaming',
  'maintenance',
]);
/** Usable states: `storage-optimization` follows some creations and serves queries normally. */
const AVAILABLE = new Set(['available', 'storage-optimization']);

const isNotFound = (e: unknown) => (e as { name?: string }).name === 'DBInstanceNotFoundFault';

export class RdsDatabaseProvider implements EphemeralDatabaseProvider {
  readonly name = 'rds' as const;
  private readonly rds: RDSClient;
  private readonly secrets: SecretsManagerClient;

  constructor(private readonly config: RdsProviderConfig = {}) {
    this.rds = config.rds ?? new RDSClient({});
    this.secrets = config.secrets ?? new SecretsManagerClient({});
  }

  async provision(request: ProvisionRequest): Promise<EphemeralHandle> {
    const subnetGroupName = this.config.subnetGroupName;
    const securityGroupIds = this.config.securityGroupIds ?? [];
    if (!subnetGroupName) throw new Error('RDS drill provider needs a DB subnet group to create instances');
    if (securityGroupIds.length === 0)
      throw new Error('RDS drill provider needs at least one security group');
    const startedAt = request.startedAt ?? new Date();
    const lifecycle = engineLifecycleSupport(
      request.engineMajor,
      startedAt,
      request.allowExtendedSupport ?? false,
    );
    const id = drillInstanceIdentifier(request.databaseId, startedAt);
    const parameterGroup = this.config.parameterGroups?.[String(request.engineMajor)];
    const tags: Tag[] = [
      { Key: TAG_DRILL, Value: 'true' },
      { Key: TAG_EXPIRES_AT, Value: request.expiresAt.toISOString() },
      { Key: TAG_DATABASE, Value: request.databaseId },
      { Key: TAG_DRILL_ID, Value: request.drillId },
    ];
    await this.rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        // A major alone lets RDS pick that major's default minor version.
        EngineVersion: String(request.engineMajor),
        // Stated either way: left out, RDS enrolls (and bills) the instance in Extended Support.
        EngineLifecycleSupport: lifecycle,
        DBInstanceClass: this.config.instanceClass ?? DEFAULT_DRILL_INSTANCE_CLASS,
        AllocatedStorage: request.allocatedStorageGb,
        StorageType: this.config.storageType ?? 'gp3',
        StorageEncrypted: true,
        ...(this.config.kmsKeyId ? { KmsKeyId: this.config.kmsKeyId } : {}),
        MasterUsername: this.config.masterUsername ?? 'restorable_admin',
        ManageMasterUserPassword: true,
        ...(this.config.masterUserSecretKmsKeyId
          ? { MasterUserSecretKmsKeyId: this.config.masterUserSecretKmsKeyId }
          : {}),
        DBSubnetGroupName: subnetGroupName,
        ...(parameterGroup ? { DBParameterGroupName: parameterGroup } : {}),
        VpcSecurityGroupIds: [...securityGroupIds],
        PubliclyAccessible: false,
        MultiAZ: false,
        BackupRetentionPeriod: 0,
        DeletionProtection: false,
        CopyTagsToSnapshot: false,
        AutoMinorVersionUpgrade: false,
        EnablePerformanceInsights: false,
        MonitoringInterval: 0,
        Tags: tags,
      }),
    );
    return { provider: 'rds', id, ...(this.region() ? { region: this.region() } : {}) };
  }

  private region(): string | undefined {
    return this.config.region ?? process.env.AWS_REGION;
  }

  private async instance(id: string): Promise<DBInstance | undefined> {
    try {
      const out = await this.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
      return out.DBInstances?.[0];
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async status(handle: EphemeralHandle): Promise<StatusResult> {
    const db = await this.instance(handle.id);
    if (!db) return { status: 'deleted', detail: 'not found' };
    const word = db.DBInstanceStatus ?? 'unknown';
    let status: EphemeralStatus;
    if (word === 'deleting') status = 'deleted';
    else if (AVAILABLE.has(word)) {
      // The managed master secret is created asynchronously; until it is active we cannot log in.
      const secret = db.MasterUserSecret;
      status = secret?.SecretArn && (secret.SecretStatus ?? 'active') === 'active' ? 'available' : 'creating';
    } else if (CREATING.has(word)) status = 'creating';
    else status = 'failed';
    return { status, detail: word };
  }

  async connection(handle: EphemeralHandle): Promise<RestoreTarget> {
    const db = await this.instance(handle.id);
    if (!db) throw new Error(`drill instance ${handle.id} not found`);
    const address = db.Endpoint?.Address;
    const secretArn = db.MasterUserSecret?.SecretArn;
    if (!address) throw new Error(`drill instance ${handle.id} has no endpoint yet`);
    if (!secretArn) throw new Error(`drill instance ${handle.id} has no managed master user secret`);
    const conn = await resolveConnection({
      secretArn,
      client: this.secrets,
      host: address,
      port: db.Endpoint?.Port ?? 5432,
      database: this.config.database ?? 'postgres',
    });
    return {
      ...conn,
      sslMode: this.config.sslMode ?? DEFAULT_SSL_MODE,
      ...(this.config.caBundlePath ? { caBundlePath: this.config.caBundlePath } : {}),
    };
  }

  async release(handle: EphemeralHandle): Promise<ReleaseResult> {
    if (!handle.id.startsWith(DRILL_INSTANCE_PREFIX)) {
      throw new Error(`refusing to delete ${handle.id}: not a drill instance (${DRILL_INSTANCE_PREFIX}*)`);
    }
    try {
      await this.rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: handle.id,
          SkipFinalSnapshot: true,
          DeleteAutomatedBackups: true,
        }),
      );
      return { released: true, alreadyGone: false };
    } catch (e) {
      if (isNotFound(e)) return { released: true, alreadyGone: true };
      // Already being deleted: that is what we wanted. Any other state (e.g. still creating on a
      // very old API) is rethrown so the caller retries.
      if ((e as { name?: string }).name === 'InvalidDBInstanceStateFault') {
        const db = await this.instance(handle.id);
        if (!db || db.DBInstanceStatus === 'deleting') return { released: true, alreadyGone: true };
      }
      throw e;
    }
  }

  async describe(handle: EphemeralHandle): Promise<EphemeralDescription> {
    const db = await this.instance(handle.id);
    const region = handle.region ?? this.region();
    if (!db) return { provider: 'rds', id: handle.id, ...(region ? { region } : {}), status: 'not found' };
    return {
      provider: 'rds',
      id: handle.id,
      ...(region ? { region } : {}),
      ...(db.EngineVersion ? { engineVersion: db.EngineVersion } : {}),
      ...(db.DBInstanceClass ? { instanceClass: db.DBInstanceClass } : {}),
      ...(db.AllocatedStorage !== undefined ? { allocatedStorageGb: db.AllocatedStorage } : {}),
      ...(db.AvailabilityZone ? { availabilityZone: db.AvailabilityZone } : {}),
      ...(db.StorageEncrypted !== undefined ? { encrypted: db.StorageEncrypted } : {}),
      ...(db.DBInstanceStatus ? { status: db.DBInstanceStatus } : {}),
    };
  }
}
