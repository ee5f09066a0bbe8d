/**
 * Shared by the CDK unit tests: apps carry the same feature flags as cdk.json (so tests see what
 * `cdk synth` produces), and the example config from cdk.json is the fixture every stack test
 * starts from.
 */
// @ts-nocheck

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_CONTEXT_KEY, parseConfig, type RestorableConfig } from '../../lib/config';
import { BackupStack } from '../../lib/stacks/backup-stack';

const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** cdk.json context without the Restorable config: the feature flags. */
export function featureFlags(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(cdkJson.context).filter(([key]) => key !== CONFIG_CONTEXT_KEY));
}

/** A fresh, mutable copy of the cdk.json example config, as written (before defaults). */
export function exampleConfigInput(): Record<string, unknown> & { databases: Record<string, unknown>[] } {
  return structuredClone(cdkJson.context[CONFIG_CONTEXT_KEY]) as Record<string, unknown> & {
    databases: Record<string, unknown>[];
  };
}

/** The cdk.json example config, validated, optionally changed first. */
export function exampleConfig(
  change?: (input: ReturnType<typeof exampleConfigInput>) => void,
): RestorableConfig {
  const input = exampleConfigInput();
  change?.(input);
  return parseConfig(input);
}

export function newApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { ...featureFlags(), ...context } });
}

/** A fresh stack in a fixed environment (account and region are never tokens in these tests). */
export function newStack(region = 'eu-west-1'): Stack {
  return new Stack(newApp(), 'TestStack', { env: { account: '123456789012', region } });
}

/** A BackupStack of `config` (the cdk.json example unless given) in its own app, and its template. */
export function synthBackupStack(config: RestorableConfig = exampleConfig()): {
  stack: BackupStack;
  template: Template;
} {
  const stack = new BackupStack(newApp(), 'RestorableBackup', { config });
  return { stack, template: Template.fromStack(stack) };
}
