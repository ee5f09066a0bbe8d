/**
 * On-call's one screen, per database: the newest valid backup and its age against the RPO (S3's
 * LastModified against S3's Date header, as freshness.ts measures it, never this machine's clock),
 * the last drill and its RTO against the target, the replication state of the newest backup, and
 * the alarms in ALARM (CloudWatch; names `<stack>-<databaseId>-<alarm>`, as monitoring.ts makes them).
 */
import { DescribeAlarmsCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { databaseFreshness } from '../freshness';
import { collectDrills, collectBackups } from './collect';

export interface DatabaseStatus {
  readonly databaseId: string;
  readonly newestBackup: {
    readonly backupId: string;
    readonly tier: string;
    readonly committedAt: string;
    readonly bytes: number;
    readonly ageHours: number;
    readonly verified: boolean | null;
  } | null;
  readonly rpoHours: number;
  /** `ok` within the RPO, `stale` past it, `none` without any valid backup. */
  readonly rpo: 'ok' | 'stale' | 'none';
  readonly clock: 'server' | 'local';
  readonly lastDrill: {
    readonly drillId: string;
    readonly startedAt: string;
    readonly status: 'PASSED' | 'FAILED';
    readonly rtoSeconds: number | null;
    readonly rtoTargetSeconds: number;
    readonly rtoMet: boolean | null;
  } | null;
  readonly replication: {
    /** S3's ReplicationStatus of the newest manifest (COMPLETED, PENDING, FAILED), or unknown. */
    readonly status: string;
    /** What the newest verification found in the replica bucket. */
    readonly verifiedReplica: 'present' | 'missing' | 'not-checked';
  };
  readonly alarms: readonly { readonly name: string; readonly reason: string; readonly since?: string }[];
}

export interface StatusReport {
  readonly databases: readonly DatabaseStatus[];
  /** Alarms in ALARM not tied to one database (key unusable, orphaned drill instances, ...). */
  readonly otherAlarms: readonly { readonly name: string; readonly reason: string }[];
  /** False when CloudWatch could not be asked (the other facts still stand). */
  readonly alarmsChecked: boolean;
  readonly alarmsError?: string;
}

export interface StatusOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly databaseIds: readonly string[];
  readonly rpoHours?: number;
  readonly cloudwatch?: CloudWatchClient;
  /** Alarm name prefix: the BackupStack's name. @default - every alarm in ALARM */
  readonly stackName?: string;
}

async function alarmsInAlarm(cw: CloudWatchClient, prefix?: string) {
  const out: { name: string; reason: string; since?: string }[] = [];
  let token: string | undefined;
  do {
    const page = await cw.send(
      new DescribeAlarmsCommand({
        StateValue: 'ALARM',
        AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
        ...(prefix ? { AlarmNamePrefix: `${prefix}-` } : {}),
        NextToken: token,
      }),
    );
    for (const a of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
      out.push({
        name: a.AlarmName ?? '?',
        reason: a.StateReason ?? '',
        ...(a.StateUpdatedTimestamp ? { since: a.StateUpdatedTimestamp.toISOString() } : {}),
      });
    }
    token = page.NextToken;
  } while (token);
  return out;
}

export async function collectStatus(o: StatusOptions): Promise<StatusReport> {
  const rpoHours = o.rpoHours ?? 24;
  let alarms: { name: string; reason: string; since?: string }[] = [];
  let alarmsChecked = false;
  let alarmsError: string | undefined;
  if (o.cloudwatch) {
    try {
      alarms = await alarmsInAlarm(o.cloudwatch, o.stackName);
      alarmsChecked = true;
    } catch (e) {
      alarmsError = `${(e as Error).name}: ${(e as Error).message}`;
    }
  }
  // `<stack>-<db>-<alarm>`; the longest matching id wins (`orders-eu` over `orders`).
  const ownerOf = new Map<string, string>();
  for (const a of alarms) {
    const owner = [...o.databaseIds]
      .filter((id) => (o.stackName ? a.name.startsWith(`${o.stackName}-${id}-`) : a.name.includes(`-${id}-`)))
      .sort((x, y) => y.length - x.length)[0];
    if (owner) ownerOf.set(a.name, owner);
  }
  const databases: DatabaseStatus[] = [];
  for (const databaseId of o.databaseIds) {
    const [fresh, backups, drills] = await Promise.all([
      databaseFreshness(o.s3, o.bucket, databaseId),
      collectBackups(o.s3, o.bucket, databaseId),
      collectDrills(o.s3, o.bucket, databaseId),
    ]);
    const newest = fresh.newest;
    const fact = newest ? backups.find((b) => b.backupId === newest.backupId) : undefined;
    let replicationStatus = 'unknown';
    if (newest) {
      const head = await o.s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: newest.manifestKey }));
      replicationStatus = head.ReplicationStatus ?? 'unknown';
    }
    const last = [...drills].sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
    const own = alarms.filter((a) => ownerOf.get(a.name) === databaseId);
    databases.push({
      databaseId,
      newestBackup:
        newest && fresh.ageHours !== undefined
          ? {
              backupId: newest.backupId,
              tier: newest.tier,
              committedAt: newest.lastModified.toISOString(),
              bytes: newest.bytes,
              ageHours: Math.round(fresh.ageHours * 100) / 100,
              verified: fact?.verification ? fact.verification.ok : null,
            }
          : null,
      rpoHours,
      rpo: fresh.ageHours === undefined ? 'none' : fresh.ageHours <= rpoHours ? 'ok' : 'stale',
      clock: fresh.reference.source,
      lastDrill: last
        ? {
            drillId: last.drillId,
            startedAt: last.startedAt,
            status: last.status,
            rtoSeconds: last.rtoSeconds,
            rtoTargetSeconds: last.rtoTargetSeconds,
            rtoMet: last.rtoSeconds === null ? null : last.rtoSeconds <= last.rtoTargetSeconds,
          }
        : null,
      replication: {
        status: replicationStatus,
        verifiedReplica: fact?.verification?.replica ?? 'not-checked',
      },
      alarms: own,
    });
  }
  return {
    databases,
    otherAlarms: alarms.filter((a) => !ownerOf.has(a.name)).map(({ name, reason }) => ({ name, reason })),
    alarmsChecked,
    ...(alarmsError ? { alarmsError } : {}),
  };
}
