/**
 * Database credentials and TLS: where they come from (a Secrets Manager secret in the standard RDS
 * shape, or a plain connection / URL from the CLI and tests) and the only ways they leave this
 * process: the `pg` client config (in memory) and a 0600 PGPASSFILE in a private temporary
 * directory for the PostgreSQL client tools.
 *
 * The password never goes into argv, a child's environment, a log line, an error message, an
 * event or a manifest. Errors raised while parsing a secret or URL are rewritten so they cannot
 * echo their input (V8's JSON.parse and WHATWG URL errors do).
 */
// @ts-nocheck

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ClientConfig } from 'pg';

/** What `pg` and libpq need to reach a database. Structurally the same as local-cluster's ConnectionParams. */
export interface DbConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/**
 * libpq `sslmode`s we accept. `verify-full` (the default everywhere) checks the chain against the
 * CA bundle and the host name; `disable` exists for local clusters and must be asked for.
 * @see https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION
 */
export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
export const SSL_MODES: readonly SslMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** Where the runner image keeps the RDS global CA bundle. */
export const DEFAULT_CA_BUNDLE = '/opt/rds-ca/global-bundle.pem';

export interface TlsOptions {
  /** @default 'verify-full' */
  readonly sslMode?: SslMode;
  /**
   * PEM bundle of trusted CAs for `verify-ca` / `verify-full`.
   * @default - `RESTORABLE_CA_BUNDLE`, else /opt/rds-ca/global-bundle.pem
   */
  readonly caBundlePath?: string;
}

/** A Secrets Manager secret in the RDS shape; explicit fields fill what the secret lacks. */
export interface SecretConnectionSource {
  readonly secretArn: string;
  /** @default - a client for the current region */
  readonly client?: SecretsManagerClient;
  /** Used when the secret has no `host` (RDS-managed master secrets hold only username/password). */
  readonly host?: string;
  /** @default - the secret's port, else 5432 */
  readonly port?: number;
  /** @default - the secret's dbname, else `postgres` */
  readonly database?: string;
}

export interface UrlConnectionSource {
  /** `postgres://user:password@host:port/db` (the CLI's form). */
  readonly url: string;
}

export type ConnectionSource = SecretConnectionSource | UrlConnectionSource | DbConnection;

/** A configuration problem whose message is safe to show (it never contains secret material). */
export class ConnectionConfigError extends Error {
  override readonly name = 'ConnectionConfigError';
}

function asPort(value: unknown, what: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ConnectionConfigError(`${what} must be a TCP port (1-65535)`);
  }
  return n;
}

/**
 * Parses the standard RDS secret JSON (`username`, `password`, `host`, `port`, `dbname`, `engine`).
 * Missing host/port/dbname come from `defaults`.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html
 */
export function parseRdsSecret(
  secretString: string,
  defaults: { host?: string; port?: number; database?: string } = {},
): DbConnection {
  let json: unknown;
  try {
    json = JSON.parse(secretString);
  } catch {
    // Deliberately not chained: V8's message quotes the secret text.
    throw new ConnectionConfigError('database secret is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConnectionConfigError('database secret must be a JSON object');
  }
  const s = json as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof s[k] === 'string' && s[k] !== '' ? s[k] : undefined);
  if (s.engine !== undefined && !/postgres/i.test(String(s.engine))) {
    throw new ConnectionConfigError(`database secret engine "${String(s.engine)}" is not PostgreSQL`);
  }
  const user = str('username');
  const password = typeof s.password === 'string' ? s.password : undefined;
  if (!user) throw new ConnectionConfigError('database secret has no "username"');
  if (password === undefined) throw new ConnectionConfigError('database secret has no "password"');
  const host = defaults.host ?? str('host');
  if (!host) throw new ConnectionConfigError('database secret has no "host" and none was configured');
  return {
    host,
    port: defaults.port ?? (s.port === undefined ? 5432 : asPort(s.port, 'database secret "port"')),
    user,
    password,
    database: defaults.database ?? str('dbname') ?? 'postgres',
  };
}

/** Parses a `postgres://` / `postgresql://` URL; errors never echo the URL. */
export function parseConnectionUrl(url: string): DbConnection & { sslMode?: SslMode } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConnectionConfigError(
      'connection URL is not a valid URL (expected postgres://user:password@host:port/db)',
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ConnectionConfigError(
      `connection URL scheme must be postgres:// or postgresql://, got ${u.protocol}//`,
    );
  }
  if (!u.hostname) throw new ConnectionConfigError('connection URL has no host');
  if (!u.username) throw new ConnectionConfigError('connection URL has no user name');
  const sslmode = u.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new ConnectionConfigError(
      `connection URL sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')}`,
    );
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? asPort(u.port, 'connection URL port') : 5432,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
    ...(sslmode ? { sslMode: sslmode as SslMode } : {}),
  };
}

const isSecretSource = (s: ConnectionSource): s is SecretConnectionSource => 'secretArn' in s;
const isUrlSource = (s: ConnectionSource): s is UrlConnectionSource => 'url' in s;

let defaultSecretsClient: SecretsManagerClient | undefined;

/** Resolves any connection source to concrete parameters (fetching the secret when needed). */
export async function resolveConnection(source: ConnectionSource): Promise<DbConnection> {
  if (isUrlSource(source)) {
    const { host, port, user, password, database } = parseConnectionUrl(source.url);
    return { host, port, user, password, database };
  }
  if (!isSecretSource(source)) return source;
  const client = source.client ?? (defaultSecretsClient ??= new SecretsManagerClient({}));
  let secretString: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: source.secretArn }));
    secretString = out.SecretString;
  } catch (e) {
    // SDK errors name the secret id and the failure, never the value.
    throw new ConnectionConfigError(
      `could not read database secret ${source.secretArn}: ${(e as Error).name}: ${(e as Error).message}`,
    );
  }
  if (secretString === undefined) {
    throw new ConnectionConfigError(`database secret ${source.secretArn} has no SecretString`);
  }
  return parseRdsSecret(secretString, { host: source.host, port: source.port, database: source.database });
}

/** Escapes one `.pgpass` field: backslash and colon are backslash-escaped. */
export function escapePgpass(value: string): string {
  if (/[\r\n]/.test(value))
    throw new ConnectionConfigError('credentials containing line breaks cannot be passed to libpq');
  return escapePgpassField(value);
}

/** The escaping alone; `redact` uses it on any text without the line-break check. */
const escapePgpassField = (value: string): string => value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/**
 * The `.pgpass` line for a connection. The database field is `*` so pg_dumpall (which connects to
 * its own choice of database) matches too; the file only ever holds this one line.
 * @see https://www.postgresql.org/docs/current/libpq-pgpass.html
 */
export function pgpassLine(conn: DbConnection): string {
  return `${escapePgpass(conn.host)}:${conn.port}:*:${escapePgpass(conn.user)}:${escapePgpass(conn.password)}\n`;
}

/**
 * Runs `fn` with a PGPASSFILE for `conn`: a 0600 file in a fresh 0700 directory under the temp dir,
 * removed afterwards whether `fn` succeeds or throws.
 */
export async function withPgPassFile<T>(conn: DbConnection, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-pgpass-'));
  try {
    fs.chmodSync(dir, 0o700);
    const file = path.join(dir, `pgpass-${randomBytes(6).toString('hex')}`);
    // 'wx' fails rather than follow anything already there; mode applies at creation.
    fs.writeFileSync(file, pgpassLine(conn), { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function resolveCaBundle(tls: TlsOptions): string {
  return tls.caBundlePath ?? process.env.RESTORABLE_CA_BUNDLE ?? DEFAULT_CA_BUNDLE;
}

function readCaBundle(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConnectionConfigError(
      `cannot read CA bundle ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
}

/**
 * `pg` (node-postgres) config with the same TLS semantics as libpq's sslmode:
 * verify-full checks the chain and the host name, verify-ca only the chain, require encrypts
 * without verifying, disable is plaintext. Never downgrades.
 */
export function pgClientConfig(
  conn: DbConnection,
  tls: TlsOptions = {},
  extra: ClientConfig = {},
): ClientConfig {
  const mode = tls.sslMode ?? 'verify-full';
  let ssl: ClientConfig['ssl'];
  switch (mode) {
    case 'disable':
      ssl = false;
      break;
    case 'require':
      ssl = { rejectUnauthorized: false };
      break;
    case 'verify-ca':
      ssl = {
        ca: readCaBundle(resolveCaBundle(tls)),
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      };
      break;
    case 'verify-full':
      ssl = {
        ca: readCaBundle(resolveCaBundle(tls)),
        rejectUnauthorized: true,
        // SNI must not carry an IP address (RFC 6066), and node-postgres then falls back to
        // checking the certificate against "localhost"; check IP hosts against the IP SANs.
        ...(isIP(conn.host)
          ? {
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                checkServerIdentity(conn.host, cert),
            }
          : { servername: conn.host }),
      };
      break;
  }
  return {
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    ssl,
    application_name: 'restorable',
    connectionTimeoutMillis: 30_000,
    ...extra,
  };
}

/**
 * The complete environment for a PostgreSQL client tool: connection parameters and TLS only, no
 * password (PGPASSFILE points at the file) and nothing inherited from this process, so AWS
 * credentials in the Lambda environment are not handed to pg_dump either.
 * @see https://www.postgresql.org/docs/current/libpq-envars.html
 */
export function libpqEnv(conn: DbConnection, tls: TlsOptions, passFile: string): Record<string, string> {
  const mode = tls.sslMode ?? 'verify-full';
  const env: Record<string, string> = {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: conn.database,
    PGPASSFILE: passFile,
    PGSSLMODE: mode,
    PGAPPNAME: 'restorable',
    PGCONNECT_TIMEOUT: '30',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
  if (mode === 'verify-ca' || mode === 'verify-full') {
    const ca = resolveCaBundle(tls);
    readCaBundle(ca); // fail here with a clear message rather than inside libpq
    env.PGSSLROOTCERT = ca;
  }
  return env;
}

/** Replaces every occurrence of the given secrets (and their URL-encoded and .pgpass-escaped forms) in `text`. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 3) continue;
    for (const form of new Set([s, encodeURIComponent(s), escapePgpassField(s)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}
