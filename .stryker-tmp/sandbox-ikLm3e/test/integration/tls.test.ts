/**
 * TLS under verify-full against a real server with a certificate from a test CA (TESTING 10): the
 * right CA and host name work for both the node-postgres preflight and pg_dump (libpq); a wrong
 * CA or a host name the certificate does not name fails the connection, with nothing written
 * and no fallback to a weaker mode.
 */
// @ts-nocheck

import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client } from 'pg';
import { BackupError, dumpDatabase } from '../../lambda/core/dump';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { libpqEnv, withPgPassFile, type DbConnection, type SslMode } from '../../lambda/core/secrets';
import { startS3Harness, TEST_KMS_KEY, type S3Harness } from '../support/harness';

jest.setTimeout(120_000);
const execFileAsync = promisify(execFile);

let dir: string;
let cluster: LocalCluster;
let s3h: S3Harness;
let binDir: string;

/** A CA, a server certificate for IP 127.0.0.1 signed by it, and an unrelated second CA. */
function makeCertificates(into: string): void {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: into, stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=Restorable Test CA',
  );
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other.key',
    '-out',
    'other-ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=Someone Else CA',
  );
  ossl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  fs.writeFileSync(path.join(into, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  ossl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
}

/** PostgreSQL reads its key as its own (unprivileged) user and insists on 0600. */
function handToPostgresUser(files: string[]): void {
  if (process.getuid?.() !== 0) return;
  // The same account local-cluster.ts runs the server as: postgres, else nobody.
  const passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\n');
  const line = ['postgres', 'nobody'].map((n) => passwd.find((l) => l.startsWith(`${n}:`))).find(Boolean)!;
  const [, , uid, gid] = line.split(':');
  fs.chmodSync(dir, 0o755);
  for (const f of files) fs.chownSync(f, Number(uid), Number(gid));
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-tls-'));
  makeCertificates(dir);
  fs.chmodSync(path.join(dir, 'server.key'), 0o600);
  handToPostgresUser([path.join(dir, 'server.key'), path.join(dir, 'server.crt')]);
  cluster = await startLocalCluster({
    ssl: { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') },
    // 127.0.0.2 reaches the same server under an address the certificate does not name.
    settings: { listen_addresses: "'127.0.0.1,127.0.0.2'" },
  });
  const admin = new Client(cluster.connection());
  await admin.connect();
  await admin.query('CREATE DATABASE app');
  await admin.query('CREATE TABLE IF NOT EXISTS t (id int)');
  await admin.end();
  s3h = await startS3Harness();
  binDir = path.dirname(findPgBinary('pg_dump', [cluster.binDir]).path);
});

afterAll(async () => {
  await s3h?.stop();
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const conn = (host = '127.0.0.1'): DbConnection => ({ ...cluster.connection('app'), host });

const dump = (sslMode: SslMode, ca: string, host?: string) =>
  dumpDatabase({
    databaseId: 'app',
    connection: conn(host),
    s3: s3h.s3,
    bucket: s3h.bucket,
    kmsKeyId: TEST_KMS_KEY,
    sslMode,
    caBundlePath: path.join(dir, ca),
    pgBinDirs: [binDir],
    tier: 'daily',
  });

async function objectCount(): Promise<number> {
  return (await s3h.s3.send(new ListObjectsV2Command({ Bucket: s3h.bucket }))).KeyCount ?? 0;
}

/** pg_dump (libpq) alone with the environment the dump gives it. */
async function libpqDump(sslMode: SslMode, ca: string, host: string): Promise<string> {
  return withPgPassFile(conn(host), async (passFile) => {
    const env = libpqEnv(conn(host), { sslMode, caBundlePath: path.join(dir, ca) }, passFile);
    try {
      await execFileAsync(
        path.join(binDir, 'pg_dump'),
        ['--schema-only', '--no-password', '--no-sync', '--file=/dev/null'],
        { env },
      );
      return 'ok';
    } catch (e) {
      return (e as { stderr?: string }).stderr ?? String(e);
    }
  });
}

describe('sslmode=verify-full', () => {
  test('connects and dumps with the right CA and host', async () => {
    const m = await dump('verify-full', 'ca.crt');
    expect(m.object.bytes).toBeGreaterThan(0);
    expect(await libpqDump('verify-full', 'ca.crt', '127.0.0.1')).toBe('ok');
  });

  test('a certificate from another CA fails the connection; nothing is written', async () => {
    const before = await objectCount();
    const err = await dump('verify-full', 'other-ca.crt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).reason).toBe('CONNECT');
    expect((err as BackupError).message).toMatch(/certificate/i);
    expect(await objectCount()).toBe(before);
    expect(await libpqDump('verify-full', 'other-ca.crt', '127.0.0.1')).toMatch(/certificate verify failed/);
  });

  test('a host name the certificate does not name fails the connection', async () => {
    const before = await objectCount();
    const err = await dump('verify-full', 'ca.crt', '127.0.0.2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).reason).toBe('CONNECT');
    expect((err as BackupError).message).toMatch(/127\.0\.0\.2/);
    expect(await objectCount()).toBe(before);
    expect(await libpqDump('verify-full', 'ca.crt', '127.0.0.2')).toMatch(
      /does not match host name "127\.0\.0\.2"/,
    );
  });

  test('verify-ca checks the chain but not the name; require does not verify; a missing CA bundle is an error', async () => {
    await expect(dump('verify-ca', 'ca.crt', '127.0.0.2')).resolves.toMatchObject({ databaseId: 'app' });
    const wrongCa = await dump('verify-ca', 'other-ca.crt', '127.0.0.2').catch((e: unknown) => e);
    expect((wrongCa as BackupError).reason).toBe('CONNECT');
    await expect(dump('require', 'other-ca.crt', '127.0.0.2')).resolves.toMatchObject({ databaseId: 'app' });
    const noBundle = await dump('verify-full', 'does-not-exist.pem').catch((e: unknown) => e);
    expect(noBundle).toBeInstanceOf(BackupError);
    expect((noBundle as BackupError).reason).toBe('CONFIG');
    expect((noBundle as BackupError).message).toMatch(/cannot read CA bundle/);
  });
});
