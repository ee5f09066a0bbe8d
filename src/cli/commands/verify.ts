/**
 * `restorable verify`: re-checks a stored backup (checksum, size, archive TOC, globals, and the
 * replica copy when one is named) and exits 1 unless every check passed. The verdict is recorded
 * next to the manifest (lambda/core/verification.ts) for the evidence report, unless `--no-record`.
 */
import type { Command } from 'commander';
import type { VerifyResult } from '../../../lambda/core/verify';
import { scrub, UsageError } from '../errors';
import { core } from '../load-core';
import { table, type Io } from '../output';
import { findBackupToVerify, resolveStore, storeOptions, type StoreOptions } from '../store';
import { runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  storeOptions(
    program.command('verify').description('re-check a backup: checksum, size, archive TOC, replica'),
  )
    .option('--backup <id>', 'backup id, or latest', 'latest')
    .option('--replica-bucket <name>', 'also check the copy in this replica bucket')
    .option('--replica-region <region>', 'region of the replica bucket')
    .option('--no-record', 'do not write the verification record next to the manifest')
    .action(runs(cli, verify));
}

export async function verify(
  o: StoreOptions & { backup: string; replicaBucket?: string; replicaRegion?: string; record?: boolean },
  io: Io,
): Promise<number> {
  if (Boolean(o.replicaBucket) !== Boolean(o.replicaRegion) && !o.stack) {
    throw new UsageError('--replica-bucket and --replica-region go together');
  }
  const store = await resolveStore(o);
  const entry = await findBackupToVerify(store, o.db, o.backup);
  const replica =
    store.replicaBucket && store.replicaRegion
      ? {
          s3: core().makeS3Client(store.replicaRegion),
          bucket: store.replicaBucket,
          region: store.replicaRegion,
        }
      : undefined;
  const result = await core().verifyBackup({
    s3: store.s3,
    bucket: store.bucket,
    manifestKey: entry.manifestKey,
    replica,
  });
  // commander sets `record` (true unless --no-record); a direct caller records only when it asks.
  if (o.record) {
    // The verdict stands even when it cannot be recorded (an operator without s3:PutObject); the
    // record takes the default lock mode, as `restorable backup` does.
    await core()
      .recordVerification({ s3: store.s3, bucket: store.bucket, result, by: 'cli', manifest: entry.manifest })
      .catch((e: Error) => io.err(`warning: verification not recorded: ${scrub(e.message)}`));
  }
  return printVerify(result, o, io);
}

function printVerify(result: VerifyResult, o: { json?: boolean }, io: Io): number {
  if (o.json) io.out(JSON.stringify(result, null, 2));
  else {
    io.out(`backup ${result.backupId ?? '?'}: ${result.ok ? 'OK' : result.pending ? 'PENDING' : 'FAILED'}`);
    io.out(
      table(
        ['CHECK', 'RESULT', 'DETAIL'],
        result.checks.map((c) => [c.name, c.code ? `${c.status} (${c.code})` : c.status, c.detail]),
      ),
    );
  }
  return result.ok ? 0 : 1;
}
