import { Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { exampleConfig, newApp } from './cdk-support';
import { fleetApp, fleetConfig } from './fleet-support';

const NAG_FINDING = Match.stringLikeRegexp('AwsSolutions-.*|NIST.*');

/** Both stacks, as bin/app.ts builds them, with both nag packs applied. */
function nagged() {
  const app = newApp();
  // "orders" on the Fargate runner (directory layout, a drill restoring on Fargate), "analytics" on
  // Lambda: both runners are checked.
  const config = exampleConfig((c) =>
    Object.assign(c.databases[0], {
      runner: 'fargate',
      sizeHintGiB: 120,
      fargate: { cpu: 4096, ephemeralStorageGiB: 100, layout: 'directory', jobs: 4 },
    }),
  );
  const replica = new ReplicaStack(app, 'RestorableReplica', { config });
  const backup = new BackupStack(app, 'RestorableBackup', { config });
  backup.addStackDependency(replica);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  Aspects.of(app).add(new NIST80053R5Checks({ verbose: true }));
  return { app, replica, backup };
}

describe('cdk-nag', () => {
  test('finds no unsuppressed AwsSolutions or NIST 800-53 rev 5 errors in either stack', () => {
    const { replica, backup } = nagged();
    for (const stack of [replica, backup]) {
      expect(Annotations.fromStack(stack).findError('*', NAG_FINDING)).toEqual([]);
    }
  });

  test('finds no unsuppressed NIST 800-53 rev 5 warnings in either stack', () => {
    const { replica, backup } = nagged();
    for (const stack of [replica, backup]) {
      expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('NIST.*'))).toEqual([]);
    }
  });

  test('every suppression gives a specific reason', () => {
    const { app } = nagged();
    app.synth();
    const suppressions = app.node
      .findAll()
      .flatMap((c) => (c.node.metadata ?? []) as unknown[])
      .concat(
        app.node
          .findAll()
          .map(
            (c) =>
              (c as { cfnOptions?: { metadata?: { cdk_nag?: { rules_to_suppress?: unknown[] } } } })
                .cfnOptions,
          )
          .flatMap((o) => o?.metadata?.cdk_nag?.rules_to_suppress ?? []),
      ) as { reason?: string; id?: string }[];
    const nag = suppressions.filter((s) => typeof s.id === 'string' && /^(AwsSolutions|NIST)/.test(s.id));
    expect(nag.length).toBeGreaterThan(0);
    for (const suppression of nag) {
      expect(suppression.reason?.length ?? 0).toBeGreaterThan(40);
    }
  });

  test('still reports a plain bucket, so a clean result is not vacuous', () => {
    const stack = new Stack(newApp(), 'Plain', { env: { account: '123456789012', region: 'eu-west-1' } });
    new s3.Bucket(stack, 'Plain');
    Aspects.of(stack).add(new AwsSolutionsChecks());
    Aspects.of(stack).add(new NIST80053R5Checks());
    // Error annotations fail synthesis outright, which is what keeps `cdk synth` honest.
    expect(() => Annotations.fromStack(stack)).toThrow(
      /AwsSolutions-S1[\s\S]*NIST\.800\.53\.R5-S3BucketLoggingEnabled/,
    );
  });
});

describe('cdk-nag over the fleet shape', () => {
  test('finds no unsuppressed AwsSolutions or NIST 800-53 rev 5 errors or NIST warnings in the fleet and group stacks', () => {
    const { app, backup, groups } = fleetApp(fleetConfig(24));
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
    Aspects.of(app).add(new NIST80053R5Checks({ verbose: true }));
    for (const stack of [backup, ...groups]) {
      expect({
        stack: stack.stackName,
        errors: Annotations.fromStack(stack).findError('*', NAG_FINDING),
      }).toEqual({
        stack: stack.stackName,
        errors: [],
      });
      expect({
        stack: stack.stackName,
        warnings: Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('NIST.*')),
      }).toEqual({ stack: stack.stackName, warnings: [] });
    }
  });
});
