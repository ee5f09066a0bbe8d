/**
 * The compression contract between the dump that writes an archive and the verify, restore and
 * drill steps that read it back: the manifest's `compression` field (a zod schema), what each kind
 * means for pg_dump's arguments, and how an archive's first bytes say what it is.
 *
 * Kinds:
 * - `zstd-wrapped` pg_dump -Fc -Z0 piped through a multi-threaded `zstd` process: the object is one
 *                  zstd stream whose content is a plain custom archive. Works with every pg_dump;
 *                  measured fastest here (bench/compression.ts, BENCHMARKS.md).
 * - `pg-gzip`      pg_dump's own gzip (`-Z<level>`, the pg_dump default): every archive written
 *                  before this field existed, so a manifest without it means `pg-gzip`.
 * - `pg-zstd`      pg_dump ≥ 16's own `--compress=zstd:<level>`: a plain custom archive whose data
 *                  blocks are zstd-compressed; pg_restore ≥ 16 reads it directly. Supported in
 *                  detection and restore; not measured here (Debian bookworm ships PostgreSQL 15).
 * - `none`         `-Z0`, nothing compresses (for data that is already compressed).
 *
 * Depends on zod only, so the manifest, the config and the CDK side can import it.
 */
import { z } from 'zod';

export const COMPRESSION_KINDS = ['zstd-wrapped', 'pg-gzip', 'pg-zstd', 'none'] as const;
export type CompressionKind = (typeof COMPRESSION_KINDS)[number];

/** zstd levels without `--ultra` (20-22 need it and far more memory per thread). */
export const ZSTD_MAX_LEVEL = 19;

export const CompressionSchema = z
  .strictObject({
    kind: z.enum(COMPRESSION_KINDS),
    /** The level the compressor ran at (zstd 1-19, gzip 0-9); absent for `none`. */
    level: z.number().int().min(0).max(ZSTD_MAX_LEVEL).optional(),
    /** zstd worker threads (`-T`); only for `zstd-wrapped`. */
    threads: z.number().int().positive().optional(),
    /**
     * Bytes of the plain custom archive before the wrapper compressed it: what a restore writes
     * to disk, so it can check free space before it starts. Required for `zstd-wrapped`.
     */
    rawBytes: z.number().int().nonnegative().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.kind === 'zstd-wrapped' && c.rawBytes === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rawBytes'], message: 'is required for zstd-wrapped archives' });
    }
    if (c.kind === 'pg-gzip' && c.level !== undefined && c.level > 9) {
      ctx.addIssue({ code: 'custom', path: ['level'], message: `gzip level ${c.level} is not 0-9` });
    }
  });
export type Compression = z.infer<typeof CompressionSchema>;

/** What every manifest written before the field existed means: pg_dump's default gzip. */
export const LEGACY_COMPRESSION: Compression = { kind: 'pg-gzip' };

/** The manifest's compression, defaulting for manifests that predate the field. */
export function compressionOf(manifest: { readonly compression?: Compression }): Compression {
  return manifest.compression ?? LEGACY_COMPRESSION;
}

/** Per-database choice in the config: what the dump should do. */
export const CompressionChoiceSchema = z.strictObject({
  /**
   * `zstd`: pg_dump -Z0 through a multi-threaded zstd (the `zstd-wrapped` kind); `gzip`: pg_dump's
   * own gzip, as every archive before this setting; `none`: for data that is already compressed.
   * @default 'zstd'
   */
  kind: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
  /**
   * @default - 3 for zstd (level 1 left the archive 8 % larger than gzip -6 on realistic rows; 3 is
   * no larger and still about twice as fast, see BENCHMARKS.md), 6 for gzip (pg_dump's default)
   */
  level: z.number().int().min(0).max(ZSTD_MAX_LEVEL).optional(),
});
export type CompressionChoice = z.input<typeof CompressionChoiceSchema>;

/** Runtime settings the dump runs with (threads come from the runner, not the config). */
export interface CompressionSettings {
  readonly kind: CompressionKind;
  readonly level: number;
  /** zstd worker threads; ignored by the other kinds. */
  readonly threads: number;
}

/**
 * Resolves a config choice on a runner with `cores` CPUs. `zstd` means the wrapped kind: it works
 * with any pg_dump and uses every core (pg_dump's own zstd is single-threaded).
 */
export function resolveCompression(
  choice: CompressionChoice | undefined,
  cores: number,
): CompressionSettings {
  const c = CompressionChoiceSchema.parse(choice ?? {});
  if (c.kind === 'gzip') {
    const level = c.level ?? 6;
    if (level > 9) throw new Error(`compression.level ${level} is not a gzip level (0-9)`);
    return { kind: 'pg-gzip', level, threads: 1 };
  }
  if (c.kind === 'none') return { kind: 'none', level: 0, threads: 1 };
  const level = c.level ?? 3;
  if (level < 1) throw new Error(`compression.level ${level} is not a zstd level (1-${ZSTD_MAX_LEVEL})`);
  return { kind: 'zstd-wrapped', level, threads: Math.max(1, Math.floor(cores)) };
}

/**
 * pg_dump's compression arguments for a kind. `zstd-wrapped` and `none` both make pg_dump write
 * uncompressed data (the wrapper compresses the whole stream); `pg-zstd` needs pg_dump ≥ 16.
 * @see https://www.postgresql.org/docs/16/app-pgdump.html (--compress=method[:detail])
 */
export function pgDumpCompressionArgs(settings: CompressionSettings, pgDumpMajor: number): string[] {
  switch (settings.kind) {
    case 'zstd-wrapped':
    case 'none':
      return ['--compress=0'];
    case 'pg-gzip':
      return [`--compress=${settings.level}`];
    case 'pg-zstd':
      if (pgDumpMajor < 16) {
        throw new Error(
          `pg_dump ${pgDumpMajor} cannot write zstd (--compress=zstd needs pg_dump 16 or newer)`,
        );
      }
      return [`--compress=zstd:${settings.level}`];
  }
}

/** The manifest field for a finished dump. */
export function manifestCompression(settings: CompressionSettings, rawBytes: number): Compression {
  switch (settings.kind) {
    case 'zstd-wrapped':
      return { kind: settings.kind, level: settings.level, threads: settings.threads, rawBytes };
    case 'none':
      return { kind: 'none' };
    default:
      return { kind: settings.kind, level: settings.level };
  }
}

/** What an archive's first bytes say it is. */
export type ArchiveFormat = 'custom' | 'zstd' | 'gzip' | 'unknown';

/** `PGDMP`: a pg_dump custom-format archive (its data blocks may be compressed inside). */
export const CUSTOM_MAGIC = Buffer.from('PGDMP', 'latin1');
/** A zstd frame. @see https://www.rfc-editor.org/rfc/rfc8878#section-3.1.1 */
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** A gzip member. @see https://www.rfc-editor.org/rfc/rfc1952#section-2.3.1 */
export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** Bytes needed to tell every format apart. */
export const MAGIC_BYTES = CUSTOM_MAGIC.length;

export function detectArchiveFormat(head: Uint8Array): ArchiveFormat {
  const starts = (magic: Buffer) =>
    head.length >= magic.length && magic.equals(head.subarray(0, magic.length));
  if (starts(CUSTOM_MAGIC)) return 'custom';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  if (starts(GZIP_MAGIC)) return 'gzip';
  return 'unknown';
}

/** The outer format a stored object of this kind must have. */
export function storedFormatOf(kind: CompressionKind): ArchiveFormat {
  return kind === 'zstd-wrapped' ? 'zstd' : 'custom';
}
