/**
 * The two inputs of a handler, checked before any work: its environment, parsed with the
 * handler's schema from lambda/core/handler-env.ts (the contract the constructs write against),
 * and its event. A bad one fails the invocation at once with every problem named, instead of
 * surfacing later as an odd error.
 */
import type { z } from 'zod';
import {
  ConfigError,
  handlerEnvNames,
  parseHandlerEnv,
  type HandlerEnv,
  type HandlerName,
} from '../core/handler-env';

export { ConfigError };

/** The invocation's event does not match the handler's contract. */
export class EventError extends Error {
  override readonly name = 'EventError';
}

/** Validates an invocation's event; throws an EventError listing every problem. */
export function parseEvent<T>(schema: z.ZodType<T>, event: unknown, what: string): T {
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`);
    throw new EventError(`invalid ${what} event: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The handler's environment, parsed on the first invocation and kept for the execution
 * environment (a Lambda's variables never change). The first call, not module load, so a bad
 * variable fails an invocation the handler can report (the dump's BackupFailure metric) rather
 * than the runtime's init. The raw values are compared on each call so an in-process caller that
 * does change them (the tests, a local runner) gets them parsed again.
 */
export function handlerEnv<H extends HandlerName>(handler: H): () => HandlerEnv<H> {
  const names = handlerEnvNames(handler);
  let cached: { raw: string; env: HandlerEnv<H> } | undefined;
  return () => {
    const raw = JSON.stringify(names.map((name) => process.env[name]));
    if (cached?.raw !== raw) cached = { raw, env: parseHandlerEnv(handler, process.env) };
    return cached.env;
  };
}
