/**
 * Removes drill instances a crashed or timed-out drill left behind.
 *
 * An instance is deleted only when all three hold: its identifier starts with
 * `restorable-drill-`, it is tagged `restorable:drill=true`, and its `restorable:expires-at` tag
 * is a valid time in the past. Anything else — untagged, not yet expired, an unparsable expiry,
 * another name — is left alone: a sweeper that guesses deletes production databases.
 * Instances already being deleted are counted as found but not deleted again.
 */
// @ts-nocheck

import {
  DeleteDBInstanceCommand,
  paginateDescribeDBInstances,
  type RDSClient,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { silentLogger, type CoreLogger } from './logger';
import { DRILL_INSTANCE_PREFIX, TAG_DATABASE, TAG_DRILL, TAG_EXPIRES_AT } from './providers/rds';

export interface SweepOptions {
  readonly rds: RDSClient;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** List what would be deleted, delete nothing. @default false */
  readonly dryRun?: boolean;
  readonly logger?: CoreLogger;
}

export interface SweptInstance {
  readonly id: string;
  readonly databaseId?: string;
  readonly expiresAt: string;
  readonly status?: string;
  /** deleted now, already deleting, would delete (dry run), or failed to delete. */
  readonly action: 'deleted' | 'already-deleting' | 'dry-run' | 'failed';
  readonly error?: string;
}

export interface SweepResult {
  /** Expired drill instances found (the OrphanedDrillInstances metric). */
  readonly found: number;
  readonly deleted: number;
  readonly failed: number;
  readonly instances: readonly SweptInstance[];
  /** Drill-named instances left alone (not tagged, not expired, bad expiry), with why. */
  readonly kept: readonly { readonly id: string; readonly reason: string }[];
}

const tagValue = (db: DBInstance, key: string) => db.TagList?.find((t) => t.Key === key)?.Value;

/** Why an instance is not sweepable, or undefined when it is (expired drill instance). */
export function notSweepable(db: DBInstance, now: Date): string | undefined {
  const id = db.DBInstanceIdentifier ?? '';
  if (!id.startsWith(DRILL_INSTANCE_PREFIX)) return 'name is not a drill instance';
  if (tagValue(db, TAG_DRILL) !== 'true') return `not tagged ${TAG_DRILL}=true`;
  const expires = tagValue(db, TAG_EXPIRES_AT);
  if (!expires) return `no ${TAG_EXPIRES_AT} tag`;
  const at = Date.parse(expires);
  if (Number.isNaN(at)) return `${TAG_EXPIRES_AT} "${expires}" is not a time`;
  if (at > now.getTime()) return `expires at ${expires}`;
  return undefined;
}

export async function sweepDrillInstances(options: SweepOptions): Promise<SweepResult> {
  const log = options.logger ?? silentLogger;
  const now = (options.now ?? (() => new Date()))();
  const instances: SweptInstance[] = [];
  const kept: { id: string; reason: string }[] = [];
  // DescribeDBInstances returns TagList with each instance; no ListTagsForResource per instance.
  for await (const page of paginateDescribeDBInstances({ client: options.rds, pageSize: 100 }, {})) {
    for (const db of page.DBInstances ?? []) {
      const id = db.DBInstanceIdentifier ?? '';
      const reason = notSweepable(db, now);
      if (reason) {
        if (id.startsWith(DRILL_INSTANCE_PREFIX)) kept.push({ id, reason });
        continue;
      }
      const base = {
        id,
        expiresAt: tagValue(db, TAG_EXPIRES_AT)!,
        ...(tagValue(db, TAG_DATABASE) ? { databaseId: tagValue(db, TAG_DATABASE) } : {}),
        ...(db.DBInstanceStatus ? { status: db.DBInstanceStatus } : {}),
      };
      if (db.DBInstanceStatus === 'deleting') {
        instances.push({ ...base, action: 'already-deleting' });
        continue;
      }
      if (options.dryRun) {
        instances.push({ ...base, action: 'dry-run' });
        continue;
      }
      try {
        await options.rds.send(
          new DeleteDBInstanceCommand({
            DBInstanceIdentifier: id,
            SkipFinalSnapshot: true,
            DeleteAutomatedBackups: true,
          }),
        );
        log.warn('deleted expired drill instance', { instance: id, expiresAt: base.expiresAt });
        instances.push({ ...base, action: 'deleted' });
      } catch (e) {
        const err = e as { name?: string; message: string };
        if (err.name === 'DBInstanceNotFoundFault') {
          instances.push({ ...base, action: 'already-deleting' });
          continue;
        }
        log.error('could not delete expired drill instance', { instance: id, error: err.message });
        instances.push({ ...base, action: 'failed', error: `${err.name ?? 'Error'}: ${err.message}` });
      }
    }
  }
  return {
    found: instances.length,
    deleted: instances.filter((i) => i.action === 'deleted').length,
    failed: instances.filter((i) => i.action === 'failed').length,
    instances,
    kept,
  };
}
