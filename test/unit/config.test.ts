import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { DEFAULT_BACKUP_SCHEDULE, DEFAULT_SSL_MODE } from '../../lambda/core/backup-settings';
import {
  DEFAULT_DRILL_INSTANCE_CLASS,
  DEFAULT_DRILL_REPORT_DAYS,
  DEFAULT_DRILL_SCHEDULE,
  DEFAULT_RANDOM_WINDOW_DAYS,
  DEFAULT_RTO_TARGET_MINUTES,
  DEFAULT_RTO_TARGET_SECONDS,
  resolveDrillSettings,
} from '../../lambda/core/drill-settings';
import {
  ConfigError,
  configJsonSchema,
  formatConfigPath,
  loadConfig,
  parseConfig,
  retentionDaysOf,
  scheduleExpressionProblem,
} from '../../lib/config';
import { exampleConfigInput } from './cdk-support';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/app-AbC123';

/** The smallest valid config: everything else comes from defaults. */
function minimal(): Record<string, unknown> & { databases: Record<string, unknown>[] } {
  return {
    account: '123456789012',
    primaryRegion: 'eu-west-1',
    replicaRegion: 'eu-central-1',
    databases: [{ id: 'app', secretArn: SECRET }],
  };
}

/** Parses `minimal()` after `change`; returns the thrown message (or fails the test). */
function problemsOf(change: (config: ReturnType<typeof minimal>) => void): string {
  const config = minimal();
  change(config);
  try {
    parseConfig(config);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseConfig', () => {
  test('accepts the example config in cdk.json', () => {
    const config = parseConfig(exampleConfigInput());
    expect(config.databases.map((d) => d.id)).toEqual(['orders', 'analytics']);
    expect(config.databases[0].vpc?.subnetIds).toHaveLength(2);
    expect(config.databases[1].engine).toBe('external');
    expect(config.databases[1].vpc).toBeUndefined();
  });

  test('fills every default from DESIGN.md into a minimal config', () => {
    const config = parseConfig(minimal());
    expect(config.retention).toEqual({
      dailyDays: 30,
      weeklyDays: 90,
      monthlyDays: 365,
      yearlyDays: 2555,
      drillReportDays: 400,
      adhocDays: 30,
      allowEarlyDeletionCharges: false,
    });
    expect(config.objectLock).toEqual({ mode: 'COMPLIANCE', defaultRetentionDays: 30 });
    expect(config.replica).toEqual({});
    expect(config.vault).toEqual({ deploymentRoleMayUpdatePolicies: false, auditManagementEvents: true });
    expect(config.functions).toEqual({});
    expect(config.onCall).toEqual({ emails: [], httpsEndpoints: [] });
    expect(config.keyAdmins).toEqual([]);
    expect(config.databases[0]).toEqual({
      id: 'app',
      secretArn: SECRET,
      schedule: 'cron(0 2 * * ? *)',
      rpoHours: 24,
      schemas: {},
      sslMode: 'verify-full',
      runner: 'lambda',
      drill: {
        enabled: true,
        schedule: 'cron(0 3 ? * 6L *)',
        rtoTargetMinutes: 60,
        selection: 'latest',
        randomWindowDays: 30,
        source: 'replica',
        instanceClass: 'db.t4g.medium',
        checks: [],
        allowExtendedSupport: false,
      },
    });
  });

  test('keeps explicit values over defaults', () => {
    const config = parseConfig({
      ...minimal(),
      objectLock: { mode: 'COMPLIANCE', defaultRetentionDays: 7 },
      databases: [
        {
          id: 'app',
          secretArn: SECRET,
          engine: 'aurora-postgresql',
          sslMode: 'verify-ca',
          drill: {
            enabled: false,
            selection: 'random',
            source: 'primary',
            checks: [{ name: 'n', sql: 'select 1', expect: { rows: 1 } }],
          },
        },
      ],
    });
    expect(config.objectLock).toEqual({ mode: 'COMPLIANCE', defaultRetentionDays: 7 });
    expect(config.databases[0].sslMode).toBe('verify-ca');
    expect(config.databases[0].drill).toMatchObject({
      enabled: false,
      selection: 'random',
      source: 'primary',
    });
    expect(config.databases[0].drill.checks[0].expect).toEqual({ rows: 1 });
  });

  test('throws one ConfigError listing every problem, one per line, each starting with its path', () => {
    const config = minimal();
    config.account = '1234';
    config.replicaRegion = 'eu-west-1';
    config.databases.push({ id: 'Bad_ID', secretArn: 'nope' });
    let error: unknown;
    try {
      parseConfig(config, 'test.json');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.problems).toEqual([
      expect.stringMatching(/^account "1234" must match/),
      expect.stringMatching(/^databases\[1\]\.id "Bad_ID" must match/),
      expect.stringMatching(/^databases\[1\]\.secretArn "nope" must match/),
      expect.stringMatching(/^replicaRegion \("eu-west-1"\) must differ from primaryRegion/),
    ]);
    const lines = configError.message.split('\n');
    expect(lines[0]).toBe('Invalid Restorable config (test.json): 4 problems');
    expect(lines.slice(1)).toEqual(configError.problems.map((p) => `  - ${p}`));
  });

  test('drills refuse RDS Extended Support unless drill.allowExtendedSupport is true', () => {
    expect(parseConfig(minimal()).databases[0].drill.allowExtendedSupport).toBe(false);
    const config = minimal();
    config.databases[0].drill = { allowExtendedSupport: true };
    expect(parseConfig(config).databases[0].drill.allowExtendedSupport).toBe(true);
    expect(problemsOf((c) => (c.databases[0].drill = { allowExtendedSupport: 'yes' }))).toMatch(
      /databases\[0\]\.drill\.allowExtendedSupport must be true or false, got "yes"/,
    );
  });

  test("takes a database secret's customer managed key in the secret's region", () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555';
    const config = minimal();
    config.databases[0].secretKmsKeyArn = key;
    expect(parseConfig(config).databases[0].secretKmsKeyArn).toBe(key);
    expect(parseConfig(minimal()).databases[0].secretKmsKeyArn).toBeUndefined();
  });

  test('rejects a secret key that is not a key ARN, or is in another region than the secret', () => {
    expect(problemsOf((c) => (c.databases[0].secretKmsKeyArn = 'alias/aws/secretsmanager'))).toMatch(
      /databases\[0\]\.secretKmsKeyArn "alias\/aws\/secretsmanager" must match .*a KMS key ARN/,
    );
    expect(
      problemsOf(
        (c) =>
          (c.databases[0].secretKmsKeyArn =
            'arn:aws:kms:eu-central-1:123456789012:key/99999999-8888-7777-6666-555555555555'),
      ),
    ).toMatch(
      /databases\[0\]\.secretKmsKeyArn .* is in aws\/eu-central-1 but the secret is in aws\/eu-west-1: Secrets Manager encrypts a secret only with a key of its own region/,
    );
  });

  test('runs the cross-field rules even when a field has the wrong type', () => {
    const message = problemsOf((c) => {
      c.onCall = 'pager';
      c.retention = { dailyDays: 30, weeklyDays: 20 };
    });
    expect(message).toMatch(/onCall must be an object, got "pager"/);
    expect(message).toMatch(/retention\.weeklyDays \(20\) must be greater than dailyDays \(30\)/);
  });

  test('rejects a non-object document', () => {
    expect(() => parseConfig('config')).toThrow(/\(config\) must be an object, got "config"/);
  });

  describe('account and regions', () => {
    test.each(['12345678901', '1234567890123', 'abcdefghijkl'])('rejects account %p', (account) => {
      expect(problemsOf((c) => (c.account = account))).toMatch(
        /account ".*" must match .*12-digit AWS account id/,
      );
    });

    test('rejects a replica region equal to the primary region', () => {
      expect(problemsOf((c) => (c.replicaRegion = 'eu-west-1'))).toMatch(
        /replicaRegion \("eu-west-1"\) must differ from primaryRegion/,
      );
    });

    test('rejects a malformed region', () => {
      expect(problemsOf((c) => (c.primaryRegion = 'Europe'))).toMatch(/primaryRegion "Europe" must match/);
    });

    test('requires account, regions and databases', () => {
      let message = '';
      try {
        parseConfig({});
      } catch (err) {
        message = (err as Error).message;
      }
      for (const key of ['account', 'primaryRegion', 'replicaRegion', 'databases']) {
        expect(message).toMatch(new RegExp(`- ${key} is required`));
      }
    });
  });

  describe('retention tiers', () => {
    test('rejects weekly not greater than daily, naming both values', () => {
      expect(problemsOf((c) => (c.retention = { dailyDays: 30, weeklyDays: 20 }))).toMatch(
        /retention\.weeklyDays \(20\) must be greater than dailyDays \(30\)/,
      );
    });

    test('rejects equal tiers: monthly equal to weekly', () => {
      expect(problemsOf((c) => (c.retention = { weeklyDays: 365 }))).toMatch(
        /retention\.monthlyDays \(365\) must be greater than weeklyDays \(365\)/,
      );
    });

    test('rejects yearly not greater than monthly', () => {
      expect(problemsOf((c) => (c.retention = { yearlyDays: 300 }))).toMatch(
        /retention\.yearlyDays \(300\) must be greater than monthlyDays \(365\)/,
      );
    });

    test('rejects non-integer and non-positive days', () => {
      const message = problemsOf((c) => (c.retention = { dailyDays: 1.5, weeklyDays: 0 }));
      expect(message).toMatch(/retention\.dailyDays must be an integer/);
      expect(message).toMatch(/retention\.weeklyDays \(0\) must be at least 1/);
    });
  });

  describe('object lock', () => {
    test('rejects a default retention longer than the daily tier expiry', () => {
      expect(problemsOf((c) => (c.objectLock = { defaultRetentionDays: 31 }))).toMatch(
        /objectLock\.defaultRetentionDays \(31\) must not exceed retention\.dailyDays \(30\)/,
      );
    });

    test('names the shortest tier the retention outlives', () => {
      expect(
        problemsOf((c) => {
          c.retention = { dailyDays: 7, weeklyDays: 60 };
          c.objectLock = { defaultRetentionDays: 40 };
        }),
      ).toMatch(/objectLock\.defaultRetentionDays \(40\) must not exceed retention\.dailyDays \(7\)/);
    });

    test('rejects a retention longer than the drill report expiry', () => {
      expect(
        problemsOf((c) => {
          c.retention = {
            dailyDays: 500,
            weeklyDays: 600,
            monthlyDays: 700,
            yearlyDays: 3000,
            drillReportDays: 400,
          };
          c.objectLock = { defaultRetentionDays: 450 };
        }),
      ).toMatch(
        /objectLock\.defaultRetentionDays \(450\) must not exceed retention\.drillReportDays \(400\)/,
      );
    });

    test('caps the default retention at a shorter daily tier instead of failing', () => {
      const config = parseConfig({ ...minimal(), retention: { dailyDays: 7, weeklyDays: 60 } });
      expect(config.objectLock).toEqual({ mode: 'COMPLIANCE', defaultRetentionDays: 7 });
    });

    test('rejects an unknown mode', () => {
      expect(problemsOf((c) => (c.objectLock = { mode: 'STRICT' }))).toMatch(
        /objectLock\.mode must be one of "GOVERNANCE", "COMPLIANCE", got "STRICT"/,
      );
    });
  });

  describe('databases', () => {
    test('rejects duplicate ids, naming the first use', () => {
      expect(problemsOf((c) => c.databases.push({ id: 'app', secretArn: SECRET }))).toMatch(
        /databases\[1\]\.id "app" is already used by databases\[0\]/,
      );
    });

    test.each([
      ['Bad_ID', 'upper case and underscore'],
      ['1orders', 'starts with a digit'],
      ['orders-', 'ends with a hyphen'],
      ['', 'empty'],
      ['a'.repeat(41), 'longer than 40'],
      ['orders/eu', 'contains a slash (would nest S3 prefixes)'],
    ])('rejects id %p (%s)', (id) => {
      expect(problemsOf((c) => (c.databases[0].id = id))).toMatch(
        /databases\[0\]\.id ".*" must match .*1-40 lowercase/,
      );
    });

    test.each(['a', 'orders', 'orders-eu-1', 'a'.repeat(40)])('accepts id %p', (id) => {
      const config = minimal();
      config.databases[0].id = id;
      expect(parseConfig(config).databases[0].id).toBe(id);
    });

    test('requires at least one database', () => {
      expect(problemsOf((c) => (c.databases = []))).toMatch(
        /databases is required unless `selection` finds databases by tag/,
      );
    });

    test.each([
      ['not-an-arn', 'not an ARN'],
      ['arn:aws:ssm:eu-west-1:123456789012:parameter/db', 'another service'],
      [
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/app',
        'partial ARN without the suffix',
      ],
      ['arn:aws:secretsmanager:eu-west-1:1234:secret:app-AbC123', 'short account'],
    ])('rejects secretArn %p (%s)', (secretArn) => {
      expect(problemsOf((c) => (c.databases[0].secretArn = secretArn))).toMatch(
        /databases\[0\]\.secretArn ".*" must match .*full Secrets Manager secret ARN/,
      );
    });

    test('rejects an unknown engine and an sslMode that silently downgrades', () => {
      const message = problemsOf((c) =>
        Object.assign(c.databases[0], { engine: 'mysql', sslMode: 'prefer' }),
      );
      expect(message).toMatch(
        /databases\[0\]\.engine must be one of "postgres", "aurora-postgresql", "external", got "mysql"/,
      );
      expect(message).toMatch(/databases\[0\]\.sslMode must be one of .*got "prefer"/);
    });

    test('rejects malformed VPC, subnet and security group ids and an empty subnet list', () => {
      const message = problemsOf(
        (c) => (c.databases[0].vpc = { vpcId: 'vpc-1', subnetIds: [], securityGroupIds: ['group'] }),
      );
      expect(message).toMatch(/databases\[0\]\.vpc\.vpcId "vpc-1" must match/);
      expect(message).toMatch(/databases\[0\]\.vpc\.subnetIds must list at least 1 item/);
      expect(message).toMatch(/databases\[0\]\.vpc\.securityGroupIds\[0\] "group" must match/);
    });

    test('rejects a non-positive RPO', () => {
      expect(problemsOf((c) => (c.databases[0].rpoHours = 0))).toMatch(
        /databases\[0\]\.rpoHours \(0\) must be at least 1/,
      );
    });

    describe('runner', () => {
      const VPC = {
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      };

      test('takes the Fargate runner with its size, layout, jobs and timeout, defaulting what is left out', () => {
        const config = minimal();
        Object.assign(config.databases[0], {
          vpc: VPC,
          runner: 'fargate',
          sizeHintGiB: 150,
          fargate: { cpu: 4096, ephemeralStorageGiB: 120, layout: 'directory', jobs: 4 },
        });
        const db = parseConfig(config).databases[0];
        expect(db.runner).toBe('fargate');
        expect(db.sizeHintGiB).toBe(150);
        // memory: twice the CPU units, the smallest Fargate offers with 4 vCPU.
        expect(db.fargate).toEqual({
          cpu: 4096,
          memoryMiB: 8192,
          ephemeralStorageGiB: 120,
          layout: 'directory',
          jobs: 4,
          timeoutHours: 12,
        });
        config.databases[0].fargate = {};
        expect(parseConfig(config).databases[0].fargate).toEqual({
          cpu: 2048,
          memoryMiB: 4096,
          layout: 'stream',
          timeoutHours: 12,
        });
      });

      test('refuses the directory layout on Lambda, saying why and what to set', () => {
        expect(problemsOf((c) => (c.databases[0].fargate = { layout: 'directory' }))).toMatch(
          /databases\[0\]\.fargate layout "directory" needs runner "fargate" \(pg_dump -Fd writes the whole archive to local storage.*set runner to "fargate"/,
        );
        expect(problemsOf((c) => (c.databases[0].fargate = { cpu: 1024 }))).toMatch(
          /databases\[0\]\.fargate is set but runner is "lambda": set runner to "fargate", or remove fargate/,
        );
      });

      test('refuses the Fargate runner for a database without a VPC', () => {
        expect(problemsOf((c) => (c.databases[0].runner = 'fargate'))).toMatch(
          /databases\[0\]\.runner is "fargate" but the database has no vpc: Fargate tasks run in VPC subnets/,
        );
      });

      test('refuses task sizes Fargate does not offer, storage past 200 GiB, zero jobs and long timeouts, all at once', () => {
        const message = problemsOf((c) =>
          Object.assign(c.databases[0], {
            vpc: VPC,
            runner: 'fargate',
            fargate: { cpu: 1024, memoryMiB: 16384, ephemeralStorageGiB: 250, jobs: 0, timeoutHours: 72 },
          }),
        );
        expect(message).toMatch(/memoryMiB 16384 is not allowed with cpu 1024: Fargate allows 2048 to 8192/);
        expect(message).toMatch(/ephemeralStorageGiB 250 must be a whole number from 21 to 200/);
        expect(message).toMatch(/databases\[0\]\.fargate\.jobs/);
        expect(message).toMatch(/databases\[0\]\.fargate\.timeoutHours/);
      });

      test('refuses an unknown runner or layout and a non-positive size hint', () => {
        const message = problemsOf((c) => Object.assign(c.databases[0], { runner: 'batch', sizeHintGiB: 0 }));
        expect(message).toMatch(/databases\[0\]\.runner must be one of "lambda", "fargate", got "batch"/);
        expect(message).toMatch(/databases\[0\]\.sizeHintGiB/);
        expect(
          problemsOf((c) =>
            Object.assign(c.databases[0], { vpc: VPC, runner: 'fargate', fargate: { layout: 'tar' } }),
          ),
        ).toMatch(/databases\[0\]\.fargate\.layout must be one of "stream", "directory", got "tar"/);
      });
    });

    test('rejects empty schema lists', () => {
      expect(problemsOf((c) => (c.databases[0].schemas = { include: [] }))).toMatch(
        /databases\[0\]\.schemas\.include must list at least 1 item/,
      );
    });
  });

  describe('schedules', () => {
    test.each([
      ['cron(0 2 * * *)', /needs 6 fields .* got 5/],
      ['cron(0 2 * * * *)', /needs "\?" in exactly one of day-of-month and day-of-week/],
      ['cron(0 2 ? * ? *)', /needs "\?" in exactly one of day-of-month and day-of-week/],
      ['cron(60 2 * * ? *)', /minutes value 60 is outside 0-59/],
      ['cron(0 24 * * ? *)', /hours value 24 is outside 0-23/],
      ['cron(0 2 * 13 ? *)', /month value 13 is outside 1-12/],
      ['cron(0 2 ? * 8 *)', /day-of-week value 8 is outside 1-7/],
      ['cron(0 2 * * ? $)', /year field "\$" has characters it does not allow/],
      ['rate(1 days)', /value of 1 takes a singular unit/],
      ['rate(5 day)', /value above 1 takes a plural unit/],
      ['rate(0 minutes)', /at least 1/],
      ['rate(5 weeks)', /unit minute\(s\), hour\(s\) or day\(s\)/],
      ['at(2026-01-01T00:00:00)', /must be cron\(<6 fields>\) or rate/],
      ['0 2 * * *', /must be cron\(<6 fields>\) or rate/],
    ])('rejects backup schedule %p', (schedule, reason) => {
      const message = problemsOf((c) => (c.databases[0].schedule = schedule));
      expect(message).toMatch(
        /databases\[0\]\.schedule ".*" is not a valid EventBridge Scheduler expression/,
      );
      expect(message).toMatch(reason);
    });

    test('rejects an invalid drill schedule, naming the drill path', () => {
      expect(problemsOf((c) => (c.databases[0].drill = { schedule: 'monthly' }))).toMatch(
        /databases\[0\]\.drill\.schedule "monthly" is not a valid EventBridge Scheduler expression/,
      );
    });

    test.each([
      'cron(0 2 * * ? *)',
      'cron(0 3 ? * 6L *)',
      'cron(0/15 * * * ? *)',
      'cron(0 3 ? * MON-FRI *)',
      'cron(0 3 L * ? *)',
      'cron(0 3 15W * ? *)',
      'cron(0 3 ? * 2#1 *)',
      'cron(30 1 1 JAN ? 2027)',
      'rate(1 day)',
      'rate(12 hours)',
      'rate(30 minutes)',
    ])('accepts schedule %p', (schedule) => {
      expect(scheduleExpressionProblem(schedule)).toBeUndefined();
      const config = minimal();
      config.databases[0].schedule = schedule;
      config.databases[0].drill = { schedule };
      expect(parseConfig(config).databases[0].drill.schedule).toBe(schedule);
    });
  });

  describe('drill', () => {
    test('rejects a check whose expect is none of rows, equals, min', () => {
      expect(
        problemsOf(
          (c) => (c.databases[0].drill = { checks: [{ name: 'n', sql: 'select 1', expect: { max: 1 } }] }),
        ),
      ).toMatch(
        /databases\[0\]\.drill\.checks\[0\]\.expect must be one of \{"rows": <n>\}, \{"equals": <value>\} or \{"min": <n>\}/,
      );
    });

    test('rejects duplicate check names within a database', () => {
      const check = { name: 'orders', sql: 'select 1', expect: { min: 1 } };
      expect(problemsOf((c) => (c.databases[0].drill = { checks: [check, check] }))).toMatch(
        /databases\[0\]\.drill\.checks\[1\]\.name "orders" is used by another check/,
      );
    });

    test('rejects an empty check SQL and a malformed instance class', () => {
      const message = problemsOf(
        (c) =>
          (c.databases[0].drill = {
            instanceClass: 'm5.large',
            checks: [{ name: 'n', sql: '', expect: { rows: 0 } }],
          }),
      );
      expect(message).toMatch(/databases\[0\]\.drill\.checks\[0\]\.sql must not be empty/);
      expect(message).toMatch(/databases\[0\]\.drill\.instanceClass "m5.large" must match/);
    });

    test('accepts a per-check timeout, as the drill runs it', () => {
      const check = { name: 'slow', sql: 'select 1', expect: { rows: 1 }, timeoutSeconds: 120 };
      const config = minimal();
      config.databases[0].drill = { checks: [check] };
      const drill = parseConfig(config).databases[0].drill;
      expect(drill.checks).toEqual([check]);
      // The parsed block is what the construct sends and the drill resolves: the two agree.
      expect(resolveDrillSettings(drill).checks).toEqual([check]);
    });

    test('rejects a check timeout that is not positive or above an hour', () => {
      const check = (timeoutSeconds: number) => ({
        name: `t${timeoutSeconds}`,
        sql: 'select 1',
        expect: { rows: 1 },
        timeoutSeconds,
      });
      const message = problemsOf((c) => (c.databases[0].drill = { checks: [check(0), check(3601)] }));
      expect(message).toMatch(
        /databases\[0\]\.drill\.checks\[0\]\.timeoutSeconds \(0\) must be greater than 0/,
      );
      expect(message).toMatch(
        /databases\[0\]\.drill\.checks\[1\]\.timeoutSeconds \(3601\) must be at most 3600/,
      );
    });

    test('reports duplicate check names together with the other problems of the checks', () => {
      const check = { name: 'orders', sql: 'select 1', expect: { min: 1 } };
      const message = problemsOf(
        (c) => (c.databases[0].drill = { checks: [check, { ...check, sql: 5 }, check] }),
      );
      expect(message).toMatch(/databases\[0\]\.drill\.checks\[1\]\.sql must be a string/);
      expect(message).toMatch(/databases\[0\]\.drill\.checks\[2\]\.name "orders" is used by another check/);
    });

    test('takes its drill defaults from the core, where the construct and the drill take theirs', () => {
      const drill = parseConfig(minimal()).databases[0].drill;
      expect(drill).toMatchObject({
        schedule: DEFAULT_DRILL_SCHEDULE,
        instanceClass: DEFAULT_DRILL_INSTANCE_CLASS,
        rtoTargetMinutes: DEFAULT_RTO_TARGET_MINUTES,
        randomWindowDays: DEFAULT_RANDOM_WINDOW_DAYS,
        selection: 'latest',
        source: 'replica',
        checks: [],
      });
      expect(resolveDrillSettings(drill)).toMatchObject({
        rtoTargetSeconds: DEFAULT_RTO_TARGET_SECONDS,
        randomWindowDays: DEFAULT_RANDOM_WINDOW_DAYS,
      });
      const database = parseConfig(minimal()).databases[0];
      expect(database.sslMode).toBe(DEFAULT_SSL_MODE);
      expect(database.schedule).toBe(DEFAULT_BACKUP_SCHEDULE);
      expect(parseConfig(minimal()).retention.drillReportDays).toBe(DEFAULT_DRILL_REPORT_DAYS);
    });

    test('rejects a random window that is not whole days from 1 to 36500, and an RTO under a minute', () => {
      const message = problemsOf(
        (c) => (c.databases[0].drill = { randomWindowDays: 0.5, rtoTargetMinutes: 0 }),
      );
      expect(message).toMatch(/databases\[0\]\.drill\.randomWindowDays must be an integer, got 0.5/);
      expect(message).toMatch(/databases\[0\]\.drill\.rtoTargetMinutes \(0\) must be at least 1/);
      expect(problemsOf((c) => (c.databases[0].drill = { randomWindowDays: 36501 }))).toMatch(
        /databases\[0\]\.drill\.randomWindowDays \(36501\) must be at most 36500/,
      );
    });

    test('rejects an sslmode that could fall back to plaintext', () => {
      expect(problemsOf((c) => (c.databases[0].sslMode = 'prefer'))).toMatch(
        /databases\[0\]\.sslMode must be one of "disable", "require", "verify-ca", "verify-full", got "prefer"/,
      );
    });

    test('rejects unknown selection and source values', () => {
      const message = problemsOf((c) => (c.databases[0].drill = { selection: 'oldest', source: 'backup' }));
      expect(message).toMatch(
        /databases\[0\]\.drill\.selection must be one of "latest", "random", got "oldest"/,
      );
      expect(message).toMatch(
        /databases\[0\]\.drill\.source must be one of "replica", "primary", got "backup"/,
      );
    });
  });

  describe('unknown keys', () => {
    test('rejects an unknown top-level key', () => {
      expect(problemsOf((c) => (c.region = 'eu-west-1'))).toMatch(/- region is not a known setting/);
    });

    test('rejects unknown nested keys with their full path, one line each', () => {
      const message = problemsOf((c) => {
        c.databases[0].rpoHour = 12;
        c.databases[0].drill = { rto: 30 };
        c.retention = { hourlyDays: 1 };
      });
      expect(message).toMatch(/- databases\[0\]\.rpoHour is not a known setting/);
      expect(message).toMatch(/- databases\[0\]\.drill\.rto is not a known setting/);
      expect(message).toMatch(/- retention\.hourlyDays is not a known setting/);
    });
  });

  describe('on-call and key admins', () => {
    test('rejects a malformed email and a plain-http endpoint', () => {
      const message = problemsOf(
        (c) => (c.onCall = { emails: ['oncall'], httpsEndpoints: ['http://example.com/hook'] }),
      );
      expect(message).toMatch(/onCall\.emails\[0\] "oncall" is not a valid email/);
      expect(message).toMatch(
        /onCall\.httpsEndpoints\[0\] "http:\/\/example.com\/hook" is not a valid https URL/,
      );
    });

    test('rejects a key admin that is not an IAM principal ARN', () => {
      expect(problemsOf((c) => (c.keyAdmins = ['arn:aws:s3:::bucket']))).toMatch(
        /keyAdmins\[0\] ".*" must match/,
      );
    });

    test('accepts role, user, root and wildcard admin ARNs', () => {
      const keyAdmins = [
        'arn:aws:iam::123456789012:role/BreakGlass',
        'arn:aws:iam::123456789012:user/alice',
        'arn:aws:iam::123456789012:root',
        'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*',
      ];
      expect(parseConfig({ ...minimal(), keyAdmins }).keyAdmins).toEqual(keyAdmins);
    });
  });
});

describe('formatConfigPath', () => {
  test('renders array indexes in brackets and odd keys quoted', () => {
    expect(formatConfigPath(['databases', 1, 'id'])).toBe('databases[1].id');
    expect(formatConfigPath(['a-b'])).toBe('["a-b"]');
    expect(formatConfigPath([])).toBe('(config)');
  });
});

describe('loadConfig', () => {
  const file = (contents: string): string => {
    const path = join(mkdtempSync(join(tmpdir(), 'restorable-config-')), 'config.json');
    writeFileSync(path, contents);
    return path;
  };

  test('reads the "restorable" context object by default', () => {
    const app = new App({ context: { restorable: minimal() } });
    expect(loadConfig(app).databases[0].id).toBe('app');
    expect(loadConfig(app.node).account).toBe('123456789012');
  });

  test('accepts the context given as a JSON string (-c restorable=...)', () => {
    const app = new App({ context: { restorable: JSON.stringify(minimal()) } });
    expect(loadConfig(app).databases[0].id).toBe('app');
  });

  test('reads the file named by restorable:config in preference to the inline context', () => {
    const fromFile = { ...minimal(), databases: [{ id: 'from-file', secretArn: SECRET }] };
    const app = new App({
      context: { restorable: minimal(), 'restorable:config': file(JSON.stringify(fromFile)) },
    });
    expect(loadConfig(app).databases[0].id).toBe('from-file');
  });

  test('names the file in the error when the file config is invalid', () => {
    const path = file(JSON.stringify({ ...minimal(), account: 'x' }));
    const app = new App({ context: { 'restorable:config': path } });
    expect(() => loadConfig(app)).toThrow(
      new RegExp(`Invalid Restorable config \\(${path}\\)[\\s\\S]*account "x" must match`),
    );
  });

  test('reports a file that is not JSON', () => {
    const app = new App({ context: { 'restorable:config': file('{ account: ') } });
    expect(() => loadConfig(app)).toThrow(/is not valid JSON/);
  });

  test('reports a file that cannot be read', () => {
    const app = new App({
      context: { 'restorable:config': join(tmpdir(), 'restorable-missing', 'nope.json') },
    });
    expect(() => loadConfig(app)).toThrow(/cannot be read/);
  });

  test('says how to provide a config when there is none', () => {
    expect(() => loadConfig(new App())).toThrow(
      /is missing: set the "restorable" context in cdk.json or pass -c restorable:config=/,
    );
  });
});

describe('retentionDaysOf', () => {
  test('maps the config tiers onto the lambda/core RetentionDays, equal to its defaults by default', () => {
    expect(retentionDaysOf(parseConfig(minimal()))).toEqual({
      daily: 30,
      weekly: 90,
      monthly: 365,
      yearly: 2555,
    });
    const custom = parseConfig({
      ...minimal(),
      retention: { dailyDays: 7, weeklyDays: 60, monthlyDays: 180, yearlyDays: 730 },
    });
    expect(retentionDaysOf(custom)).toEqual({ daily: 7, weekly: 60, monthly: 180, yearly: 730 });
  });
});

describe('config.schema.json', () => {
  test('is up to date with the zod schema (regenerate with npm run schema)', () => {
    const committed: unknown = JSON.parse(
      readFileSync(join(__dirname, '..', '..', 'config.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(configJsonSchema());
  });

  test('requires the core fields and forbids unknown keys', () => {
    const schema = configJsonSchema() as { required: string[]; additionalProperties: boolean };
    // databases[] may be empty when `selection` finds them by tag (a cross-field rule, not the JSON Schema).
    expect(schema.required).toEqual(['account', 'primaryRegion', 'replicaRegion']);
    expect(schema.additionalProperties).toBe(false);
  });
});
