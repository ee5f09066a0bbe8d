/**
 * Parsing a connection URL from the command line and finding its password. URLs may carry a
 * password: it is taken out of the URL at once, kept only in memory, handed to PostgreSQL tools
 * through a 0600 PGPASSFILE by the core, and scrubbed from anything we print. A password in PGPASSWORD or ~/.pgpass is preferred to one
 * typed on the command line (which shell history and `ps` can see).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConnectionUrl, SSL_MODES, type DbConnection, type SslMode } from '../../lambda/core/secrets';

export interface CliConnection extends DbConnection {
  readonly sslMode: SslMode;
}

/**
 * Where certificates are checked against when no `--ca-bundle` is given: PGSSLROOTCERT (as libpq),
 * RESTORABLE_CA_BUNDLE, the RDS bundle of our image, then the system's CA store (Debian/Ubuntu,
 * RHEL/Amazon Linux, Alpine, macOS Homebrew paths). A file is used rather than Node's built-in
 * roots so that pg_restore (libpq before 16 has no `sslrootcert=system`) checks the same CAs.
 * @see https://www.postgresql.org/docs/current/libpq-ssl.html
 */
export function defaultCaBundle(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env.PGSSLROOTCERT && env.PGSSLROOTCERT !== 'system' ? env.PGSSLROOTCERT : undefined,
    env.RESTORABLE_CA_BUNDLE,
    '/opt/rds-ca/global-bundle.pem',
    '/etc/ssl/certs/ca-certificates.crt',
    '/etc/pki/tls/certs/ca-bundle.crt',
    '/etc/ssl/cert.pem',
    '/opt/homebrew/etc/ca-certificates/cert.pem',
  ];
  // An explicitly named file is returned even when missing, so the error names it.
  if (candidates[0] || candidates[1]) return candidates[0] ?? candidates[1];
  return candidates.slice(2).find((f) => f && fs.existsSync(f));
}

/** Where a warning goes (stderr by default; tests pass their own). */
export type Warn = (message: string) => void;
const stderrWarn: Warn = (message) => process.stderr.write(`warning: ${message}\n`);

/**
 * Parses `postgres://user[:password]@host[:port]/db[?sslmode=...]` the way libpq fills a
 * connection in: what the URL leaves out (or the whole URL, when none is given) comes from PGHOST,
 * PGPORT, PGUSER and PGDATABASE, then libpq's defaults (localhost, 5432, the OS user, a database
 * named like the user). The sslmode is the URL's, then PGSSLMODE, then `defaultSslMode`. Without a
 * password in the URL it comes from PGPASSWORD, then PGPASSFILE / ~/.pgpass, as libpq would find it.
 * @see https://www.postgresql.org/docs/current/libpq-envars.html
 */
export function connectionFromUrl(
  url: string | undefined,
  defaultSslMode: SslMode,
  env: NodeJS.ProcessEnv = process.env,
  warn: Warn = stderrWarn,
): CliConnection {
  const parsed = parseConnectionUrl(withLibpqDefaults(url, env));
  const password =
    parsed.password ||
    env.PGPASSWORD ||
    passwordFromPgpass(parsed.host, parsed.port, parsed.database, parsed.user, env, warn) ||
    '';
  const envSslMode =
    env.PGSSLMODE && (SSL_MODES as readonly string[]).includes(env.PGSSLMODE)
      ? (env.PGSSLMODE as SslMode)
      : undefined;
  if (env.PGSSLMODE && !envSslMode) {
    // libpq's prefer/allow would silently fall back to plaintext: we never do.
    warn(`PGSSLMODE=${env.PGSSLMODE} is not one of ${SSL_MODES.join(', ')}; using ${defaultSslMode}`);
  }
  return { ...parsed, password, sslMode: parsed.sslMode ?? envSslMode ?? defaultSslMode };
}

/** The URL with host, port, user and database filled from the environment where it has none. */
function withLibpqDefaults(url: string | undefined, env: NodeJS.ProcessEnv): string {
  const u = new URL(url ?? 'postgres://');
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return url!; // parseConnectionUrl says why
  let user = '';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): PGUSER or the URL must say
  }
  if (!u.hostname) u.hostname = env.PGHOST && !env.PGHOST.startsWith('/') ? env.PGHOST : 'localhost';
  if (!u.port && env.PGPORT) u.port = env.PGPORT;
  if (!u.username && (env.PGUSER || user)) u.username = encodeURIComponent(env.PGUSER || user);
  if (u.pathname === '' || u.pathname === '/') {
    u.pathname = `/${encodeURIComponent(env.PGDATABASE || decodeURIComponent(u.username))}`;
  }
  return u.toString();
}

/** Looks the password up in PGPASSFILE or ~/.pgpass the way libpq does (first match wins). */
export function passwordFromPgpass(
  host: string,
  port: number,
  database: string,
  user: string,
  env: NodeJS.ProcessEnv = process.env,
  warn: Warn = stderrWarn,
): string | undefined {
  const file = env.PGPASSFILE ?? path.join(os.homedir(), '.pgpass');
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return undefined;
    // libpq ignores a password file others can read, with this warning; so do we.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      warn(
        `password file "${file}" has group or world access; permissions should be u=rw (0600) or less (ignored)`,
      );
      return undefined;
    }
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const fields: string[] = [];
    let current = '';
    for (let i = 0; i < line.length; i++) {
      if (line[i] === '\\' && i + 1 < line.length) current += line[++i];
      else if (line[i] === ':' && fields.length < 4) {
        fields.push(current);
        current = '';
      } else current += line[i];
    }
    fields.push(current);
    if (fields.length !== 5) continue;
    const [h, p, d, u, pw] = fields;
    const match = (pattern: string, value: string) => pattern === '*' || pattern === value;
    if (match(h, host) && match(p, String(port)) && match(d, database) && match(u, user)) return pw;
  }
  return undefined;
}
