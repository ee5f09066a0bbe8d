/**
 * Loads core.ts (lambda/core, pg and the AWS SDK) when a command first needs it, so `--help` and
 * command-line errors answer at once instead of after loading the SDK. Everything the commands
 * import statically stays light; anything heavy goes through `core()`.
 */

/**
 * require rather than import(): under tsx's CommonJS hook a dynamic import() of a .ts file
 * bypasses it.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const core = (): typeof import('./core') => require('./core');
