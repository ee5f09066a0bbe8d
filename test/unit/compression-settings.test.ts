import {
  CompressionSchema,
  compressionOf,
  detectArchiveFormat,
  manifestCompression,
  pgDumpCompressionArgs,
  resolveCompression,
  storedFormatOf,
} from '../../lambda/core/compression-settings';
import { parseHandlerEnv } from '../../lambda/core/handler-env';
import { exampleConfig, synthBackupStack } from './cdk-support';

describe('the manifest compression field', () => {
  it('means pg_dump gzip for manifests written before the field existed', () => {
    expect(compressionOf({})).toEqual({ kind: 'pg-gzip' });
    expect(storedFormatOf(compressionOf({}).kind)).toBe('custom');
  });

  it('requires the plain archive size for zstd-wrapped archives (restore checks free space with it)', () => {
    const r = CompressionSchema.safeParse({ kind: 'zstd-wrapped', level: 1, threads: 2 });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'rawBytes: is required for zstd-wrapped archives',
    ]);
  });

  it('rejects unknown kinds and gzip levels above 9', () => {
    expect(CompressionSchema.safeParse({ kind: 'lz4' }).success).toBe(false);
    const r = CompressionSchema.safeParse({ kind: 'pg-gzip', level: 12 });
    expect(r.error?.issues[0].message).toMatch(/gzip level 12 is not 0-9/);
  });

  it('records what the dump ran with', () => {
    expect(manifestCompression({ kind: 'zstd-wrapped', level: 3, threads: 4 }, 1234)).toEqual({
      kind: 'zstd-wrapped',
      level: 3,
      threads: 4,
      rawBytes: 1234,
    });
    expect(
      CompressionSchema.parse(manifestCompression({ kind: 'pg-gzip', level: 6, threads: 1 }, 9)),
    ).toEqual({
      kind: 'pg-gzip',
      level: 6,
    });
  });
});

describe('choosing compression', () => {
  it('defaults to zstd level 3 on every core, wrapped around an uncompressed pg_dump', () => {
    const s = resolveCompression(undefined, 8);
    expect(s).toEqual({ kind: 'zstd-wrapped', level: 3, threads: 8 });
    expect(pgDumpCompressionArgs(s, 15)).toEqual(['--compress=0']);
  });

  it('keeps pg_dump gzip at its default level when asked for gzip', () => {
    const s = resolveCompression({ kind: 'gzip' }, 2);
    expect(pgDumpCompressionArgs(s, 15)).toEqual(['--compress=6']);
    expect(() => resolveCompression({ kind: 'gzip', level: 12 }, 2)).toThrow(/12 is not a gzip level/);
  });

  it('refuses pg_dump-s own zstd before pg_dump 16', () => {
    expect(() => pgDumpCompressionArgs({ kind: 'pg-zstd', level: 3, threads: 1 }, 15)).toThrow(
      /pg_dump 15 cannot write zstd \(--compress=zstd needs pg_dump 16 or newer\)/,
    );
    expect(pgDumpCompressionArgs({ kind: 'pg-zstd', level: 3, threads: 1 }, 16)).toEqual([
      '--compress=zstd:3',
    ]);
  });
});

describe('detecting an archive by its first bytes', () => {
  it.each([
    ['PGDMP\x01\x0f', 'custom'],
    ['\x28\xb5\x2f\xfd\x04', 'zstd'],
    ['\x1f\x8b\x08\x00', 'gzip'],
    ['-- PostgreSQL database dump', 'unknown'],
    ['PGD', 'unknown'],
  ])('%j is %s', (head, format) => {
    expect(detectArchiveFormat(Buffer.from(head, 'latin1'))).toBe(format);
  });
});

describe('per-database compression, config to the dump handler', () => {
  it('reaches the dump function as COMPRESSION, which the handler parses back; unset leaves the default', () => {
    const { template } = synthBackupStack(
      exampleConfig((c) => {
        c.databases[0].compression = { kind: 'gzip', level: 9 };
      }),
    );
    const dumps = Object.values(template.findResources('AWS::Lambda::Function')).filter((r) =>
      ((r as { Properties: { ImageConfig?: { Command?: string[] } } }).Properties.ImageConfig?.Command ?? [])
        .join()
        .startsWith('dump.'),
    );
    const values = dumps.map(
      (r) =>
        (r as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment
          .Variables.COMPRESSION,
    );
    expect(values[0]).toBe('{"kind":"gzip","level":9}');
    expect(values.slice(1).every((v) => v === undefined)).toBe(true);
    const env = parseHandlerEnv('dump', {
      BACKUP_BUCKET: 'b',
      BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/k',
      COMPRESSION: values[0] as string,
    });
    expect(resolveCompression(env.COMPRESSION, 4)).toEqual({ kind: 'pg-gzip', level: 9, threads: 1 });
    expect(() => exampleConfig((c) => (c.databases[0].compression = { kind: 'lz4' }))).toThrow(/compression/);
  });
});
