/**
 * Dumping from a read replica (`databases[].dumpFrom`): every session of the backup — the
 * snapshot exporter, the counting session (row counts, settings, fingerprints) and pg_dump —
 * connects to the standby, so the counts describe exactly the archive's snapshot and the primary
 * carries no dump load. A standby exports and imports snapshots like a primary (PostgreSQL 10+;
 * pg_dump needed `--no-synchronized-snapshots` for parallel dumps of older standbys).
 *
 * What a standby needs, checked before anything is written: it is in recovery (a promoted replica
 * or a `dumpFrom` pointing at the primary is a configuration mistake the operator must hear
 * about), and a long read cannot be cancelled by recovery conflicts — replaying the primary's
 * VACUUM removing rows the dump's snapshot still sees cancels the dump after
 * `max_standby_streaming_delay` unless `hot_standby_feedback = on` (the primary then keeps those
 * rows) or the delay is -1 (replay waits; the replica lags by the dump's length) or at least the
 * time the dump may take. Anything else fails the backup with REPLICA_UNSUITABLE naming what to
 * set. With hot_standby_feedback on and a finite delay, a replayed ACCESS EXCLUSIVE lock (a
 * migration's ALTER TABLE on the primary) can still cancel the dump: that is a warning, not a
 * failure (the backup then fails as PG_DUMP_FAILED and the next one runs).
 * @see https://www.postgresql.org/docs/current/hot-standby.html#HOT-STANDBY-CONFLICT
 * @see https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION
 */
import type { Client } from 'pg';
import { BackupError } from './backup-error';
import type { CoreLogger } from './logger';
import { resolveConnection, type ConnectionSource, type DbConnection } from './secrets';

/** Where the dump reads from instead of the database's own connection. */
export interface DumpFrom {
  /** The replica's host. @default - the connection's (or `connection`'s) host */
  readonly host?: string;
  /** @default - the connection's (or `connection`'s) port */
  readonly port?: number;
  /** The replica's own credentials (e.g. its own secret). @default - the database's */
  readonly connection?: ConnectionSource;
}

/** The connection the dump uses: the replica's, with what it does not say taken from the database's. */
export async function dumpFromConnection(primary: DbConnection, from: DumpFrom): Promise<DbConnection> {
  const base = from.connection ? await resolveConnection(from.connection) : primary;
  return { ...base, host: from.host ?? base.host, port: from.port ?? base.port };
}

export interface StandbyInfo {
  readonly host: string;
  readonly port: number;
  readonly hotStandbyFeedback: boolean;
  /** `max_standby_streaming_delay` in ms; -1: replay waits for queries forever. */
  readonly maxStandbyStreamingDelayMs: number;
  /** Time since the last replayed transaction, at the check (null: nothing replayed yet). */
  readonly replayLagSeconds: number | null;
}

/**
 * Refuses a `dumpFrom` that is not a standby, or on which the dump could be cancelled by recovery
 * conflicts before `budgetMs` (the time the dump may take; unknown: any finite delay is too short).
 */
export async function checkStandby(
  client: Client,
  at: { host: string; port: number },
  budgetMs: number | undefined,
  log: CoreLogger,
): Promise<StandbyInfo> {
  const { rows } = await client.query<{ recovery: boolean; hsf: string; delay: string; lag: number | null }>(
    `SELECT pg_is_in_recovery() AS recovery, current_setting('hot_standby_feedback') AS hsf,
            (SELECT setting FROM pg_settings WHERE name = 'max_standby_streaming_delay') AS delay,
            extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag`,
  );
  const r = rows[0];
  const where = `dumpFrom ${at.host}:${at.port}`;
  if (!r.recovery) {
    throw new BackupError(
      'REPLICA_UNSUITABLE',
      `${where} is not a standby (pg_is_in_recovery() is false): it was promoted, or it is the primary. ` +
        `Point dumpFrom at a read replica, or remove it to back up from the database itself`,
    );
  }
  const info: StandbyInfo = {
    ...at,
    hotStandbyFeedback: r.hsf === 'on',
    maxStandbyStreamingDelayMs: Number(r.delay),
    replayLagSeconds: r.lag === null ? null : Math.max(0, Math.round(r.lag * 10) / 10),
  };
  const delay = info.maxStandbyStreamingDelayMs;
  const delayText = delay === -1 ? '-1' : `${delay} ms`;
  if (!info.hotStandbyFeedback && delay !== -1 && (budgetMs === undefined || delay < budgetMs)) {
    throw new BackupError(
      'REPLICA_UNSUITABLE',
      `${where} would cancel a long dump on a recovery conflict (hot_standby_feedback = off, ` +
        `max_standby_streaming_delay = ${delayText}${budgetMs !== undefined ? `, the dump may take ${Math.round(budgetMs / 1000)} s` : ''}): ` +
        `set hot_standby_feedback = on on the replica (RDS: its parameter group; the primary then keeps ` +
        `the row versions the dump reads), or max_standby_streaming_delay = -1 (replay waits for the ` +
        `dump; the replica lags by up to its length); or remove dumpFrom to back up from the primary`,
    );
  }
  if (delay !== -1) {
    log.warn(
      'dumping from a standby: a lock replayed from the primary (a migration) can still cancel the dump',
      {
        host: at.host,
        hotStandbyFeedback: info.hotStandbyFeedback,
        maxStandbyStreamingDelayMs: delay,
      },
    );
  }
  return info;
}
