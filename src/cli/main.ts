/**
 * `restorable`: the operator CLI. The same core code the Lambdas run, pointed at AWS or at any
 * S3-compatible server through the standard AWS environment (`AWS_ENDPOINT_URL_S3`, `AWS_REGION`,
 * credentials).
 *
 * This file owns the program around the commands: building it from the registry
 * (commands/index.ts), Ctrl-C, and turning an error into one scrubbed line and an exit code
 * (errors.ts lists the codes). Each command lives in its own file under commands/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { stopAllLocalClustersSync } from '../../lambda/core/local-cluster';
import { endInterruptible, requestStop, runInterruptHandlers } from './cleanup';
import { COMMANDS } from './commands';
import { errorMessage, exitCodeOf, scrub } from './errors';
import { defaultIo, type Io } from './output';

export type { Io } from './output';

export function buildProgram(io: Io, exit: (code: number) => void): Command {
  const program = new Command('restorable')
    .description('PostgreSQL backups you have proven you can restore: list, verify, back up, restore, drill.')
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      // Commander's "error: unknown option '--x'" becomes the same single line as every other error.
      outputError: (s, write) =>
        write(`restorable: error: ${scrub(s.trim().replace(/^error: /, ''))} (see --help)\n`),
    })
    .exitOverride();
  for (const register of COMMANDS) register(program, { io, exit });
  return program;
}

function packageVersion(): string {
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'unknown';
  }
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let code = 0;
  const interrupted = (signal: NodeJS.Signals) => {
    if (requestStop()) {
      // First Ctrl-C during a backup, restore or drill: let it stop and clean up after itself.
      io.err(`\nrestorable: ${signal}: stopping (again to quit at once)`);
      return;
    }
    io.err(`\nrestorable: ${signal}: cleaning up`);
    stopAllLocalClustersSync();
    runInterruptHandlers();
    process.exit(130);
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; bad flags are usage errors.
      return e.exitCode === 0 ? 0 : 2;
    }
    io.err(`restorable: error: ${scrub(errorMessage(e))}`);
    return exitCodeOf(e);
  } finally {
    endInterruptible();
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}
