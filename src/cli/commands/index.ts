/**
 * The command registry: every `restorable` subcommand, in the order `--help` lists them.
 *
 * Adding a command is one new file and one line here:
 * 1. `commands/<name>.ts` exports `register(program, cli)` (a `RegisterCommand`, command.ts) that
 *    adds the command, its flags (`storeOptions()` from ../store for the shared bucket flags) and
 *    its action, `runs(cli, fn)`, where `fn(options, io)` resolves to the exit code and throws
 *    `UsageError` / `Failure` / `Interrupted` (../errors) for exit codes 2 / 1 / 130.
 * 2. Import it below and add it to COMMANDS.
 * Keep the module light at load time: lambda/core, pg and the AWS SDK come through `core()`
 * (../load-core), so `--help` stays fast. A command that can stop part-way on Ctrl-C takes its
 * signal from `interruptible()` (../cleanup).
 */
import * as backup from './backup';
import type { RegisterCommand } from './command';
import * as cost from './cost';
import * as demo from './demo';
import * as drill from './drill';
import * as list from './list';
import * as report from './report';
import * as restore from './restore';
import * as status from './status';
import * as thaw from './thaw';
import * as verify from './verify';

export const COMMANDS: readonly RegisterCommand[] = [
  list.register,
  verify.register,
  backup.register,
  restore.register,
  thaw.register,
  drill.register,
  report.register,
  status.register,
  cost.register,
  demo.register,
];
