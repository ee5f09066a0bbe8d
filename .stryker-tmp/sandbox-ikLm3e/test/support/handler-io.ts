/**
 * What a handler test needs around an invocation: its environment variables, and everything it
 * prints (Powertools writes INFO logs and EMF metrics to stdout, WARN and ERROR to stderr).
 */
// @ts-nocheck


export interface CapturedOutput {
  /** Every chunk written to stdout or stderr since the capture started (clear with `length = 0`). */
  readonly lines: string[];
  /** The EMF metric documents among the lines. */
  emf(): Record<string, unknown>[];
  /** Puts stdout and stderr back. */
  restore(): void;
}

export function captureOutput(): CapturedOutput {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  return {
    lines,
    emf: () =>
      lines
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes('"_aws"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    restore: () => {
      out.mockRestore();
      err.mockRestore();
    },
  };
}

/**
 * Sets environment variables; the returned function gives each of them back the value it had
 * (or unsets it), including changes made to them in between.
 */
export function setEnv(vars: Record<string, string>): () => void {
  const before = Object.keys(vars).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of before) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
