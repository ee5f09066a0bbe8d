/**
 * Reading handler configuration from the environment: a missing or malformed variable fails the
 * invocation at once with the variable's name, instead of surfacing later as an odd error.
 */
// @ts-nocheck

import type { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

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

/** The variable's value; throws naming it when unset or empty. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`environment variable ${name} is required but not set`);
  }
  return value;
}

/** The variable's value, or undefined when unset or empty. */
export function optionalEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Parses a JSON variable with a zod schema; `fallback` when unset (required when no fallback). */
export function jsonEnv<T>(
  name: string,
  schema: z.ZodType<T>,
  options: { fallback?: T; env?: NodeJS.ProcessEnv } = {},
): T {
  const raw = 'fallback' in options ? optionalEnv(name, options.env) : requireEnv(name, options.env);
  if (raw === undefined) return options.fallback as T;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(`environment variable ${name} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`);
    throw new ConfigError(`environment variable ${name} is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** A positive number from the environment, or the fallback. */
export function numberEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new ConfigError(`environment variable ${name} must be a non-negative number`);
  return n;
}

/** A colon-separated directory list (like PATH), or undefined when unset. */
export function pathListEnv(name: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const raw = optionalEnv(name, env);
  return raw === undefined ? undefined : raw.split(':').filter(Boolean);
}
