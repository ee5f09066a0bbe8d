/**
 * Throwaway PostgreSQL clusters: `initdb` into a fresh temporary directory, `pg_ctl start` on a free
 * loopback port with password (SCRAM) authentication, and `stop()` that removes every trace.
 *
 * Used by the `local` drill provider, the demo and the integration tests, so none of them depends
 * on a pre-started server. PostgreSQL refuses to run as root; when we are root the server runs as
 * the `postgres` (or `nobody`) user instead.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { findPgBinaries, type PgBinary } from './pg-bin';

const execFileAsync = promisify(execFile);

export interface LocalClusterOptions {
  /** PostgreSQL major to run. @default - the newest installed */
  readonly major?: number;
  /** Run the server of this bin directory (e.g. a relocated copy of an installation). @default - found by `major` */
  readonly binDir?: string;
  /** Superuser password. @default - 24 random bytes, base64url */
  readonly password?: string;
  /** Serve TLS with this certificate and key (PEM files). @default - TLS off */
  readonly ssl?: { readonly certFile: string; readonly keyFile: string };
  /** Extra `postgresql.conf` settings. @default - none */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Where the temporary data directory goes. @default - os.tmpdir() */
  readonly parentDir?: string;
}

export interface ConnectionParams {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface LocalCluster {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly major: number;
  readonly dataDir: string;
  readonly binDir: string;
  connection(database?: string): ConnectionParams;
  /** A postgres:// URL (carries the password: for tests and child processes only, never logs). */
  url(database?: string): string;
  /** Fast shutdown, then the data directory is removed. Safe to call twice. */
  stop(): Promise<void>;
  /** Whether the server process is still running. */
  isRunning(): boolean;
}

const live = new Set<{ dataDir: string; pgCtl: string; runAs?: RunAs }>();
let exitHookInstalled = false;

interface RunAs {
  uid: number;
  gid: number;
  home: string;
}

/** PostgreSQL will not run as root; pick the unprivileged account to run it as. */
function runAsUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['postgres', 'nobody']) {
    const line = passwd.find((l) => l.startsWith(`${name}:`));
    if (line) {
      const [, , uid, gid, , home] = line.split(':');
      return { uid: Number(uid), gid: Number(gid), home };
    }
  }
  throw new Error('running as root and neither a postgres nor a nobody user exists to run PostgreSQL');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function chownRecursive(dir: string, who: RunAs): void {
  fs.chownSync(dir, who.uid, who.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownRecursive(p, who);
    else fs.chownSync(p, who.uid, who.gid);
  }
}

function pickServer(major?: number, binDir?: string): { initdb: PgBinary; binDir: string } {
  const candidates = findPgBinaries('initdb', binDir ? [binDir] : undefined).filter(
    (b) => major === undefined || b.major === major,
  );
  const initdb = candidates[0];
  if (!initdb) {
    throw new Error(
      `initdb${major ? ` for PostgreSQL ${major}` : ''} not found; install the PostgreSQL server ` +
        `(Debian: apt-get install postgresql) or set RESTORABLE_PG_BIN_DIRS`,
    );
  }
  return { initdb, binDir: path.dirname(initdb.path) };
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const { initdb, binDir } = pickServer(options.major, options.binDir);
  const runAs = runAsUser();
  const password = options.password ?? randomBytes(24).toString('base64url');
  const user = 'postgres';
  const root = fs.mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'restorable-pg-'));
  const dataDir = path.join(root, 'data');
  const pwFile = path.join(root, 'pw');
  fs.writeFileSync(pwFile, password, { mode: 0o600 });
  if (runAs) chownRecursive(root, runAs);
  const spawnOpts = {
    env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8', ...(runAs ? { HOME: runAs.home } : {}) },
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    maxBuffer: 16 * 1024 * 1024,
  };

  try {
    await execFileAsync(
      initdb.path,
      ['-D', dataDir, '-U', user, '--pwfile', pwFile, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync'],
      spawnOpts,
    );
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  } finally {
    fs.rmSync(pwFile, { force: true });
  }

  const pgCtl = path.join(binDir, 'pg_ctl');
  const entry = { dataDir, pgCtl, runAs };
  live.add(entry);
  installExitHook();

  let port = 0;
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      port,
      unix_socket_directories: `'${root}'`,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 60,
      shared_buffers: "'64MB'",
      max_wal_size: "'1GB'",
      ...(options.ssl
        ? { ssl: 'on', ssl_cert_file: `'${options.ssl.certFile}'`, ssl_key_file: `'${options.ssl.keyFile}'` }
        : {}),
      ...options.settings,
    };
    fs.writeFileSync(
      path.join(dataDir, 'postgresql.auto.conf'),
      Object.entries(settings)
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n') + '\n',
    );
    if (runAs) fs.chownSync(path.join(dataDir, 'postgresql.auto.conf'), runAs.uid, runAs.gid);
    try {
      await execFileAsync(
        pgCtl,
        ['-D', dataDir, '-l', path.join(root, 'server.log'), '-w', '-t', '60', 'start'],
        spawnOpts,
      );
      lastError = '';
      break;
    } catch (e) {
      lastError = readTail(path.join(root, 'server.log')) || (e as Error).message;
      if (!/could not bind|Address already in use/i.test(lastError)) break;
    }
  }
  if (lastError) {
    live.delete(entry);
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`PostgreSQL ${initdb.major} did not start: ${lastError}`);
  }

  return clusterHandle({
    root,
    dataDir,
    binDir,
    pgCtl,
    port,
    user,
    password,
    major: initdb.major,
    entry,
    spawnOpts,
  });
}

/** The handle of a started cluster: how to reach it, and a stop that also removes its files. */
function clusterHandle(c: {
  root: string;
  dataDir: string;
  binDir: string;
  pgCtl: string;
  port: number;
  user: string;
  password: string;
  major: number;
  entry: { dataDir: string; pgCtl: string; runAs?: RunAs };
  spawnOpts: Parameters<typeof execFileAsync>[2];
}): LocalCluster {
  const { root, dataDir, pgCtl, port, user, password } = c;
  let stopped = false;
  const connection = (database = 'postgres'): ConnectionParams => ({
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
  });
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    major: c.major,
    dataDir,
    binDir: c.binDir,
    connection,
    url: (database = 'postgres') =>
      `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    isRunning: () => !stopped && fs.existsSync(path.join(dataDir, 'postmaster.pid')),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        await execFileAsync(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop'], c.spawnOpts);
      } catch {
        // Already stopped (a test may have killed it on purpose); removing the directory is what matters.
      }
      live.delete(c.entry);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}

/** Stops every cluster this process started, synchronously (for exit and signal handlers). */
export function stopAllLocalClustersSync(): void {
  for (const c of live) {
    try {
      execFileSync(c.pgCtl, ['-D', c.dataDir, '-m', 'immediate', '-w', 'stop'], {
        stdio: 'ignore',
        ...(c.runAs ? { uid: c.runAs.uid, gid: c.runAs.gid } : {}),
      });
    } catch {
      // not running
    }
    fs.rmSync(path.dirname(c.dataDir), { recursive: true, force: true });
    live.delete(c);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', stopAllLocalClustersSync);
}

/**
 * A streaming-replication standby of `primary` (tests of dumping from a read replica):
 * `pg_basebackup -R` (standby.signal and primary_conninfo written for us) into a fresh directory,
 * then started on its own free port with `settings` (e.g. hot_standby_feedback). Same superuser and
 * password as the primary; `stop()` removes it.
 */
export async function startStandby(
  primary: LocalCluster,
  options: Pick<LocalClusterOptions, 'settings' | 'parentDir'> = {},
): Promise<LocalCluster> {
  const runAs = runAsUser();
  const root = fs.mkdtempSync(path.join(options.parentDir ?? os.tmpdir(), 'restorable-pg-'));
  const dataDir = path.join(root, 'data');
  if (runAs) chownRecursive(root, runAs);
  const spawnOpts = {
    env: {
      ...process.env,
      LC_ALL: 'C.UTF-8',
      LANG: 'C.UTF-8',
      PGPASSWORD: primary.password,
      ...(runAs ? { HOME: runAs.home } : {}),
    },
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    maxBuffer: 16 * 1024 * 1024,
  };
  try {
    await execFileAsync(
      path.join(primary.binDir, 'pg_basebackup'),
      [
        '-D',
        dataDir,
        '-h',
        primary.host,
        '-p',
        String(primary.port),
        '-U',
        primary.user,
        '-R',
        '-X',
        'stream',
        '--no-sync',
        '--checkpoint=fast',
      ],
      spawnOpts,
    );
  } catch (e) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`pg_basebackup failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
  const pgCtl = path.join(primary.binDir, 'pg_ctl');
  const entry = { dataDir, pgCtl, runAs };
  live.add(entry);
  installExitHook();
  const port = await freePort();
  // Appended: later lines win over the primary's copied port and socket directory.
  const conf = Object.entries({
    port,
    unix_socket_directories: `'${root}'`,
    hot_standby: 'on',
    ...options.settings,
  })
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
  fs.appendFileSync(path.join(dataDir, 'postgresql.auto.conf'), `\n${conf}\n`);
  try {
    await execFileAsync(
      pgCtl,
      ['-D', dataDir, '-l', path.join(root, 'server.log'), '-w', '-t', '60', 'start'],
      spawnOpts,
    );
  } catch (e) {
    live.delete(entry);
    const why = readTail(path.join(root, 'server.log')) || (e as Error).message;
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`standby did not start: ${why}`);
  }
  return clusterHandle({
    root,
    dataDir,
    binDir: primary.binDir,
    pgCtl,
    port,
    user: primary.user,
    password: primary.password,
    major: primary.major,
    entry,
    spawnOpts,
  });
}
