/**
 * `restorable demo`: registers the whole-cycle demo; the demo itself (seeded cluster, local S3,
 * backup, verify, drill) is ../demo.ts, and with `--fleet <n>` a small fleet, ../demo-fleet.ts,
 * each loaded only when the command runs.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors';
import { positiveInt, runs, type CliContext } from './command';

interface DemoOptions {
  small?: boolean;
  keep?: boolean;
  fleet?: number;
  maxConcurrentBackups?: number;
  maxConcurrentDrills?: number;
}

export function register(program: Command, cli: CliContext): void {
  program
    .command('demo')
    .description('the whole cycle on this machine: seeded PostgreSQL, local S3, backup, verify, drill')
    .option('--small', 'a small dataset (seconds instead of about a minute)')
    .option('--keep', 'leave the cluster and S3 server running until Ctrl-C')
    .option(
      '--fleet <n>',
      'a fleet of n databases through backup, verify and drill, bounded',
      positiveInt('--fleet'),
    )
    .option(
      '--max-concurrent-backups <n>',
      'with --fleet: backups at once (default 2)',
      positiveInt('--max-concurrent-backups'),
    )
    .option(
      '--max-concurrent-drills <n>',
      'with --fleet: drills at once (default 1)',
      positiveInt('--max-concurrent-drills'),
    )
    .action(
      runs(cli, async (o: DemoOptions, io) => {
        // Loaded on use: the demo's S3 server is a large part of the CLI's start-up time. require,
        // not import(): under tsx's CommonJS hook a dynamic import() of a .ts file bypasses the hook.
        if (o.fleet === undefined) {
          if (o.maxConcurrentBackups !== undefined || o.maxConcurrentDrills !== undefined) {
            throw new UsageError('--max-concurrent-backups and --max-concurrent-drills need --fleet <n>');
          }
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const { runDemo } = require('../demo') as typeof import('../demo');
          return runDemo(o, io);
        }
        if (o.keep) throw new UsageError('--keep is not available with --fleet');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { runFleetDemo } = require('../demo-fleet') as typeof import('../demo-fleet');
        const result = await runFleetDemo(
          {
            databases: o.fleet,
            small: o.small,
            maxConcurrentBackups: o.maxConcurrentBackups,
            maxConcurrentDrills: o.maxConcurrentDrills,
          },
          io,
        );
        return result.ok ? 0 : 1;
      }),
    );
}
