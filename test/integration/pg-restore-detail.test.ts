/**
 * Row values never reach a failure reason: a real pg_restore into a real cluster fails on a unique
 * violation whose server `DETAIL:` names the duplicate key's value (and, for a bad value, a COPY
 * `CONTEXT:` line quotes the row). The RestoreError keeps pg_restore's error line (the constraint,
 * the table) and carries neither value; that message is what drill reasons, Step Functions history
 * and logs are built from.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import { findPgBinary } from '../../lambda/core/pg-bin';
import { runPgRestore } from '../../lambda/core/pg-restore';
import { RestoreError } from '../../lambda/core/restore-error';

const SECRET_EMAIL = 'alice.secret-row@example.com';
const SECRET_TEXT = 'not-a-number-7f3a';
let cluster: LocalCluster;
let dir: string;

async function sql(database: string, text: string): Promise<void> {
  const c = new Client(cluster.connection(database));
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A data-only custom-format archive of `database`. */
function dumpData(database: string, file: string): void {
  execFileSync(
    findPgBinary('pg_dump', [cluster.binDir]).path,
    ['--format=custom', '--data-only', `--file=${file}`, `--dbname=${database}`],
    {
      env: {
        PATH: process.env.PATH ?? '',
        PGHOST: cluster.host,
        PGPORT: String(cluster.port),
        PGUSER: cluster.user,
        PGPASSWORD: cluster.password,
      },
    },
  );
}

beforeAll(async () => {
  cluster = await startLocalCluster();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-restore-detail-'));
  fs.chmodSync(dir, 0o755);
  for (const db of ['src', 'dup', 'typed']) await sql('postgres', `CREATE DATABASE ${db}`);
  await sql('src', `CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, note text)`);
  await sql('src', `INSERT INTO people VALUES (1, '${SECRET_EMAIL}', '${SECRET_TEXT}')`);
  // Same row already there: the COPY fails on the unique email, DETAIL names it.
  await sql('dup', `CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, note text)`);
  await sql('dup', `INSERT INTO people VALUES (2, '${SECRET_EMAIL}', 'x')`);
  // note is an int here: the COPY fails on the value, CONTEXT quotes it.
  await sql('typed', `CREATE TABLE people (id int PRIMARY KEY, email text, note int)`);
});

afterAll(async () => {
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function failure(target: string): Promise<RestoreError> {
  const archive = path.join(dir, 'src.dump');
  if (!fs.existsSync(archive)) dumpData('src', archive);
  const err = await runPgRestore({
    bin: findPgBinary('pg_restore', [cluster.binDir]),
    target: { ...cluster.connection(target), sslMode: 'disable' },
    archive,
    jobs: 1,
    keepOwners: false,
    clean: false,
    entriesTotal: 0,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(RestoreError);
  return err as RestoreError;
}

test('a unique violation keeps the error line and withholds the DETAIL with the key value', async () => {
  const err = await failure('dup');
  expect(err.code).toBe('PG_RESTORE_FAILED');
  expect(err.message).toMatch(/duplicate key value violates unique constraint "people_email_key"/);
  expect(err.message).toContain('DETAIL: [withheld: may contain row values]');
  expect(err.message).not.toContain(SECRET_EMAIL);
  expect(err.message).not.toContain(SECRET_TEXT);
});

test('a bad value in COPY keeps the table and line, not the row', async () => {
  const err = await failure('typed');
  expect(err.message).toMatch(/invalid input syntax for type integer: \[value withheld\]/);
  expect(err.message).toMatch(/COPY people, line 1, column note \[row values withheld\]/);
  expect(err.message).not.toContain(SECRET_TEXT);
  expect(err.message).not.toContain(SECRET_EMAIL);
  expect(err.message).not.toMatch(/alice/);
});
