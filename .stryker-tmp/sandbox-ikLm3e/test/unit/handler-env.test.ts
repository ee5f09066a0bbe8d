// @ts-nocheck
import { z } from 'zod';
import {
  ConfigError,
  jsonEnv,
  numberEnv,
  optionalEnv,
  pathListEnv,
  requireEnv,
} from '../../lambda/handlers/env';
import { DumpEventSchema } from '../../lambda/handlers/dump';
import { VerifyEventSchema } from '../../lambda/handlers/verify';

describe('environment helpers', () => {
  const env = { A: 'x', EMPTY: '  ', J: '["a","b"]', BAD: '{', N: '12', DIRS: '/a::/b' };

  test('requireEnv names the missing variable', () => {
    expect(requireEnv('A', env)).toBe('x');
    expect(() => requireEnv('MISSING', env)).toThrow(
      new ConfigError('environment variable MISSING is required but not set'),
    );
    expect(() => requireEnv('EMPTY', env)).toThrow(/EMPTY is required/);
  });

  test('optional, number and path-list variables', () => {
    expect(optionalEnv('EMPTY', env)).toBeUndefined();
    expect(numberEnv('N', 5, env)).toBe(12);
    expect(numberEnv('MISSING', 5, env)).toBe(5);
    expect(() => numberEnv('A', 5, env)).toThrow(/A must be a non-negative number/);
    expect(pathListEnv('DIRS', env)).toEqual(['/a', '/b']);
    expect(pathListEnv('MISSING', env)).toBeUndefined();
  });

  test('JSON variables are parsed and validated, naming the variable', () => {
    const schema = z.array(z.string());
    expect(jsonEnv('J', schema, { env })).toEqual(['a', 'b']);
    expect(jsonEnv('MISSING', schema, { env, fallback: [] })).toEqual([]);
    expect(() => jsonEnv('MISSING', schema, { env })).toThrow(/MISSING is required/);
    expect(() => jsonEnv('BAD', schema, { env })).toThrow(/BAD is not valid JSON/);
    expect(() => jsonEnv('N', schema, { env })).toThrow(/N is invalid: \(value\)/);
  });
});

describe('handler events', () => {
  test('dump event', () => {
    expect(
      DumpEventSchema.parse({
        databaseId: 'orders',
        secretArn: 'arn:x',
        tier: 'weekly',
        sslMode: 'verify-ca',
      }),
    ).toEqual({
      databaseId: 'orders',
      secretArn: 'arn:x',
      tier: 'weekly',
      sslMode: 'verify-ca',
    });
    expect(DumpEventSchema.safeParse({ databaseId: 'Orders', secretArn: 'arn:x' }).success).toBe(false);
    expect(
      DumpEventSchema.safeParse({ databaseId: 'orders', secretArn: 'arn:x', sslMode: 'prefer' }).success,
    ).toBe(false);
    expect(
      DumpEventSchema.safeParse({ databaseId: 'orders', secretArn: 'arn:x', password: 'nope' }).success,
    ).toBe(false);
  });

  test('verify event accepts the dump output as is', () => {
    const dumpOutput = {
      databaseId: 'orders',
      backupId: 'orders-20261122T020000Z',
      manifestKey: 'daily/orders/2026-11-22/orders-20261122T020000Z.manifest.json',
      tier: 'daily',
      period: '2026-11-22',
      bytes: 1,
      sha256: '0'.repeat(64),
    };
    expect(VerifyEventSchema.parse(dumpOutput)).toEqual({
      databaseId: 'orders',
      manifestKey: dumpOutput.manifestKey,
    });
  });
});
