/**
 * The database a command connects to: `--url` / `--target-url` with `--sslmode`, its password
 * remembered for scrubbing, and one probe connection before any work. (Parsing the URL and finding
 * the password in PGPASSWORD or ~/.pgpass is pgpass.ts, loaded with the core.)
 */
import type { SslMode } from '../../lambda/core/secrets';
import { Failure, rememberSecret, UsageError } from './errors';
import { core } from './load-core';
import type { CliConnection } from './pgpass';

export type { CliConnection } from './pgpass';

/** libpq sslmodes, for help text (parsing checks against the core's SSL_MODES). */
export const SSL_MODE_NAMES = 'disable, require, verify-ca, verify-full';

export function parseSslMode(value: string): SslMode {
  if ((core().SSL_MODES as readonly string[]).includes(value)) return value as SslMode;
  throw new UsageError(`--sslmode must be one of ${SSL_MODE_NAMES} (got ${value})`);
}

/**
 * The connection a URL flag names, or, without one, the libpq environment (PGHOST, PGPORT,
 * PGUSER, PGDATABASE; pgpass.ts). An explicit `--sslmode` (given as `sslMode`) wins, then the
 * URL's sslmode, then PGSSLMODE, then verify-full (never a silent downgrade). The CA bundle is
 * `--ca-bundle`, else PGSSLROOTCERT, else the system store (pgpass.ts defaultCaBundle).
 */
export function targetConnection(
  flag: string,
  url: string | undefined,
  sslMode: SslMode | undefined,
  caBundle?: string,
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): CliConnection & { readonly caBundlePath?: string } {
  let conn: CliConnection;
  try {
    conn = core().connectionFromUrl(url, 'verify-full', process.env, warn);
  } catch (e) {
    // The core's URL errors never echo the URL (it may hold a password).
    throw new UsageError(`${url === undefined ? 'PGHOST/PGUSER/PGDATABASE' : flag}: ${(e as Error).message}`);
  }
  rememberSecret(conn.password);
  const caBundlePath = caBundle ?? core().defaultCaBundle();
  return { ...conn, ...(sslMode ? { sslMode } : {}), ...(caBundlePath ? { caBundlePath } : {}) };
}

/**
 * Connects once before any work, so an unreachable database, a wrong password or a TLS problem is
 * one clear line naming the database (without its password) rather than a bare socket error from
 * deep inside a restore.
 */
export async function probeConnection(
  conn: CliConnection,
  caBundlePath: string | undefined,
  what: string,
): Promise<void> {
  const { Client, describeTarget, pgClientConfig } = core();
  const where = describeTarget(conn);
  caBundlePath ??= (conn as { caBundlePath?: string }).caBundlePath;
  let client: InstanceType<typeof Client>;
  try {
    client = new Client(
      pgClientConfig(conn, { sslMode: conn.sslMode, caBundlePath }, { connectionTimeoutMillis: 15_000 }),
    );
  } catch (e) {
    throw new Failure(
      `${what} ${where}: ${(e as Error).message} (pass --ca-bundle <file> or set PGSSLROOTCERT; ` +
        'or --sslmode / PGSSLMODE for a server without TLS)',
    );
  }
  try {
    await client.connect();
  } catch (e) {
    const message = (e as Error).message;
    // node-postgres' words when the server asks for a password and none was given.
    const hint = /client password must be a string|no password/i.test(message)
      ? 'the server wants a password and none was given: set PGPASSWORD, add it to ~/.pgpass, or put it in the URL'
      : message;
    throw new Failure(`cannot connect to ${what} ${where}: ${hint}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
