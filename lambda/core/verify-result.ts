/**
 * The vocabulary of verify's verdicts: check names, failure codes and the three constructors every
 * check uses, shared by verify.ts and the files that hold its checks.
 */

export type VerifyCode =
  | 'MANIFEST_MISSING'
  | 'MANIFEST_UNREADABLE'
  | 'OBJECT_MISSING'
  | 'SIZE_MISMATCH'
  | 'CHECKSUM_MISMATCH'
  | 'TOC_UNREADABLE'
  /** The stored stream ends before its last zstd frame does (the dump's compressor died). */
  | 'TRUNCATED'
  /** The stored stream does not decode or fails zstd's content checksum. */
  | 'CORRUPT'
  /** The stored bytes are not the format the manifest's `compression` says. */
  | 'FORMAT_MISMATCH'
  | 'TOC_MISSING_TABLES'
  | 'GLOBALS_MISSING'
  | 'GLOBALS_MISMATCH'
  | 'REPLICA_MISSING'
  | 'REPLICA_SIZE_MISMATCH'
  | 'REPLICA_PENDING'
  | 'REPLICA_FAILED';

export type CheckName = 'manifest' | 'size' | 'checksum' | 'toc' | 'globals' | 'replica';

export interface VerifyCheck {
  readonly name: CheckName;
  /** `pending`: not failed yet, not passed yet (replication in progress). */
  readonly status: 'pass' | 'fail' | 'pending' | 'skipped';
  readonly ok: boolean;
  readonly code?: VerifyCode;
  readonly detail: string;
}

export const pass = (name: CheckName, detail: string): VerifyCheck => ({
  name,
  status: 'pass',
  ok: true,
  detail,
});
export const failed = (name: CheckName, code: VerifyCode, detail: string): VerifyCheck => ({
  name,
  status: 'fail',
  ok: false,
  code,
  detail,
});
export const skipped = (name: CheckName, detail: string): VerifyCheck => ({
  name,
  status: 'skipped',
  ok: true,
  detail,
});

/** Thrown for problems that are not a verdict on the backup (S3 unreachable, no pg_restore). */
export class VerifyInfraError extends Error {
  override readonly name = 'VerifyInfraError';
}
