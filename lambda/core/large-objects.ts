/**
 * Large objects in the manifest: counted and hashed in the dump's snapshot, cheaply.
 *
 * pg_largeobject itself is readable only by superusers (not the RDS master user), so sizes come
 * from `lo_open` + `lo_lseek64(..., 2)` — a seek to the end, no data read — and content from
 * `lo_get`, both with the privileges pg_dump itself needs to dump the objects. The choice:
 * - `content`: SHA-256 over `<oid> <bytes> <sha256 of data>` lines when there are at most
 *   `maxContentObjects` objects totalling at most `maxContentBytes` (a flipped byte is caught);
 * - `size`: SHA-256 over `<oid> <bytes>` lines otherwise (a lost or truncated object is caught,
 *   reading nothing but the objects' ends);
 * - `count`: only the count, when the role cannot open the objects (pg_dump would then fail too).
 * The drill recomputes the same method on the restored database (pg_restore keeps the oids).
 */
import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';
import type { LargeObjects } from './manifest';

export interface LargeObjectOptions {
  /** @default 10000 */
  readonly maxContentObjects?: number;
  /** @default 64 MiB */
  readonly maxContentBytes?: number;
  /** Use this method (the drill passes the manifest's). @default - chosen by the limits above */
  readonly method?: LargeObjects['method'];
}

const INV_READ = 0x40000;

/**
 * Counts and hashes the large objects visible to `client`. Run it inside a transaction: the
 * descriptors `lo_open` hands out live until its end. Errors other than a missing privilege throw.
 */
export async function summarizeLargeObjects(
  client: ClientBase,
  options: LargeObjectOptions = {},
): Promise<LargeObjects> {
  const count = Number(
    (await client.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_largeobject_metadata')).rows[0].n,
  );
  if (count === 0) return { count, method: options.method ?? 'content', bytes: 0, sha256: sha256('') };
  if (options.method === 'count') return { count, method: 'count' };
  await client.query('SAVEPOINT restorable_lo');
  try {
    const sizes = (
      await client.query<{ oid: string; bytes: string }>(
        `SELECT oid::text AS oid, lo_lseek64(lo_open(oid, ${INV_READ}), 0, 2)::text AS bytes
         FROM pg_largeobject_metadata ORDER BY oid`,
      )
    ).rows;
    const total = sizes.reduce((s, r) => s + Number(r.bytes), 0);
    const content =
      options.method === 'content' ||
      (options.method === undefined &&
        count <= (options.maxContentObjects ?? 10_000) &&
        total <= (options.maxContentBytes ?? 64 * 1024 * 1024));
    let lines: string[];
    if (content) {
      const hashes = (
        await client.query<{ oid: string; bytes: string; h: string }>(
          `SELECT oid::text AS oid, length(d)::text AS bytes, encode(sha256(d), 'hex') AS h
           FROM (SELECT oid, lo_get(oid) AS d FROM pg_largeobject_metadata) s ORDER BY oid`,
        )
      ).rows;
      lines = hashes.map((r) => `${r.oid} ${r.bytes} ${r.h}`);
    } else {
      lines = sizes.map((r) => `${r.oid} ${r.bytes}`);
    }
    await client.query('RELEASE SAVEPOINT restorable_lo');
    return { count, method: content ? 'content' : 'size', bytes: total, sha256: sha256(lines.join('\n')) };
  } catch (e) {
    await client.query('ROLLBACK TO SAVEPOINT restorable_lo');
    if ((e as { code?: string }).code === '42501') return { count, method: 'count' };
    throw e;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
