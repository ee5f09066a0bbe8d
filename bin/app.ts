#!/usr/bin/env node
/**
 * The Restorable CDK app: reads the config, creates the replica-region stack, the
 * primary-region stack and (fleet shape) its runner group stacks, and runs the cdk-nag AWS Solutions and NIST 800-53 rev 5 packs over both.
 * Every stack carries an explicit account and region from the config, so `cdk synth` needs no
 * AWS credentials and does no lookups.
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { ConfigError, loadConfig } from '../lib/config';
import { BackupStack } from '../lib/stacks/backup-stack';
import { addFleetGroupStacks } from '../lib/stacks/fleet-group-stack';
import { ReplicaStack } from '../lib/stacks/replica-stack';

function main(): void {
  const app = new App();

  let config;
  try {
    config = loadConfig(app);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The message already lists every problem; a stack trace would only bury it.
    console.error(err.message);
    process.exit(1);
  }

  const replica = new ReplicaStack(app, 'RestorableReplica', { config });
  const backup = new BackupStack(app, 'RestorableBackup', { config });
  // S3 refuses a replication configuration whose destination bucket does not exist yet.
  backup.addStackDependency(replica, 'the replication destination bucket must exist first');
  // The fleet shape (fleet.shape "fleet"): runner groups per network, in stacks of their own.
  addFleetGroupStacks(app, backup);

  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  Aspects.of(app).add(new NIST80053R5Checks({ verbose: true }));

  app.synth();
}

main();
