/**
 * Version checks before a restore touches anything: the target server must be at least the
 * backup's source major (pg_dump output for a newer server uses syntax and catalog objects an
 * older one lacks, so such a restore fails half-way), and a pg_restore must be available that reads
 * the archive (at least the pg_dump's major) and can talk to the target server.
 * @see https://www.postgresql.org/docs/current/app-pgrestore.html (Notes: cross-version restore)
 */
import type { Manifest } from './manifest';
import { findPgBinaries, type PgBinary } from './pg-bin';
import { RestoreError } from './restore-error';

/** Refuses before any download or change; returns the pg_restore to use. */
export function checkVersions(
  manifest: Pick<Manifest, 'source' | 'pgDump'>,
  target: { readonly serverMajor: number; readonly serverVersion: string },
  pgBinDirs?: string[],
): PgBinary {
  if (target.serverMajor < manifest.source.serverMajor) {
    throw new RestoreError(
      'VERSION_UNSUPPORTED',
      `the backup is of PostgreSQL ${manifest.source.serverVersion} but the target server is ` +
        `${target.serverVersion}: restoring into an older major is refused (it would fail half-way); ` +
        `restore into PostgreSQL ${manifest.source.serverMajor} or newer`,
    );
  }
  const need = Math.max(target.serverMajor, manifest.pgDump.major);
  const all = findPgBinaries('pg_restore', pgBinDirs);
  const usable = all.filter((b) => b.major >= need).sort((a, b) => a.major - b.major);
  if (usable.length > 0) return usable[0];
  throw new RestoreError(
    'VERSION_UNSUPPORTED',
    `the backup was written by pg_dump ${manifest.pgDump.version} and the target server is ` +
      `${target.serverVersion}, so pg_restore ${need} or newer is needed; available: ` +
      `${all.map((b) => b.version).join(', ') || 'no pg_restore'} (set RESTORABLE_PG_BIN_DIRS)`,
  );
}

/** The oldest pg_restore major that reads each archive format version (pg_backup_archiver.h). */
const FORMAT_MIN_MAJOR: Record<string, number> = {
  '1.12': 9,
  '1.13': 11,
  '1.14': 12,
  '1.15': 16,
  '1.16': 17,
};

/** Refuses an archive whose format is newer than the chosen pg_restore reads (a manifest can be wrong). */
export function checkArchiveFormat(
  formatVersion: string,
  pgDumpVersion: string | undefined,
  bin: PgBinary,
): void {
  const minor = formatVersion.split('.').slice(0, 2).join('.');
  const need = FORMAT_MIN_MAJOR[minor];
  if (need !== undefined && bin.major < need) {
    throw new RestoreError(
      'VERSION_UNSUPPORTED',
      `the archive (format ${formatVersion}, pg_dump ${pgDumpVersion ?? 'unknown'}) needs pg_restore ${need} ` +
        `or newer; ${bin.version} cannot read it`,
    );
  }
}
