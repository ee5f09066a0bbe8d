// @ts-nocheck
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  escapePgpass,
  libpqEnv,
  parseConnectionUrl,
  parseRdsSecret,
  pgClientConfig,
  pgpassLine,
  redact,
  resolveConnection,
  withPgPassFile,
} from '../../lambda/core/secrets';

const PASSWORD = 'p@ss:w\\rd-"SECRET"-42';
const conn = { host: 'db.example.internal', port: 5432, user: 'backup', password: PASSWORD, database: 'app' };

describe('pgpass', () => {
  test('escapes backslash and colon in every field', () => {
    expect(escapePgpass('a:b\\c')).toBe('a\\:b\\\\c');
    expect(pgpassLine(conn)).toBe('db.example.internal:5432:*:backup:p@ss\\:w\\\\rd-"SECRET"-42\n');
    expect(pgpassLine({ ...conn, host: '::1', user: 'u:x' })).toBe(
      '\\:\\:1:5432:*:u\\:x:p@ss\\:w\\\\rd-"SECRET"-42\n',
    );
  });

  test('refuses line breaks, which would split the entry', () => {
    expect(() => pgpassLine({ ...conn, password: 'a\nb' })).toThrow(/line breaks/);
  });

  test('the file is 0600 in a private directory while it exists and is removed afterwards, also on failure', async () => {
    let seen = '';
    await withPgPassFile(conn, async (file) => {
      seen = file;
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      expect(path.dirname(path.dirname(file))).toBe(os.tmpdir());
      expect(fs.readFileSync(file, 'utf8')).toBe(pgpassLine(conn));
    });
    expect(fs.existsSync(seen)).toBe(false);
    expect(fs.existsSync(path.dirname(seen))).toBe(false);

    await expect(
      withPgPassFile(conn, async (file) => {
        seen = file;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(fs.existsSync(path.dirname(seen))).toBe(false);
  });
});

describe('client environment and TLS', () => {
  test('libpq gets connection parameters and the password file, never the password or our environment', () => {
    const ca = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ca-')), 'bundle.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    process.env.AWS_SECRET_ACCESS_KEY = 'should-not-leak';
    try {
      const env = libpqEnv(conn, { caBundlePath: ca }, '/tmp/x/pgpass');
      expect(env).toEqual({
        PGHOST: 'db.example.internal',
        PGPORT: '5432',
        PGUSER: 'backup',
        PGDATABASE: 'app',
        PGPASSFILE: '/tmp/x/pgpass',
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: ca,
        PGAPPNAME: 'restorable',
        PGCONNECT_TIMEOUT: '30',
        PATH: process.env.PATH,
      });
      expect(JSON.stringify(env)).not.toContain('SECRET');
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  test('verify-full without a readable CA bundle fails instead of downgrading', () => {
    expect(() => libpqEnv(conn, { caBundlePath: '/nonexistent/ca.pem' }, '/tmp/p')).toThrow(
      /cannot read CA bundle/,
    );
    expect(() => pgClientConfig(conn, { caBundlePath: '/nonexistent/ca.pem' })).toThrow(
      /cannot read CA bundle/,
    );
  });

  test('node-postgres TLS mirrors sslmode', () => {
    const ca = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ca-')), 'bundle.pem');
    fs.writeFileSync(ca, 'PEM');
    expect(pgClientConfig(conn, { caBundlePath: ca }).ssl).toEqual({
      ca: 'PEM',
      rejectUnauthorized: true,
      servername: 'db.example.internal',
    });
    const verifyCa = pgClientConfig(conn, { sslMode: 'verify-ca', caBundlePath: ca }).ssl as Record<
      string,
      unknown
    >;
    expect(verifyCa).toMatchObject({ ca: 'PEM', rejectUnauthorized: true });
    expect(pgClientConfig(conn, { sslMode: 'require' }).ssl).toEqual({ rejectUnauthorized: false });
    expect(pgClientConfig(conn, { sslMode: 'disable' }).ssl).toBe(false);
    expect(libpqEnv(conn, { sslMode: 'disable' }, '/p')).not.toHaveProperty('PGSSLROOTCERT');
  });
});

describe('secrets and URLs', () => {
  test('parses the standard RDS secret shape, with explicit fields filling gaps', () => {
    const secret = JSON.stringify({
      engine: 'postgres',
      host: 'h',
      port: 6543,
      username: 'u',
      password: PASSWORD,
      dbname: 'd',
    });
    expect(parseRdsSecret(secret)).toEqual({
      host: 'h',
      port: 6543,
      user: 'u',
      password: PASSWORD,
      database: 'd',
    });
    // RDS-managed master secrets carry only username and password.
    const managed = JSON.stringify({ username: 'u', password: PASSWORD });
    expect(parseRdsSecret(managed, { host: 'x', database: 'app' })).toEqual({
      host: 'x',
      port: 5432,
      user: 'u',
      password: PASSWORD,
      database: 'app',
    });
    expect(() => parseRdsSecret(managed)).toThrow(/no "host"/);
    expect(() =>
      parseRdsSecret(JSON.stringify({ engine: 'mysql', username: 'u', password: 'p', host: 'h' })),
    ).toThrow(/not PostgreSQL/);
  });

  test('errors about a malformed secret or URL never echo it', () => {
    const broken = `{"username":"u","password":"${PASSWORD}"`;
    const caught = (fn: () => unknown): Error => {
      try {
        fn();
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected an error');
    };
    const e1 = caught(() => parseRdsSecret(broken));
    expect(e1.message).toBe('database secret is not valid JSON');
    expect(
      JSON.stringify({ m: e1.message, s: e1.stack, c: (e1 as { cause?: unknown }).cause }),
    ).not.toContain('SECRET');
    const e2 = caught(() => parseConnectionUrl(`postgres://u:${PASSWORD}@[bad`));
    expect(e2.message).toMatch(/not a valid URL/);
    expect(JSON.stringify({ m: e2.message, s: e2.stack, ...e2 })).not.toContain('SECRET');
  });

  test('parses postgres URLs with encoded credentials and sslmode', () => {
    expect(
      parseConnectionUrl(
        `postgresql://back%3Aup:${encodeURIComponent(PASSWORD)}@db:6432/my%20db?sslmode=require`,
      ),
    ).toEqual({
      host: 'db',
      port: 6432,
      user: 'back:up',
      password: PASSWORD,
      database: 'my db',
      sslMode: 'require',
    });
    expect(() => parseConnectionUrl('mysql://u:p@h/d')).toThrow(/scheme/);
    expect(() => parseConnectionUrl('postgres://u:p@h/d?sslmode=prefer')).toThrow(/sslmode "prefer"/);
  });

  test('resolves a Secrets Manager secret; SDK failures name the secret, not its value', async () => {
    const sm = mockClient(SecretsManagerClient);
    try {
      sm.on(GetSecretValueCommand, { SecretId: 'arn:ok' }).resolves({
        SecretString: JSON.stringify({ host: 'h', username: 'u', password: PASSWORD, dbname: 'd' }),
      });
      sm.on(GetSecretValueCommand, { SecretId: 'arn:denied' }).rejects(
        Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }),
      );
      const client = new SecretsManagerClient({ region: 'us-east-1' });
      await expect(resolveConnection({ secretArn: 'arn:ok', client })).resolves.toMatchObject({
        user: 'u',
        password: PASSWORD,
      });
      await expect(
        resolveConnection({ secretArn: 'arn:ok', client, database: 'other' }),
      ).resolves.toMatchObject({
        database: 'other',
      });
      await expect(resolveConnection({ secretArn: 'arn:denied', client })).rejects.toThrow(
        /could not read database secret arn:denied: AccessDeniedException/,
      );
      await expect(
        resolveConnection({ url: `postgres://u:${encodeURIComponent(PASSWORD)}@h/d` }),
      ).resolves.toEqual({
        host: 'h',
        port: 5432,
        user: 'u',
        password: PASSWORD,
        database: 'd',
      });
    } finally {
      sm.restore();
    }
  });

  test('redact removes raw, URL-encoded and pgpass-escaped forms', () => {
    const text = `a ${PASSWORD} b ${encodeURIComponent(PASSWORD)} c ${escapePgpass(PASSWORD)}`;
    expect(redact(text, [PASSWORD])).toBe('a *** b *** c ***');
  });
});
