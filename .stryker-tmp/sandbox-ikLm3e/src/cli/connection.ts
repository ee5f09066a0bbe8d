/**
 * Connection settings from the command line. URLs may carry a password: it is taken out of the URL
 * at once, kept only in memory, handed to PostgreSQL tools through a 0600 PGPASSFILE by the core,
 * and scrubbed from anything we print. A password in PGPASSWORD or ~/.pgpass is preferred to one
 * typed on the command line (which shell history and `ps` can see).
 */
// @ts-nocheck

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConnectionUrl, type DbConnection, type SslMode } from '../../lambda/core/secrets';

export interface CliConnection extends DbConnection {
  readonly sslMode: SslMode;
}

/**
 * Parses `postgres://user[:password]@host[:port]/db[?sslmode=...]`. Without a password in the URL
 * the password comes from PGPASSWORD, then PGPASSFILE / ~/.pgpass, as libpq would find it.
 */
export function connectionFromUrl(
  url: string,
  defaultSslMode: SslMode,
  env: NodeJS.ProcessEnv = process.env,
): CliConnection {
  const parsed = parseConnectionUrl(url);
  const password =
    parsed.password ||
    env.PGPASSWORD ||
    passwordFromPgpass(parsed.host, parsed.port, parsed.database, parsed.user, env) ||
    '';
  return { ...parsed, password, sslMode: parsed.sslMode ?? defaultSslMode };
}

/** Looks the password up in PGPASSFILE or ~/.pgpass the way libpq does (first match wins). */
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
