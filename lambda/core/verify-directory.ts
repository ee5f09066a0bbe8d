/**
 * verify's checks for a directory-layout backup (dump-directory.ts): every file the manifest lists
 * is read back once — present, its size, its SHA-256 — and `toc.dat`, written alone into a
 * private temp dir, is read by `pg_restore --list` (which reads only the TOC of a directory dump)
 * and checked like a custom archive's (verify-toc.ts). Its entries' data files must all be among
 * the manifest's files. Every bad file is named in the verdict, all of them at once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ArchivedObjectError, assertReadable, headArchiveState, isInvalidObjectState } from './archive-state';
import { readArchiveToc } from './archive-toc';
import { DIRECTORY_TOC, type DirectoryFile, type Manifest } from './manifest';
import { atVersion, isNotFound } from './s3';
import { failed, pass, skipped, VerifyInfraError, type VerifyCheck } from './verify-result';
import { tocCheck } from './verify-toc';

/** Files read at once. */
const CONCURRENCY = 4;

interface FileRead {
  readonly file: DirectoryFile;
  /** Undefined when the object does not exist. */
  readonly bytes?: number;
  readonly sha256?: string;
}

export interface DirectoryVerification {
  readonly checks: VerifyCheck[];
  /** Bytes read back, every file together. */
  readonly bytes: number;
}

/** Streams one object through SHA-256, optionally into `copyTo`; undefined when it does not exist. */
async function readFile(
  s3: S3Client,
  bucket: string,
  file: DirectoryFile,
  copyTo?: string,
): Promise<FileRead> {
  let body: Readable;
  let version = file.versionId;
  try {
    // An archived object is not a verdict on the backup: say how to thaw it instead.
    version = await assertReadable(s3, bucket, file.key, file.versionId);
    body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: file.key, ...atVersion(version) })))
      .Body as Readable;
  } catch (e) {
    if (isNotFound(e)) return { file };
    if (e instanceof ArchivedObjectError) throw new VerifyInfraError(e.message);
    if (isInvalidObjectState(e)) {
      const state = await headArchiveState(s3, bucket, file.key, version).catch(() => undefined);
      throw new VerifyInfraError(
        state
          ? new ArchivedObjectError(state, bucket).message
          : `${file.key} is archived; run restorable thaw`,
      );
    }
    throw new VerifyInfraError(`cannot read ${file.key}: ${(e as Error).message}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const sink = copyTo ? fs.createWriteStream(copyTo, { mode: 0o600, flags: 'wx' }) : undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      if (sink && !sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
    }
    if (sink)
      await new Promise<void>((resolve, reject) =>
        sink.end((e?: Error | null) => (e ? reject(e) : resolve())),
      );
  } catch (e) {
    sink?.destroy();
    throw new VerifyInfraError(`reading ${file.key} failed: ${(e as Error).message}`);
  }
  return { file, bytes, sha256: hash.digest('hex') };
}

/** `pg_restore --list <dir>`: exit 0 and its listing, or its error. */
function listToc(
  pgRestorePath: string,
  dir: string,
): Promise<{ ok: true; listing: string } | { ok: false; error: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgRestorePath, ['--list', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    });
    let listing = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (listing += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    child.once('error', (e) => reject(new VerifyInfraError(`cannot run pg_restore: ${e.message}`)));
    child.once('close', (code) =>
      resolve(
        code === 0
          ? { ok: true, listing }
          : { ok: false, error: stderr.trim() || `pg_restore exited ${code}` },
      ),
    );
  });
}

/**
 * Data files the TOC names that the manifest does not list. pg_dump records `3071.dat` and adds
 * the compression suffix (`.gz`, `.zst`, `.lz4`) when it writes the file.
 */
function unlistedDataFiles(tocFile: string, files: readonly DirectoryFile[]): string[] {
  const names = new Set(files.map((f) => f.name));
  return readArchiveToc(tocFile)
    .entries.flatMap((e) => (e.dataFile ? [e.dataFile] : []))
    .filter((d) => !names.has(d) && !['.gz', '.zst', '.lz4'].some((s) => names.has(`${d}${s}`)));
}

/** The size, checksum and TOC checks of a directory-layout backup. */
export async function verifyDirectory(
  s3: S3Client,
  bucket: string,
  manifest: Manifest,
  pgRestorePath?: string,
): Promise<DirectoryVerification> {
  const files = manifest.files ?? [];
  if (!files.some((f) => f.name === DIRECTORY_TOC)) {
    return {
      checks: [
        failed('manifest', 'MANIFEST_UNREADABLE', `directory-layout manifest lists no ${DIRECTORY_TOC}`),
      ],
      bytes: 0,
    };
  }
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'restorable-verify-'));
  try {
    const reads: FileRead[] = [];
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const file = files[next++];
        const copy = pgRestorePath && file.name === DIRECTORY_TOC ? path.join(tmp, DIRECTORY_TOC) : undefined;
        reads.push(await readFile(s3, bucket, file, copy));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
    const order = new Map(files.map((f, i) => [f.name, i]));
    reads.sort((a, b) => order.get(a.file.name)! - order.get(b.file.name)!);

    const checks: VerifyCheck[] = [];
    const missing = reads.filter((r) => r.bytes === undefined);
    const wrongSize = reads.filter((r) => r.bytes !== undefined && r.bytes !== r.file.bytes);
    const sized = reads.filter((r) => r.bytes === r.file.bytes);
    const corrupt = sized.filter((r) => r.sha256 !== r.file.sha256);
    for (const r of missing) {
      checks.push(
        failed('size', 'OBJECT_MISSING', `file ${r.file.name} is missing: ${r.file.key} does not exist`),
      );
    }
    for (const r of wrongSize) {
      checks.push(
        failed(
          'size',
          'SIZE_MISMATCH',
          `file ${r.file.name}: invalid size: object is ${r.bytes} bytes, manifest says ${r.file.bytes} ` +
            `(${r.bytes! > r.file.bytes ? 'bytes appended' : 'truncated'})`,
        ),
      );
    }
    if (missing.length + wrongSize.length === 0) {
      checks.push(pass('size', `${files.length} files, ${reads.reduce((n, r) => n + r.bytes!, 0)} bytes`));
    }
    for (const r of corrupt) {
      checks.push(
        failed(
          'checksum',
          'CHECKSUM_MISMATCH',
          `file ${r.file.name}: corruption found: sha256 is ${r.sha256}, manifest says ${r.file.sha256}`,
        ),
      );
    }
    if (corrupt.length === 0) {
      checks.push(
        sized.length === files.length
          ? pass('checksum', `${files.length} files match their sha256`)
          : skipped(
              'checksum',
              `${sized.length} of ${files.length} files judged (the others failed size); they match`,
            ),
      );
    }

    if (pgRestorePath) {
      const toc = reads.find((r) => r.file.name === DIRECTORY_TOC)!;
      if (toc.bytes !== toc.file.bytes || toc.sha256 !== toc.file.sha256) {
        checks.push(skipped('toc', `${DIRECTORY_TOC} failed its own check`));
      } else {
        const listed = await listToc(pgRestorePath, tmp);
        checks.push(tocCheck(manifest, listed));
        const unlisted = listed.ok ? unlistedDataFiles(path.join(tmp, DIRECTORY_TOC), files) : [];
        if (unlisted.length > 0) {
          checks.push(
            failed(
              'toc',
              'OBJECT_MISSING',
              `archive TOC names data files the manifest does not list: ${unlisted.join(', ')}`,
            ),
          );
        }
      }
    }
    return { checks, bytes: reads.reduce((n, r) => n + (r.bytes ?? 0), 0) };
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}
