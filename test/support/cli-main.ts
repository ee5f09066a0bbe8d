/**
 * `restorable <args>` inside the test's own process: main() with its output captured. For tests
 * that mock the SDK in-process or need no child process; cli.test.ts runs the real binary instead.
 */
import { main } from '../../src/cli/main';

export interface MainRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runMain(...args: string[]): Promise<MainRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'restorable', ...args], {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
