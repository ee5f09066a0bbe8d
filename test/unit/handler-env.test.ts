import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ConfigError,
  DEFAULT_DRILL_MAX_LIFETIME_HOURS,
  DEFAULT_OBJECT_LOCK_MODE,
  DEFAULT_REPORT_RETENTION_DAYS,
  parseHandlerEnv,
} from '../../lambda/core/handler-env';
import { DEFAULT_RETENTION_DAYS } from '../../lambda/core/tiers';
import { DumpEventSchema } from '../../lambda/handlers/dump';
import { handlerEnv } from '../../lambda/handlers/env';
import { VerifyEventSchema } from '../../lambda/handlers/verify';
import { setEnv } from '../support/handler-io';

const DUMP = { BACKUP_BUCKET: 'backups', BACKUP_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:123456789012:key/k' };
const DRILL = {
  BACKUP_BUCKET: 'backups',
  DRILL_SUBNET_GROUP: 'restorable-drill-orders',
  DRILL_SECURITY_GROUP_IDS: 'sg-1, sg-2',
};

describe('handler environment schemas', () => {
  test('defaults live in the schema: lock mode, retention, budgets, drill lifetime', () => {
    expect(parseHandlerEnv('dump', DUMP)).toEqual({
      ...DUMP,
      OBJECT_LOCK_MODE: 'GOVERNANCE',
      RETENTION_DAYS: DEFAULT_RETENTION_DAYS,
      COUNT_BUDGET_SECONDS: 300,
      FINGERPRINT_BUDGET_SECONDS: 300,
      LOCK_WAIT_TIMEOUT_SECONDS: 60,
      MIN_DUMP_BYTES: 512,
      SAFETY_MARGIN_SECONDS: 60,
      RUNNER: 'lambda',
      DUMP_LAYOUT: 'stream',
    });
    expect(DEFAULT_OBJECT_LOCK_MODE).toBe('GOVERNANCE');
    // The Fargate task's variables: layout, jobs and work dir from the config.
    expect(
      parseHandlerEnv('dump', {
        ...DUMP,
        RUNNER: 'fargate',
        DUMP_LAYOUT: 'directory',
        DUMP_JOBS: '4',
        WORK_DIR: '/task/work',
      }),
    ).toMatchObject({ RUNNER: 'fargate', DUMP_LAYOUT: 'directory', DUMP_JOBS: 4, WORK_DIR: '/task/work' });
    expect(() => parseHandlerEnv('dump', { ...DUMP, DUMP_LAYOUT: 'tar', DUMP_JOBS: '0' })).toThrow(
      /DUMP_LAYOUT must be one of stream, directory.*DUMP_JOBS .*\(got "0"\)/,
    );
    expect(parseHandlerEnv('drill', DRILL)).toMatchObject({
      DRILL_SECURITY_GROUP_IDS: ['sg-1', 'sg-2'],
      DRILL_MAX_LIFETIME_HOURS: DEFAULT_DRILL_MAX_LIFETIME_HOURS,
      DRILL_SSL_MODE: 'verify-full',
    });
    expect(DEFAULT_DRILL_MAX_LIFETIME_HOURS).toBe(6);
    expect(
      parseHandlerEnv('drill', { ...DRILL, DRILL_PARAMETER_GROUPS: '{"16":"restorable-drill-orders-pg16"}' }),
    ).toMatchObject({ DRILL_PARAMETER_GROUPS: { '16': 'restorable-drill-orders-pg16' } });
    expect(() => parseHandlerEnv('drill', { ...DRILL, DRILL_PARAMETER_GROUPS: '{"pg16":"x"}' })).toThrow(
      /DRILL_PARAMETER_GROUPS/,
    );
  });

  test("the verify records and the monthly reports take the dump's lock mode by default", () => {
    expect(parseHandlerEnv('verify', { BACKUP_BUCKET: 'backups' }).OBJECT_LOCK_MODE).toBe(
      DEFAULT_OBJECT_LOCK_MODE,
    );
    expect(parseHandlerEnv('report', { BACKUP_BUCKET: 'backups', DATABASE_IDS: '["orders"]' })).toEqual({
      BACKUP_BUCKET: 'backups',
      DATABASE_IDS: ['orders'],
      RPO_HOURS: {},
      OBJECT_LOCK_MODE: DEFAULT_OBJECT_LOCK_MODE,
      REPORT_RETENTION_DAYS: DEFAULT_REPORT_RETENTION_DAYS,
    });
    expect(() =>
      parseHandlerEnv('report', {
        BACKUP_BUCKET: 'b',
        DATABASE_IDS: '["orders"]',
        RPO_HOURS: '{"Orders!":1}',
      }),
    ).toThrow(/RPO_HOURS/);
  });

  test('an adhoc retention is optional in RETENTION_DAYS and must be a positive whole number of days', () => {
    const days = { daily: 7, weekly: 35, monthly: 400, yearly: 3650 };
    expect(
      parseHandlerEnv('dump', { ...DUMP, RETENTION_DAYS: JSON.stringify({ ...days, adhoc: 14 }) })
        .RETENTION_DAYS,
    ).toEqual({ ...days, adhoc: 14 });
    expect(() =>
      parseHandlerEnv('dump', { ...DUMP, RETENTION_DAYS: JSON.stringify({ ...days, adhoc: 0 }) }),
    ).toThrow(/RETENTION_DAYS adhoc/);
  });

  test('parses numbers, JSON and directory lists from their text', () => {
    const env = parseHandlerEnv('dump', {
      ...DUMP,
      OBJECT_LOCK_MODE: 'COMPLIANCE',
      RETENTION_DAYS: '{"daily":7,"weekly":35,"monthly":400,"yearly":3650}',
      MIN_DUMP_BYTES: '1024',
      PG_BIN_DIRS: '/a::/b',
    });
    expect(env).toMatchObject({
      OBJECT_LOCK_MODE: 'COMPLIANCE',
      RETENTION_DAYS: { daily: 7, weekly: 35, monthly: 400, yearly: 3650 },
      MIN_DUMP_BYTES: 1024,
      PG_BIN_DIRS: ['/a', '/b'],
    });
    expect(
      parseHandlerEnv('freshness', { ...DUMP, DATABASE_IDS: '["orders","analytics"]' }).DATABASE_IDS,
    ).toEqual(['orders', 'analytics']);
  });

  test('one ConfigError names every missing and invalid variable at once', () => {
    let error: unknown;
    try {
      parseHandlerEnv('dump', {
        BACKUP_KMS_KEY_ARN: '  ',
        OBJECT_LOCK_MODE: 'LEGAL_HOLD',
        RETENTION_DAYS: '{',
        MIN_DUMP_BYTES: 'lots',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    expect((error as Error).message).toBe(
      'invalid environment for the dump handler: BACKUP_BUCKET is required but not set; ' +
        'BACKUP_KMS_KEY_ARN is required but not set; ' +
        'OBJECT_LOCK_MODE must be one of GOVERNANCE, COMPLIANCE, NONE (got "LEGAL_HOLD"); ' +
        'RETENTION_DAYS is not valid JSON (got "{"); ' +
        'MIN_DUMP_BYTES must be a non-negative number (got "lots")',
    );
  });

  test('names the field inside a JSON variable', () => {
    expect(() => parseHandlerEnv('dump', { ...DUMP, RETENTION_DAYS: '{"daily":7}' })).toThrow(
      /RETENTION_DAYS .*weekly: invalid input: expected number/,
    );
    expect(() => parseHandlerEnv('freshness', { ...DUMP, DATABASE_IDS: '["Orders"]' })).toThrow(
      /DATABASE_IDS 0: must be a lowercase-hyphen database id/,
    );
  });

  test('variables that only work together', () => {
    expect(() => parseHandlerEnv('verify', { BACKUP_BUCKET: 'b', REPLICA_BUCKET: 'r' })).toThrow(
      /REPLICA_REGION must be set together with REPLICA_BUCKET/,
    );
    expect(() => parseHandlerEnv('drill', { ...DRILL, REPLICA_REGION: 'eu-central-1' })).toThrow(
      /REPLICA_BUCKET must be set together with REPLICA_REGION/,
    );
    expect(() =>
      parseHandlerEnv('freshness', { ...DUMP, DATABASE_IDS: '["a"]', REPLICA_KMS_KEY_ARN: 'x' }),
    ).toThrow(/REPLICA_REGION is required with REPLICA_KMS_KEY_ARN/);
  });

  test('the drill rejects a zero lifetime, an empty security group list and an unknown TLS mode', () => {
    expect(() =>
      parseHandlerEnv('drill', {
        ...DRILL,
        DRILL_MAX_LIFETIME_HOURS: '0',
        DRILL_SECURITY_GROUP_IDS: ' , ',
        DRILL_SSL_MODE: 'prefer',
      }),
    ).toThrow(
      /DRILL_SECURITY_GROUP_IDS must list at least one item.*DRILL_MAX_LIFETIME_HOURS must be a positive number.*DRILL_SSL_MODE must be one of disable, require, verify-ca, verify-full/,
    );
  });

  test('fleet variables: the data-access role, tag-selected freshness and discovery', () => {
    const role = 'arn:aws:iam::123456789012:role/restorable-data-access';
    for (const handler of ['dump', 'verify', 'drill'] as const) {
      const base = handler === 'drill' ? DRILL : DUMP;
      expect(
        parseHandlerEnv(handler, { ...base, DATABASE_ACCESS_ROLE_ARN: role }).DATABASE_ACCESS_ROLE_ARN,
      ).toBe(role);
      expect(() =>
        parseHandlerEnv(handler, { ...base, DATABASE_ACCESS_ROLE_ARN: 'restorable-data-access' }),
      ).toThrow(/DATABASE_ACCESS_ROLE_ARN must be an IAM role ARN/);
    }
    // With a selection the listed ids may be empty; RPOs default to 24 hours.
    expect(
      parseHandlerEnv('freshness', {
        ...DUMP,
        DATABASE_IDS: '[]',
        SELECTION: '{"tags":{"backup":"nightly"}}',
        RPO_HOURS: '{"orders":6}',
      }),
    ).toMatchObject({
      DATABASE_IDS: [],
      SELECTION: { tags: { backup: 'nightly' }, engines: ['postgres', 'aurora-postgresql'] },
      RPO_HOURS: { orders: 6 },
      DEFAULT_RPO_HOURS: 24,
    });
    expect(() =>
      parseHandlerEnv('freshness', { ...DUMP, DATABASE_IDS: '[]', SELECTION: '{"tags":{}}' }),
    ).toThrow(/SELECTION tags: must name at least one tag/);
    expect(
      parseHandlerEnv('discovery', { WORKLOAD: 'drill', SELECTION: '{"tags":{"a":"*"}}' }),
    ).toMatchObject({
      LISTED_DATABASES: [],
      DEFAULTS: { rpoHours: 24, drillWindowDays: 7, execution: {} },
    });
    expect(() =>
      parseHandlerEnv('discovery', { WORKLOAD: 'restore', SELECTION: '{"tags":{"a":"*"}}' }),
    ).toThrow(/WORKLOAD must be one of backup, drill/);
    expect(() =>
      parseHandlerEnv('discovery', {
        WORKLOAD: 'backup',
        LISTED_DATABASES: '[{"id":"orders","execution":{"databaseId":"orders"},"rpoHours":0}]',
      }),
    ).toThrow(/LISTED_DATABASES 0\.rpoHours: too small/);
  });

  test('a handler parses its environment once, and again only if it changed', () => {
    const restore = setEnv({ ...DUMP, MIN_DUMP_BYTES: '1000' });
    try {
      const read = handlerEnv('dump');
      const first = read();
      expect(first.MIN_DUMP_BYTES).toBe(1000);
      expect(read()).toBe(first); // the same parsed object: no second parse
      process.env.MIN_DUMP_BYTES = '2000';
      expect(read().MIN_DUMP_BYTES).toBe(2000);
      delete process.env.BACKUP_BUCKET;
      expect(read).toThrow(
        new ConfigError('invalid environment for the dump handler: BACKUP_BUCKET is required but not set'),
      );
    } finally {
      restore();
    }
  });
});

describe('the schema module', () => {
  test('loads no AWS SDK, Powertools or pg (cdk synth imports it)', () => {
    const modules = JSON.parse(
      execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `require(${JSON.stringify(join(__dirname, '..', '..', 'lambda', 'core', 'handler-env.ts'))});` +
            'console.log(JSON.stringify(Object.keys(require.cache)))',
        ],
        { encoding: 'utf8' },
      ),
    ) as string[];
    expect(modules.some((m) => m.endsWith('handler-env.ts'))).toBe(true);
    expect(modules.filter((m) => /@aws-sdk|@aws-lambda-powertools|node_modules\/pg\//.test(m))).toEqual([]);
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
