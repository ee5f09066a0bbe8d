/**
 * Reading pg_restore's stderr back into messages (pg-restore-log.ts). The inputs are pg_restore 15
 * output captured from `pg_restore --verbose --exit-on-error --jobs=2` on an archive whose table
 * data was damaged (the drill test's "checksum matches but data is corrupt" case), where the
 * leader's and a worker's pieces of a message interleave, and from `--jobs=1` into a target that
 * already held a schema.
 */
import { PgRestoreLog } from '../../lambda/core/pg-restore-log';

function read(stderr: string): PgRestoreLog {
  const log = new PgRestoreLog();
  for (const line of stderr.split('\n')) log.line(line);
  return log;
}

const UNCOMPRESS = 'pg_restore: error: could not uncompress data: invalid bit length repeat';
const WORKER_DIED = 'pg_restore: error: a worker process died unexpectedly';

describe('PgRestoreLog', () => {
  it.each([
    [
      "the worker's level lands on the leader's progress line and its text comes bare",
      // The shape of the reason a flaky drill run reported, pieces reassembled as they arrived.
      `pg_restore: launching item 3448 TABLE DATA orders
pg_restore: processing data for table "shop.orders"
pg_restore:pg_restore:  error: finished item 3276 CONSTRAINT customers customers_pkey
could not uncompress data: invalid bit length repeat
pg_restore: launching item 3295 TRIGGER customers customers_touch
pg_restore: error: a worker process died unexpectedly`,
    ],
    [
      "the leader's name lands between the worker's level and its text",
      `pg_restore:pg_restore: finished item 3276 CONSTRAINT customers customers_pkey
pg_restore: launching item 3295 TRIGGER customers customers_touch
 error: pg_restore:could not uncompress data: invalid bit length repeat
 creating TRIGGER "shop.customers customers_touch"
pg_restore: finished item 3295 TRIGGER customers customers_touch
pg_restore: error: a worker process died unexpectedly`,
    ],
    [
      'both names, then both spaces, precede the error',
      `pg_restore: processing data for table "shop.orders"
pg_restore: pg_restore:finished item 3276 CONSTRAINT customers customers_pkey
 pg_restore:error:  could not uncompress data: invalid bit length repeat
launching item 3295 TRIGGER customers customers_touch
pg_restore: error: a worker process died unexpectedly`,
    ],
    [
      "the worker's name and space went to the line before",
      `pg_restore: creating POLICY "shop.customers tenant_isolation"
pg_restore: pg_restore: finished item 3441 POLICY customers tenant_isolation
pg_restore: launching item 3449 TABLE DATA order_items
pg_restore: processing data for table "shop.order_items"
error: could not uncompress data: invalid bit length repeat
pg_restore: finished item 3449 TABLE DATA order_items
pg_restore: launching item 3285 CONSTRAINT order_items order_items_pkey
pg_restore: error: a worker process died unexpectedly`,
    ],
  ])('names the real error first when %s', (_, stderr) => {
    expect(read(stderr).summary()).toBe(`${UNCOMPRESS} | ${WORKER_DIED}`);
  });

  it('lists an error that follows from another after it, whatever order they arrived in', () => {
    const log = read(`${WORKER_DIED}\n${UNCOMPRESS}`);
    expect(log.summary()).toBe(`${UNCOMPRESS} | ${WORKER_DIED}`);
  });

  it("keeps a server error's following lines and leaves out pg_restore's context lines", () => {
    const log = read(`pg_restore: connecting to database for restore
pg_restore: creating SCHEMA "Mixed Case"
pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 7; 2615 16487 SCHEMA Mixed Case postgres
pg_restore: error: could not execute query: ERROR:  schema "Mixed Case" already exists
Command was: CREATE SCHEMA "Mixed Case";


`);
    expect(log.summary()).toBe(
      'pg_restore: error: could not execute query: ERROR:  schema "Mixed Case" already exists | ' +
        'Command was: CREATE SCHEMA "Mixed Case";',
    );
    expect(log.lastProgress).toBe('creating SCHEMA "Mixed Case"');
  });

  it('keeps a warning out of the failure and falls back to the last lines without an error', () => {
    const log = read(`pg_restore: creating TABLE "public.t"
pg_restore: warning: errors ignored on restore: 0
pg_restore: processing data for table "public.t"
terminated by signal 9`);
    expect(log.summary()).toBe(
      'creating TABLE "public.t" | errors ignored on restore: 0 | processing data for table "public.t" | terminated by signal 9',
    );
    expect(log.messages).toEqual([
      { level: 'warning', text: 'errors ignored on restore: 0', continuation: [] },
    ]);
  });

  it('tracks the last progress message without its interleaved prefixes', () => {
    const log = read('pg_restore:pg_restore:  finished item 3280 CONSTRAINT products products_sku_key');
    expect(log.lastProgress).toBe('finished item 3280 CONSTRAINT products products_sku_key');
    expect(log.summary()).toBe('finished item 3280 CONSTRAINT products products_sku_key');
  });
});
