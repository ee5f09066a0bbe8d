/**
 * The roles file of a backup: `pg_dumpall --roles-only --no-role-passwords` into
 * `<id>.globals.sql`. Managed services that refuse pg_dumpall (no pg_authid access) get the
 * refusal recorded in the manifest; it is not a failure of the backup.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import type { BackupError, BackupFailureReason } from './backup-error';
import { encryptionParams } from './dump-claim';
import { collectStderr, exitOf, versionOf, type Child } from './dump-stream';
import type { DumpOptions } from './dump';
import type { CoreLogger } from './logger';
import type { Manifest } from './manifest';
import type { PgBinary } from './pg-bin';
import type { Placement } from './tiers';

export interface GlobalsRun {
  readonly options: DumpOptions;
  readonly placement: Placement;
  readonly pgDumpall?: PgBinary;
  readonly pgDumpallProblem?: string;
  readonly env: Record<string, string>;
  readonly lock: Partial<PutObjectCommandInput>;
  readonly log: CoreLogger;
  readonly fail: (reason: BackupFailureReason, message: string, backupId?: string) => BackupError;
  readonly clean: (text: string) => string;
}

/** `pg_dumpall --roles-only --no-role-passwords` into `<id>.globals.sql`; refusal is recorded, not fatal. */
export async function storeGlobals(run: GlobalsRun): Promise<Manifest['globals']> {
  const { options, placement, log, clean, pgDumpall } = run;
  if (!pgDumpall) return { present: false, reason: run.pgDumpallProblem ?? 'pg_dumpall not available' };
  const database = run.env.PGDATABASE;
  const child: Child = spawn(
    pgDumpall.path,
    ['--roles-only', '--no-role-passwords', '--no-password', `--database=${database}`],
    { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr = collectStderr(child);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const { code, signal } = await exitOf(child);
  clearTimeout(killer);
  if (code !== 0 || signal) {
    const reason = clean(
      stderr()
        .split('\n')
        .find((l) => /error|fatal|denied/i.test(l)) ?? stderr(),
    ).slice(0, 500);
    log.warn('roles not saved: pg_dumpall refused', { backupId: placement.backupId, reason });
    return { present: false, reason: reason || `pg_dumpall exited ${code ?? signal}` };
  }
  const body = Buffer.concat(chunks);
  let written;
  try {
    written = await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: placement.keys.globals,
        Body: body,
        ContentType: 'application/sql; charset=utf-8',
        IfNoneMatch: '*',
        ...encryptionParams(options),
        ...run.lock,
      }),
    );
  } catch (e) {
    throw run.fail('UPLOAD_FAILED', `cannot store roles: ${(e as Error).message}`, placement.backupId);
  }
  return {
    present: true,
    key: placement.keys.globals,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    ...versionOf(written),
  };
}
