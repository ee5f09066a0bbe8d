import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { runnerWarnings } from '../../lib/database-runner';
import { exampleConfig, synthBackupStack } from './cdk-support';

describe('runner warnings at synth', () => {
  test('warn when the size hint makes Lambda unsafe, naming the database and the fix', () => {
    const { stack } = synthBackupStack(
      exampleConfig((c) => Object.assign(c.databases[0], { sizeHintGiB: 40 })),
    );
    Annotations.fromStack(stack).hasWarning(
      '/RestorableBackup/DatabaseOrders',
      Match.stringLikeRegexp(
        'databases "orders" \\(sizeHintGiB 40\\): Lambda is unsafe for this database: a zstd dump of 40 GiB may not finish.*' +
          'Set databases\\[\\]\\.runner to "fargate" for "orders"',
      ),
    );
    // The other database has no hint: no warning for it.
    Annotations.fromStack(stack).hasNoWarning('/RestorableBackup/DatabaseAnalytics', Match.anyValue());
  });

  test('say nothing for a small database on Lambda, or a large one on Fargate with storage for its drill', () => {
    const small = synthBackupStack(exampleConfig((c) => Object.assign(c.databases[0], { sizeHintGiB: 2 })));
    Annotations.fromStack(small.stack).hasNoWarning('/RestorableBackup/DatabaseOrders', Match.anyValue());
    const big = synthBackupStack(
      exampleConfig((c) =>
        Object.assign(c.databases[0], {
          sizeHintGiB: 100,
          runner: 'fargate',
          fargate: { cpu: 4096, ephemeralStorageGiB: 80 },
        }),
      ),
    );
    Annotations.fromStack(big.stack).hasNoWarning('/RestorableBackup/DatabaseOrders', Match.anyValue());
  });

  test('gzip dumps slower: a hint fine for zstd warns with gzip', () => {
    const base = exampleConfig().databases[0];
    const hint = { ...base, sizeHintGiB: 6, drill: { ...base.drill, enabled: false } };
    expect(runnerWarnings(hint)).toEqual([]);
    expect(runnerWarnings({ ...hint, compression: { kind: 'gzip' } })).toEqual([
      {
        id: 'restorable:lambdaUnsafe',
        message: expect.stringMatching(/gzip dump of 6 GiB may not finish in Lambda's 15 minutes/),
      },
    ]);
  });

  test("warn when a Fargate task's storage cannot hold the drill's archive, naming the setting", () => {
    const base = exampleConfig().databases[0];
    const db = {
      ...base,
      runner: 'fargate' as const,
      sizeHintGiB: 100,
      fargate: { cpu: 2048, memoryMiB: 4096, layout: 'stream' as const, timeoutHours: 12 },
    };
    expect(runnerWarnings(db)).toEqual([
      {
        id: 'restorable:fargateStorage',
        message:
          'databases "orders": the Fargate task has 20 GiB of storage but a drill\'s plain archive of a 100 GiB database ' +
          'needs about 65 GiB (65 % of the database). Set fargate.ephemeralStorageGiB to 65 or more.',
      },
    ]);
    expect(runnerWarnings({ ...db, sizeHintGiB: 400 })[0].message).toMatch(
      /past Fargate's 200 GiB: set fargate.ephemeralStorageGiB to 200/,
    );
    // Without drills a streamed dump writes nothing locally; a directory dump still does.
    const noDrill = { ...db, drill: { ...db.drill, enabled: false } };
    expect(runnerWarnings(noDrill)).toEqual([]);
    expect(
      runnerWarnings({ ...noDrill, fargate: { ...db.fargate, layout: 'directory' } })[0].message,
    ).toMatch(/the directory dump of a 100 GiB database needs about 65 GiB/);
  });
});
