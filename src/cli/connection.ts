/**
 * Connection settings from the command line. URLs may carry a password: it is taken out of the URL
 * at once, kept only in memory, handed to PostgreSQL tools through a 0600 PGPASSFILE by the core,
 * and scrubbed from anything we print. PGPASSWORD and ~/.pgpass are preferred sources.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TargetConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  readonly sslMode: string;
}

/** Parses `postgres://user[:password]@host[:port]/db?sslmode=...`. */
export function parsePostgresUrl(url: string, env: NodeJS.ProcessEnv = process.env): TargetConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('connection URL is not a valid postgres:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(`connection URL must start with postgres:// or postgresql:// (got ${u.protocol}//)`);
  }
  const host = decodeURIComponent(u.hostname) || env.PGHOST || 'localhost';
  const port = Number(u.port || env.PGPORT || 5432);
  const user = decodeURIComponent(u.username) || env.PGUSER || os.userInfo().username;
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || env.PGDATABASE || user;
  const sslMode = u.searchParams.get('sslmode') ?? env.PGSSLMODE ?? 'prefer';
  const password =
    (u.password ? decodeURIComponent(u.password) : undefined) ??
    env.PGPASSWORD ??
    passwordFromPgpass(host, port, database, user, env);
  return { host, port, user, database, sslMode, ...(password !== undefined ? { password } : {}) };
}

/** Looks the password up in ~/.pgpass (or PGPASSFILE) the way libpq does. */
export function passwordFromPgpass(
  host: string,
  port: number,
  database: string,
  user: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const file = env.PGPASSFILE ?? path.join(os.homedir(), '.pgpass');
  let text: string;
  try {
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

/** A URL safe to show: the password replaced. */
export function describeTarget(t: TargetConnection): string {
  return `postgres://${t.user}@${t.host}:${t.port}/${t.database}`;
}

/** Replaces every occurrence of each secret (and its URL-encoded form) in a message. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 3) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out;
}
