/**
 * The time budget of a fingerprint run: each unit of work (one table, one matview count, the large
 * objects) runs with `statement_timeout` set to what is left, so running out cancels that one
 * statement.
 *
 * - `savepoint` (the dump): inside the caller's snapshot transaction, each unit under a savepoint,
 *   so a cancelled statement does not abort the transaction whose snapshot pg_dump still uses.
 * - `transaction` (the drill): each unit in a transaction of its own. The restored copy has no
 *   writers, so one snapshot is not needed, and locks are released after every table: a single
 *   transaction over thousands of tables would exhaust the target's lock table
 *   (max_locks_per_transaction x max_connections).
 */
import type { ClientBase } from 'pg';

export type SkipReason = 'budget' | 'error' | 'privilege';

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly skipped: SkipReason; readonly detail?: string };

export class Budget {
  private readonly deadline: number;

  constructor(
    private readonly client: ClientBase,
    budgetMs: number | undefined,
    private readonly now: () => number = Date.now,
    private readonly mode: 'savepoint' | 'transaction' = 'savepoint',
  ) {
    this.deadline = budgetMs === undefined ? Infinity : now() + budgetMs;
  }

  get exhausted(): boolean {
    return this.deadline - this.now() <= 0;
  }

  /** Runs `fn` under a savepoint and the remaining time; never throws for a failed statement. */
  async run<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
    const remaining = this.deadline - this.now();
    if (remaining <= 0) return { ok: false, skipped: 'budget' };
    const own = this.mode === 'transaction';
    await this.client.query(
      own ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'SAVEPOINT restorable_fingerprint_item',
    );
    try {
      // 0 = no limit: without a budget a server-wide statement_timeout must not cut a hash short.
      const ms = Number.isFinite(remaining) ? Math.max(1, Math.floor(remaining)) : 0;
      await this.client.query(`SET LOCAL statement_timeout = ${ms}`);
      const value = await fn();
      await this.client.query(own ? 'COMMIT' : 'RELEASE SAVEPOINT restorable_fingerprint_item');
      return { ok: true, value };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      // A dead connection cannot roll back; that is the caller's failure, not a skipped table.
      if (own) {
        await this.client.query('ROLLBACK');
      } else {
        await this.client.query('ROLLBACK TO SAVEPOINT restorable_fingerprint_item');
        await this.client.query('RELEASE SAVEPOINT restorable_fingerprint_item');
      }
      if (err.code === '57014') return { ok: false, skipped: 'budget' };
      if (err.code === '42501') return { ok: false, skipped: 'privilege', detail: err.message };
      return {
        ok: false,
        skipped: 'error',
        detail: `${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`.slice(0, 500),
      };
    }
  }
}
