/**
 * `restorable demo`: registers the whole-cycle demo; the demo itself (seeded cluster, local S3,
 * backup, verify, drill) is ../demo.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { runs, type CliContext } from './command';

export function register(program: Command, cli: CliContext): void {
  program
    .command('demo')
    .description('the whole cycle on this machine: seeded PostgreSQL, local S3, backup, verify, drill')
    .option('--small', 'a small dataset (seconds instead of about a minute)')
    .option('--keep', 'leave the cluster and S3 server running until Ctrl-C')
    .action(
      runs(cli, (o: { small?: boolean; keep?: boolean }, io) => {
        // Loaded on use: the demo's S3 server is a large part of the CLI's start-up time. require,
        // not import(): under tsx's CommonJS hook a dynamic import() of a .ts file bypasses the hook.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { runDemo } = require('../demo') as typeof import('../demo');
        return runDemo(o, io);
      }),
    );
}
