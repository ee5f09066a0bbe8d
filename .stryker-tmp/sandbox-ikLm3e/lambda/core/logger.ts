/**
 * The logging surface core code needs. Powertools' Logger satisfies it, so do `console` and the
 * recording loggers in tests. Core code logs identifiers, sizes and durations, never credentials.
 */
// @ts-nocheck

export interface CoreLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** Logs nothing; the default when no logger is injected. */
export const silentLogger: CoreLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
