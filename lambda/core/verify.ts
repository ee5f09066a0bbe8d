/**
 * Verifies a stored backup against its manifest, reporting every problem rather than the first:
 *
 * - `size`     the object's byte count equals the manifest's (appended/truncated → SIZE_MISMATCH)
 * - `checksum` SHA-256 of the bytes read back equals the manifest's (flipped bit → CHECKSUM_MISMATCH;
 *              only judged when the size matched, so the two failures stay distinct)
 * - `toc`      the stored bytes decompress as the manifest's `compression` says (zstd to its
 *              last frame and content checksum: TRUNCATED, CORRUPT, FORMAT_MISMATCH otherwise;
 *              manifests without the field are pg_dump's gzip archives), and `pg_restore --list`,
 *              fed the decompressed stream on stdin, reads the archive's table of contents and it
 *              holds the entries pg_dump writes for every manifest table: TABLE
 *              and TABLE DATA, no TABLE DATA for a partitioned parent, only TABLE DATA for an
 *              extension configuration table (extensions.ts)
 * - `globals`  the roles file, when the manifest says there is one, has its size and SHA-256
 * - `replica`  the dump, roles file and manifest exist in the replica bucket with the sizes the
 *              manifest records (the primary's size for the manifest itself), and S3 does not
 *              report the replication as pending or failed
 *
 * One read of the object serves size, checksum and TOC (verify-read.ts). The TOC check is in
 * verify-toc.ts, the roles-file and replica checks in verify-copies.ts, the verdict vocabulary in
 * verify-result.ts; this file owns the order of checks and the result. Verification failures
 * come back in the result (`ok: false`); only infrastructure errors (S3 unreachable, access
 * denied, no pg_restore) are thrown.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { silentLogger, type CoreLogger } from './logger';
import { compressionOf } from './compression-settings';
import { keysOfManifest, parseManifest, type Manifest } from './manifest';
import { pgBinDirs as defaultPgBinDirs, pgToolForServer } from './pg-bin';
import { isNotFound, readText } from './s3';
import { globalsCheck, replicaCheck } from './verify-copies';
import { readArchive } from './verify-read';
import { failed, pass, skipped, VerifyInfraError, type VerifyCheck, type VerifyCode } from './verify-result';
import { verifyDirectory } from './verify-directory';
import { tocCheck } from './verify-toc';

export { parseTocListing, tocHas, tocMissing, type TocEntry, type TocTable } from './verify-toc';
export { VerifyInfraError, type CheckName, type VerifyCheck, type VerifyCode } from './verify-result';

export interface VerifyResult {
  /** Every check passed (skipped checks do not count against it). */
  readonly ok: boolean;
  /** Nothing failed, but something is still pending (replication): retry later. */
  readonly pending: boolean;
  readonly backupId?: string;
  readonly databaseId?: string;
  readonly manifestKey?: string;
  /** Bytes read back and their SHA-256. */
  readonly bytes?: number;
  readonly sha256?: string;
  readonly checks: readonly VerifyCheck[];
  readonly durationSeconds: number;
}

export interface ReplicaTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly region: string;
}

export interface VerifyOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Read the manifest from here... */
  readonly manifestKey?: string;
  /** ...or take it as given (already read and parsed). */
  readonly manifest?: Manifest;
  /** Check the cross-region copy. @default - no replica check */
  readonly replica?: ReplicaTarget;
  /** Run the `pg_restore --list` check. @default true */
  readonly toc?: boolean;
  /** Directories holding pg_restore. @default - pgBinDirs() */
  readonly pgBinDirs?: string[];
  readonly logger?: CoreLogger;
}

function result(
  checks: VerifyCheck[],
  started: number,
  extra: Partial<Omit<VerifyResult, 'checks' | 'ok' | 'pending' | 'durationSeconds'>>,
): VerifyResult {
  const anyFail = checks.some((c) => c.status === 'fail');
  const anyPending = checks.some((c) => c.status === 'pending');
  return {
    ...extra,
    ok: !anyFail && !anyPending,
    pending: !anyFail && anyPending,
    checks,
    durationSeconds: (Date.now() - started) / 1000,
  };
}

export async function verifyBackup(options: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const log = options.logger ?? silentLogger;
  const checks: VerifyCheck[] = [];

  let manifest = options.manifest;
  let manifestKey = options.manifestKey;
  if (!manifest) {
    if (!manifestKey) throw new VerifyInfraError('verifyBackup needs manifestKey or manifest');
    try {
      manifest = parseManifest(await readText(options.s3, options.bucket, manifestKey));
      checks.push(pass('manifest', `manifest ${manifestKey} parsed`));
    } catch (e) {
      if (isNotFound(e)) {
        checks.push(failed('manifest', 'MANIFEST_MISSING', `manifest ${manifestKey} does not exist`));
      } else if (/^manifest (is|is not)/.test((e as Error).message)) {
        checks.push(failed('manifest', 'MANIFEST_UNREADABLE', (e as Error).message));
      } else {
        throw new VerifyInfraError(`cannot read manifest ${manifestKey}: ${(e as Error).message}`);
      }
      return result(checks, started, { manifestKey });
    }
  }
  manifestKey ??= keysOfManifest(manifest).manifest;
  const ids = { backupId: manifest.backupId, databaseId: manifest.databaseId, manifestKey };

  const pgRestore =
    options.toc === false
      ? undefined
      : (() => {
          try {
            return pgToolForServer(
              'pg_restore',
              manifest.pgDump.major,
              options.pgBinDirs ?? defaultPgBinDirs(),
            );
          } catch (e) {
            throw new VerifyInfraError(`cannot check the archive TOC: ${(e as Error).message}`);
          }
        })();

  // The directory layout (dump-directory.ts) has its own file-by-file checks (verify-directory.ts).
  const directory =
    manifest.layout === 'directory'
      ? await verifyDirectory(options.s3, options.bucket, manifest, pgRestore?.path)
      : undefined;
  const read = directory
    ? undefined
    : await readArchive(
        options.s3,
        options.bucket,
        manifest.object.key,
        pgRestore?.path,
        compressionOf(manifest),
        manifest.object.versionId,
      );
  if (directory) checks.push(...directory.checks);
  else if (!read) {
    checks.push(failed('size', 'OBJECT_MISSING', `dump ${manifest.object.key} does not exist`));
    checks.push(skipped('checksum', 'no object to check'));
    if (pgRestore) checks.push(skipped('toc', 'no object to check'));
  } else {
    const expected = manifest.object.bytes;
    if (read.bytes !== expected) {
      checks.push(
        failed(
          'size',
          'SIZE_MISMATCH',
          `invalid size: object is ${read.bytes} bytes, manifest says ${expected} (${read.bytes > expected ? 'bytes appended' : 'truncated'})`,
        ),
      );
      checks.push(skipped('checksum', 'not judged: the size already differs'));
    } else {
      checks.push(pass('size', `${read.bytes} bytes`));
      checks.push(
        read.sha256 === manifest.object.sha256
          ? pass('checksum', `sha256 ${read.sha256}`)
          : failed(
              'checksum',
              'CHECKSUM_MISMATCH',
              `corruption found: sha256 is ${read.sha256}, manifest says ${manifest.object.sha256}`,
            ),
      );
    }
    // A stream that does not decompress is the TOC check's verdict (what pg_restore read of it
    // says less than why the stream broke), unless size or checksum already failed: bytes
    // appended or cut off break the stream too, and that is the one problem to report.
    const intact = read.bytes === expected && read.sha256 === manifest.object.sha256;
    const broken = intact ? read.decompressError : undefined;
    if (broken) {
      const code: VerifyCode =
        broken.code === 'TRUNCATED' || broken.code === 'FORMAT_MISMATCH' ? broken.code : 'CORRUPT';
      checks.push(failed('toc', code, `${manifest.object.key}: ${broken.message}`));
    } else if (read.toc !== undefined) {
      // Bytes that differ from the manifest's make what pg_restore read of them meaningless (and
      // racy: whether it met the damage before the TOC ended depends on timing); the size or
      // checksum failure is the one problem to report.
      checks.push(
        intact
          ? tocCheck(manifest, read.toc)
          : skipped('toc', 'not judged: the archive bytes already differ'),
      );
    }
  }

  checks.push(await globalsCheck(options.s3, options.bucket, manifest));
  if (options.replica) checks.push(await replicaCheck(options, manifest, manifestKey));

  const out = result(checks, started, {
    ...ids,
    bytes: read?.bytes ?? directory?.bytes,
    sha256: read?.sha256,
  });
  log.info('verify finished', {
    backupId: manifest.backupId,
    ok: out.ok,
    pending: out.pending,
    failed: checks.filter((c) => c.status === 'fail').map((c) => c.code),
  });
  return out;
}
