/**
 * How the CLI fails: the error classes that pick the exit code, and the scrubbing every message
 * shown to the operator goes through.
 *
 * Exit codes: 0 success; 1 the operation failed (a verify found a problem, a restore was refused,
 * a drill FAILED, an error); 2 the command line was wrong; 130 interrupted (Ctrl-C). Errors are one
 * line on stderr, `restorable: error: ...`, scrubbed of passwords.
 */
import { core } from './load-core';

/** The command line was wrong: exit code 2. */
export class UsageError extends Error {}
/** The operation failed for a reason the operator can act on: exit code 1. */
export class Failure extends Error {}
/** The operator pressed Ctrl-C and the command stopped cleanly: exit code 130. */
export class Interrupted extends Error {}

/** Messages shown to the operator are scrubbed of every secret we hold. */
const secrets: string[] = [];

/** A secret (a password taken from a URL) to scrub from everything printed from now on. */
export function rememberSecret(secret: string): void {
  if (secret) secrets.push(secret);
}

/**
 * Every secret we hold, and the password of anything that looks like a URL (a mistyped flag can
 * echo its value in commander's error), replaced by `***`.
 */
export function scrub(text: string): string {
  const redacted = secrets.length > 0 ? core().redact(text, secrets) : text;
  return redacted.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)(?!password@)[^@\s]*@/gi, '$1***@');
}

/** One line: the message, with the core's error code (or reason) appended when it adds something. */
export function errorMessage(e: unknown): string {
  const err = e as Error & { reason?: string; code?: string };
  const prefix =
    err?.reason ?? (typeof err?.code === 'string' && /^[A-Z_]+$/.test(err.code) ? err.code : undefined);
  const text = (err?.message ?? String(e)).split('\n')[0];
  return prefix && !text.includes(prefix) ? `${text} [${prefix}]` : text;
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(e: unknown): number {
  return e instanceof UsageError ? 2 : e instanceof Interrupted ? 130 : 1;
}
