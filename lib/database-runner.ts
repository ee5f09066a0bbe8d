/**
 * Where a database's work runs, from its config entry: the Fargate options its workflow and drill
 * get with `runner: fargate`, and synth warnings about where a database runs: its size hint against the runner's limits, with the
 * fix in the text. The limits and their projections are the runtime's own (runner-settings.ts), so
 * the warning and the runbook quote the same numbers. Warnings, not errors: a size hint is an
 * estimate, and the dump's own DEADLINE failure names the same fix if the estimate was wrong.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { fargateStorageUnsafe, lambdaUnsafe } from '../lambda/core/runner-settings';
import type { DatabaseConfig } from './config';
import type { FargateWorkflowOptions } from './constructs/fargate-runner';

/** The Fargate options of a `runner: fargate` database (undefined on Lambda). */
export function fargateOptionsOf(
  database: Pick<DatabaseConfig, 'runner' | 'fargate'>,
): FargateWorkflowOptions | undefined {
  if (database.runner !== 'fargate') return undefined;
  const f = database.fargate;
  if (!f) return {};
  return {
    size: { cpu: f.cpu, memoryMiB: f.memoryMiB, ephemeralStorageGiB: f.ephemeralStorageGiB },
    layout: f.layout,
    jobs: f.jobs,
    timeout: Duration.hours(f.timeoutHours),
  };
}

/** Warning ids (`cdk synth` prints them; `--acknowledge` takes them). */
export const RUNNER_WARNINGS = {
  lambdaUnsafe: 'restorable:lambdaUnsafe',
  fargateStorage: 'restorable:fargateStorage',
} as const;

/** The database fields the warnings read. */
export type RunnerWarningInput = Pick<
  DatabaseConfig,
  'id' | 'runner' | 'fargate' | 'sizeHintGiB' | 'compression' | 'drill'
>;

/** Each warning about `database`'s runner, as text (empty: none). */
export function runnerWarnings(database: RunnerWarningInput): { id: string; message: string }[] {
  const drills = database.drill.enabled;
  const out: { id: string; message: string }[] = [];
  if (database.runner === 'lambda') {
    const why = lambdaUnsafe(database.sizeHintGiB, database.compression?.kind ?? 'zstd', { drills });
    if (why) {
      out.push({
        id: RUNNER_WARNINGS.lambdaUnsafe,
        message: `databases "${database.id}" (sizeHintGiB ${database.sizeHintGiB}): ${why.replace(
          'Set runner: "fargate"',
          `Set databases[].runner to "fargate" for "${database.id}" (with its vpc and, if needed, fargate.ephemeralStorageGiB)`,
        )}`,
      });
    }
  } else {
    const why = fargateStorageUnsafe(database.sizeHintGiB, database.fargate, { drills });
    if (why) out.push({ id: RUNNER_WARNINGS.fargateStorage, message: `databases "${database.id}": ${why}` });
  }
  return out;
}

/** Adds `database`'s runner warnings to `scope` (the database's construct scope). */
export function warnAboutRunner(scope: IConstruct, database: RunnerWarningInput): void {
  for (const { id, message } of runnerWarnings(database)) Annotations.of(scope).addWarningV2(id, message);
}
