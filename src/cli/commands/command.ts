/**
 * What a command module gets and gives: the contract between `commands/*.ts` and main.ts, and the
 * small flag parsers more than one command uses.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors';
import type { Io } from '../output';

/** What main() hands every command when it registers it. */
export interface CliContext {
  readonly io: Io;
  /** Records the exit code main() resolves to. */
  readonly exit: (code: number) => void;
}

/**
 * A command module's one export main.ts relies on: adds the command (name, description, flags,
 * action) to the program.
 */
export type RegisterCommand = (program: Command, cli: CliContext) => void;

/**
 * The action for a command whose work resolves to its exit code. Errors propagate to main(),
 * which prints them as one line and picks the exit code from their class (errors.ts).
 */
export function runs<T>(cli: CliContext, fn: (options: T, io: Io) => Promise<number>) {
  return async (options: T): Promise<void> => cli.exit(await fn(options, cli.io));
}

/** A commander argument parser for a flag that takes a positive integer. */
export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`${flag} must be a positive integer (got ${value})`);
    return n;
  };
}

/** A commander argument parser for a repeatable flag: every value, in order. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
