/**
 * Restores that break content quietly, with the real pg_dump/pg_restore, and what the fingerprints
 * (and the restore procedure the drill must follow) make of them:
 *
 * - a materialized view whose query calls a function relying on `search_path`: pg_restore runs
 *   REFRESH with an empty search_path, so the refresh fails; with --exit-on-error the restore
 *   stops, without it the matview stays unpopulated and only the fingerprint notices. Deferring
 *   the MATERIALIZED VIEW DATA entries and refreshing afterwards with the source's search_path
 *   restores it populated.
 * - more tables than one transaction can lock on the drill target (max_locks_per_transaction x
 *   max_connections): fingerprints hash table by table, each in its own transaction, and match;
 *   a single-transaction pass over every table (as the row-count checks do today) runs out of
 *   shared memory unless the target's max_locks_per_transaction is raised.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareFingerprints } from '../../lambda/core/fingerprint-compare';
import { startLocalCluster, type LocalCluster } from '../../lambda/core/local-cluster';
import {
  dumpWithFingerprints,
  fingerprintOf,
  onCluster,
  pgRestoreList,
  restoreInto,
} from '../support/fingerprint-io';

let source: LocalCluster;
let target: LocalCluster;
let tmp: string;

beforeAll(async () => {
  [source, target] = await Promise.all([
    startLocalCluster(),
    // A small drill target with the default max_locks_per_transaction (64): the lock table holds
    // 64 x (max_connections + autovacuum and background workers + WAL senders) = 64 x 12 entries.
    startLocalCluster({
      settings: {
        max_connections: 10,
        autovacuum_max_workers: 1,
        max_worker_processes: 0,
        max_wal_senders: 0,
      },
    }),
  ]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-fp-quiet-'));
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a materialized view whose function relies on search_path', () => {
  let archive: string;
  let expected: Awaited<ReturnType<typeof dumpWithFingerprints>>;

  beforeAll(async () => {
    await onCluster(source, 'postgres', (c) => c.query('CREATE DATABASE sp'));
    await onCluster(source, 'sp', async (c) => {
      await c.query(`CREATE SCHEMA app; ALTER DATABASE sp SET search_path = app, public`);
      await c.query(`SET search_path = app, public`);
      await c.query(
        `CREATE TABLE app.items (id int PRIMARY KEY); INSERT INTO app.items SELECT generate_series(1, 10)`,
      );
      // `items` unqualified: resolved through whatever search_path the caller has.
      await c.query(
        `CREATE FUNCTION app.item_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM items'`,
      );
      await c.query(`CREATE MATERIALIZED VIEW app.summary AS SELECT app.item_count() AS n`);
    });
    archive = path.join(tmp, 'sp.dump');
    expected = await dumpWithFingerprints(source, 'sp', archive);
    expect(expected.materializedViews).toEqual([
      { schema: 'app', name: 'summary', populated: true, rows: 1 },
    ]);
  });

  it('stops pg_restore --exit-on-error at the REFRESH, naming the relation it could not find', async () => {
    const r = await restoreInto(target, 'sp_strict', archive);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/REFRESH MATERIALIZED VIEW app\.summary/);
    expect(r.stderr).toMatch(/relation "items" does not exist/);
  });

  it('without --exit-on-error leaves it unpopulated, which only the fingerprint catches', async () => {
    const r = await restoreInto(target, 'sp_lenient', archive, []);
    expect(r.stderr).toMatch(/errors ignored on restore: 1/);
    const checks = compareFingerprints(expected, await fingerprintOf(target, 'sp_lenient', expected));
    expect(checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['matview:app.summary']);
  });

  it('restores populated when the matview data is deferred and refreshed with the source search_path', async () => {
    // What the restore must do: leave MATERIALIZED VIEW DATA out of the use-list, then REFRESH
    // each one (archive order) in a session with the source database's search_path.
    const list = (await pgRestoreList(target, archive))
      .split('\n')
      .filter((l) => !/ MATERIALIZED VIEW DATA /.test(l))
      .join('\n');
    const listFile = path.join(tmp, 'sp.list');
    fs.writeFileSync(listFile, list);
    expect(
      (await restoreInto(target, 'sp_deferred', archive, ['--exit-on-error', `--use-list=${listFile}`])).code,
    ).toBe(0);
    await onCluster(target, 'sp_deferred', async (c) => {
      await c.query(`SELECT pg_catalog.set_config('search_path', 'app, public', false)`);
      await c.query('REFRESH MATERIALIZED VIEW app.summary');
    });
    const checks = compareFingerprints(expected, await fingerprintOf(target, 'sp_deferred', expected));
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);
  });
});

describe('more tables than one transaction can lock on the drill target', () => {
  const TABLES = 1000;

  it('dumps, restores and fingerprints table by table; one transaction over all of them needs more locks', async () => {
    await onCluster(source, 'postgres', (c) => c.query('CREATE DATABASE many'));
    await onCluster(source, 'many', (c) =>
      c.query(`DO $$ BEGIN FOR i IN 1..${TABLES} LOOP
                 EXECUTE format('CREATE TABLE public.%I (id int PRIMARY KEY, v text)', 't' || i);
                 EXECUTE format('INSERT INTO public.%I VALUES (1, %L)', 't' || i, 'row of ' || i);
               END LOOP; END $$`),
    );
    const archive = path.join(tmp, 'many.dump');
    const expected = await dumpWithFingerprints(source, 'many', archive);
    expect(expected.tables).toHaveLength(TABLES);
    expect((await restoreInto(target, 'many', archive)).code).toBe(0);

    const checks = compareFingerprints(expected, await fingerprintOf(target, 'many', expected));
    expect(checks.filter((c) => c.status !== 'pass')).toEqual([]);

    // 1000 tables + their primary-key indexes locked in one transaction > 64 x 12 lock slots.
    const oneTransaction = onCluster(target, 'many', (c) =>
      c.query(`DO $$ DECLARE r record; n bigint; BEGIN
                 FOR r IN SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace LOOP
                   EXECUTE format('SELECT count(*) FROM public.%I', r.relname) INTO n;
                 END LOOP; END $$`),
    );
    await expect(oneTransaction).rejects.toMatchObject({ code: '53200' });
  });
});
