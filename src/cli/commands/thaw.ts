/**
 * `restorable thaw`: makes an archived backup readable again. Requests an S3 restore
 * (RestoreObject) of every object of the backup that is in Glacier Flexible Retrieval or Deep
 * Archive, then either reports where each stands or, with `--wait`, polls until S3 has restored
 * them all (minutes to two days, by tier: docs/RUNBOOK.md). Running it again is safe: objects
 * already restored or being restored are not requested twice.
 */
import { Option, type Command } from 'commander';
import type { ArchiveState, RetrievalTier } from '../../../lambda/core/archive-state';
import { interruptible } from '../cleanup';
import { Failure, Interrupted, UsageError } from '../errors';
import { core } from '../load-core';
import { formatSeconds, Progress, showProgress, table, type Io } from '../output';
import { resolveStore, storeOptions, type StoreOptions } from '../store';
import { positiveInt, runs, type CliContext } from './command';

const TIERS: readonly RetrievalTier[] = ['bulk', 'standard', 'expedited'];

export function register(program: Command, cli: CliContext): void {
  storeOptions(
    program
      .command('thaw')
      .description('restore an archived (Glacier / Deep Archive) backup so it can be read again'),
  )
    .requiredOption('--backup <id>', 'backup id (see `restorable list`)')
    .addOption(
      new Option('--tier <tier>', 'retrieval tier: bulk is cheapest, standard faster')
        .choices([...TIERS])
        .default('bulk'),
    )
    .addOption(
      new Option('--days <n>', 'days the restored copy stays readable')
        .argParser(positiveInt('--days'))
        .default(7),
    )
    .option('--wait', 'wait until every object is readable, showing progress')
    .addOption(
      new Option('--interval <seconds>', 'seconds between status checks with --wait')
        .argParser(positiveInt('--interval'))
        .default(300),
    )
    .action(runs(cli, thaw));
}

export interface ThawOptions extends StoreOptions {
  backup: string;
  tier: RetrievalTier;
  days: number;
  wait?: boolean;
  interval: number;
}

export async function thaw(o: ThawOptions, io: Io): Promise<number> {
  if (!TIERS.includes(o.tier))
    throw new UsageError(`--tier must be one of ${TIERS.join(', ')} (got ${o.tier})`);
  const store = await resolveStore(o);
  let requests;
  try {
    requests = await core().requestThaw(store.s3, store.bucket, o.db, o.backup, {
      tier: o.tier,
      days: o.days,
    });
  } catch (e) {
    if (/is not offered for|has no objects/.test((e as Error).message))
      throw new Failure((e as Error).message);
    throw e;
  }
  const archived = requests.filter((r) => r.state.archived);
  if (archived.length === 0) {
    const classes = [...new Set(requests.map((r) => r.state.storageClass))].join(', ');
    report(
      io,
      o,
      requests.map((r) => r.state),
      `backup ${o.backup} is not archived (${classes}): nothing to thaw`,
    );
    return 0;
  }
  const requested = requests.filter((r) => r.action === 'requested').length;
  if (requested > 0) {
    io.err(`requested a ${o.tier} restore of ${requested} object(s) for ${o.days} day(s)`);
  }
  if (!o.wait) {
    const states = requests.map((r) => r.state);
    const done = states.every((s) => !s.archived || s.restore === 'restored');
    report(
      io,
      o,
      states,
      done
        ? `backup ${o.backup} is thawed${until(states)}: verify, restore and drills can read it`
        : `backup ${o.backup} is thawing; check again or wait with: restorable thaw --db ${o.db} --backup ${o.backup} --wait`,
    );
    return 0;
  }

  const progress = new Progress(showProgress(o));
  const signal = interruptible();
  const keys = archived.map((r) => r.state.key);
  const result = await core().waitForThaw(store.s3, store.bucket, keys, {
    intervalMs: o.interval * 1000,
    signal,
    onPoll: (states, elapsedMs) =>
      progress.update(
        `thawing ${o.backup}: ${states.filter((s) => s.readable).length}/${states.length} object(s) readable ` +
          `after ${formatSeconds(elapsedMs / 1000)}`,
      ),
  });
  progress.done();
  if (!result.complete) {
    throw new Interrupted(
      `stopped waiting; the restore goes on in S3: check with restorable thaw --db ${o.db} --backup ${o.backup}`,
    );
  }
  report(
    io,
    o,
    result.states,
    `backup ${o.backup} is thawed${until(result.states)}: verify, restore and drills can read it`,
  );
  return 0;
}

/** ` (readable until <earliest expiry>)`, the first copy to go away. */
function until(states: readonly ArchiveState[]): string {
  const expiries = states.flatMap((s) => (s.expiresAt ? [s.expiresAt.getTime()] : []));
  return expiries.length > 0 ? ` (readable until ${new Date(Math.min(...expiries)).toISOString()})` : '';
}

function report(io: Io, o: { json?: boolean }, states: readonly ArchiveState[], summary: string): void {
  if (o.json) {
    io.out(
      JSON.stringify(
        {
          summary,
          objects: states.map((s) => ({
            key: s.key,
            storageClass: s.storageClass,
            archived: s.archived,
            restore: s.restore,
            readable: s.readable,
            expiresAt: s.expiresAt?.toISOString(),
          })),
        },
        null,
        2,
      ),
    );
    return;
  }
  io.out(
    table(
      ['OBJECT', 'STORAGE', 'STATE'],
      states.map((s) => [
        s.key,
        s.storageClass,
        !s.archived
          ? 'readable'
          : s.restore === 'restored'
            ? `thawed${s.expiresAt ? ` until ${s.expiresAt.toISOString()}` : ''}`
            : s.restore === 'ongoing'
              ? 'thawing'
              : 'archived',
      ]),
    ),
  );
  io.out(summary);
}
