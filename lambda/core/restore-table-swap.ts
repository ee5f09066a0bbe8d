/**
 * `restore --table … --replace`: the restored copies (restore-table-side.ts) take the live
 * tables' places in ONE transaction, or nothing changes.
 *
 * What depends on a live table is found first (`findDependents`, before anything is restored):
 * plain views (recursively) are re-created from their definitions, foreign keys from other tables
 * and from the table itself are re-added (and so validated against the restored rows), the
 * table's owner and grants are carried over. Anything else that depends on it (materialized
 * views, functions with SQL-standard bodies, other tables' policies, inheritance children,
 * publications, rules, triggers on dependent views) is refused up front with the list. Inside the
 * transaction `DROP TABLE` is RESTRICT: a dependency we did not know of rolls everything back.
 */
import type { ClientBase } from 'pg';
import { quoteIdent } from './inventory';
import { RestoreError } from './restore-error';
import type { TableRef } from './restore-plan';

const qname = (t: TableRef) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;

export interface Dependents {
  /** Dependent plain views, creation order (a view after the views it uses). */
  readonly views: readonly string[];
  /** Foreign keys of other tables referencing the tables, `table.constraint`. */
  readonly foreignKeysIn: readonly string[];
  /** Foreign keys of the tables themselves. */
  readonly foreignKeysOut: readonly string[];
}

/** What depends on the live tables; throws TABLE_DEPENDENTS naming what a swap cannot re-create. */
export async function findDependents(client: ClientBase, tables: readonly TableRef[]): Promise<Dependents> {
  const oids = await tableOids(client, tables);
  const { rows } = await client.query<{ kind: string; what: string; depth: number }>(
    `WITH RECURSIVE deps(oid, depth) AS (
       SELECT DISTINCT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = ANY($1::oid[]) AND r.ev_class <> ALL($1::oid[])
       UNION
       SELECT r.ev_class, deps.depth + 1 FROM deps JOIN pg_depend d ON d.refobjid = deps.oid
         JOIN pg_rewrite r ON r.oid = d.objid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND r.ev_class <> deps.oid
     )
     SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'other' END AS kind,
            CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE '' END || c.oid::regclass::text AS what,
            max(deps.depth) AS depth
       FROM deps JOIN pg_class c ON c.oid = deps.oid GROUP BY c.oid, c.relkind
     UNION ALL
     SELECT 'other', 'trigger ' || t.tgname || ' on view ' || t.tgrelid::regclass::text, 0
       FROM deps JOIN pg_trigger t ON t.tgrelid = deps.oid
     UNION ALL
     SELECT CASE WHEN c.contype = 'f' AND c.conrelid <> ALL($1::oid[]) THEN 'fk-in' ELSE 'fk-internal' END,
            c.conrelid::regclass::text || '.' || quote_ident(c.conname), 0
       FROM pg_constraint c WHERE c.confrelid = ANY($1::oid[]) AND c.contype = 'f'
     UNION ALL
     SELECT 'fk-out', c.conrelid::regclass::text || '.' || quote_ident(c.conname), 0
       FROM pg_constraint c WHERE c.conrelid = ANY($1::oid[]) AND c.contype = 'f' AND c.confrelid <> ALL($1::oid[])
     UNION ALL
     SELECT 'other', pg_describe_object(d.classid, d.objid, d.objsubid), 0 FROM pg_depend d
      WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY($1::oid[]) AND d.deptype = 'n'
        AND d.classid IN ('pg_proc'::regclass, 'pg_policy'::regclass)
        AND NOT (d.classid = 'pg_policy'::regclass
                 AND (SELECT polrelid FROM pg_policy p WHERE p.oid = d.objid) = ANY($1::oid[]))
     UNION ALL
     SELECT 'other', 'inheritance child ' || i.inhrelid::regclass::text, 0 FROM pg_inherits i
      WHERE i.inhparent = ANY($1::oid[]) AND i.inhrelid <> ALL($1::oid[])
     UNION ALL
     SELECT 'other', 'publication ' || p.pubname, 0 FROM pg_publication_rel pr
       JOIN pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = ANY($1::oid[])
     ORDER BY 3, 2`,
    [oids],
  );
  const blocked = rows.filter((r) => r.kind === 'other').map((r) => r.what);
  if (blocked.length > 0) {
    throw new RestoreError(
      'TABLE_DEPENDENTS',
      `--replace cannot re-create what depends on ${tables.map(qname).join(', ')}: ${blocked.join('; ')}. ` +
        'Nothing was changed; restore beside the live table (without --replace) and swap by hand',
    );
  }
  return {
    views: rows.filter((r) => r.kind === 'view').map((r) => r.what),
    foreignKeysIn: rows.filter((r) => r.kind === 'fk-in').map((r) => r.what),
    foreignKeysOut: rows.filter((r) => r.kind === 'fk-out').map((r) => r.what),
  };
}

async function tableOids(client: ClientBase, tables: readonly TableRef[]): Promise<number[]> {
  const oids: number[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ oid: number }>(
      `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [t.schema, t.name],
    );
    if (rows.length === 0) throw new RestoreError('TABLE_NOT_IN_ARCHIVE', `${qname(t)} is not in the target`);
    oids.push(rows[0].oid);
  }
  return oids;
}

export interface SwapResult {
  readonly replaced: readonly string[];
  readonly viewsRecreated: readonly string[];
  readonly foreignKeysReadded: readonly string[];
}

/**
 * Swaps each copy in for its live table in one transaction. Definitions are read inside the
 * transaction, after the lock, with an empty search_path so that every name in them is qualified.
 */
export async function swapTables(
  client: ClientBase,
  pairs: readonly { readonly live: TableRef; readonly copy: TableRef }[],
  sideSchema: string,
  lockTimeoutMs = 10_000,
): Promise<SwapResult> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT set_config('search_path', '', true), set_config('lock_timeout', $1, true)`, [
      `${lockTimeoutMs}ms`,
    ]);
    for (const p of pairs) await client.query(`LOCK TABLE ${qname(p.live)} IN ACCESS EXCLUSIVE MODE`);
    const dependents = await findDependents(
      client,
      pairs.map((p) => p.live),
    );
    const oids = await tableOids(
      client,
      pairs.map((p) => p.live),
    );
    // Views, in creation order, with everything needed to re-create them.
    const views: { name: string; sql: string[] }[] = [];
    for (const v of dependents.views) {
      const { rows } = await client.query<{
        def: string;
        opts: string[] | null;
        owner: string;
        comment: string | null;
      }>(
        `SELECT pg_get_viewdef(c.oid) AS def, c.reloptions AS opts, pg_get_userbyid(c.relowner) AS owner,
                obj_description(c.oid, 'pg_class') AS comment FROM pg_class c WHERE c.oid = $1::regclass`,
        [v],
      );
      const r = rows[0];
      const sql = [
        `CREATE VIEW ${v}${r.opts?.length ? ` WITH (${r.opts.join(', ')})` : ''} AS ${r.def.replace(/;\s*$/, '')}`,
        `ALTER VIEW ${v} OWNER TO ${quoteIdent(r.owner)}`,
        ...(await grantsOf(client, v, 'TABLE')),
        ...(r.comment !== null ? [`COMMENT ON VIEW ${v} IS ${literal(r.comment)}`] : []),
      ];
      views.push({ name: v, sql });
    }
    const { rows: fks } = await client.query<{ tbl: string; name: string; def: string; own: boolean }>(
      `SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def,
              conrelid = ANY($1::oid[]) AS own
         FROM pg_constraint WHERE contype = 'f' AND (confrelid = ANY($1::oid[]) OR conrelid = ANY($1::oid[]))`,
      [oids],
    );
    const tableMeta: { live: TableRef; sql: string[] }[] = [];
    for (const p of pairs) {
      const { rows } = await client.query<{ owner: string }>(
        `SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = $1::regclass`,
        [qname(p.live)],
      );
      tableMeta.push({
        live: p.live,
        sql: [
          `ALTER TABLE ${qname(p.live)} OWNER TO ${quoteIdent(rows[0].owner)}`,
          ...(await grantsOf(client, qname(p.live), 'TABLE')),
        ],
      });
    }

    for (const v of [...views].reverse()) await client.query(`DROP VIEW ${v.name}`);
    for (const fk of fks.filter((f) => !f.own)) {
      await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    }
    await client.query(`DROP TABLE ${pairs.map((p) => qname(p.live)).join(', ')} RESTRICT`);
    for (const p of pairs) {
      await client.query(`ALTER TABLE ${qname(p.copy)} SET SCHEMA ${quoteIdent(p.live.schema)}`);
      if (p.copy.name !== p.live.name) {
        await client.query(
          `ALTER TABLE ${quoteIdent(p.live.schema)}.${quoteIdent(p.copy.name)} RENAME TO ${quoteIdent(p.live.name)}`,
        );
      }
    }
    for (const t of tableMeta) for (const s of t.sql) await client.query(s);
    for (const v of views) for (const s of v.sql) await client.query(s);
    // Foreign keys: validated as they are added (unless the live one was NOT VALID); those the
    // restored copies already brought back (between restored tables) are not added twice.
    const readded: string[] = [];
    for (const fk of fks) {
      const exists = await client.query(
        `SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2`,
        [fk.tbl, fk.name],
      );
      if (exists.rowCount) continue;
      await client.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
      readded.push(`${fk.tbl}.${fk.name}`);
    }
    const left = await client.query(
      `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 LIMIT 1`,
      [sideSchema],
    );
    if (!left.rowCount) await client.query(`DROP SCHEMA ${quoteIdent(sideSchema)}`);
    await client.query('COMMIT');
    return {
      replaced: pairs.map((p) => qname(p.live)),
      viewsRecreated: views.map((v) => v.name),
      foreignKeysReadded: readded,
    };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (e instanceof RestoreError) throw e;
    throw new RestoreError(
      'PG_RESTORE_FAILED',
      `--replace rolled back, the live tables are as they were: ${(e as Error).message}`,
    );
  }
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** GRANT statements reproducing a relation's ACL (grants made by its owner). */
async function grantsOf(client: ClientBase, relation: string, kind: 'TABLE'): Promise<string[]> {
  const { rows } = await client.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
            a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`,
    [relation],
  );
  return rows.map(
    (r) =>
      `GRANT ${r.privilege} ON ${kind} ${relation} TO ${r.grantee === null ? 'PUBLIC' : quoteIdent(r.grantee)}` +
      (r.grantable ? ' WITH GRANT OPTION' : ''),
  );
}
