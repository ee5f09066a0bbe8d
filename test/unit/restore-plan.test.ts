/**
 * Pure parts of the restore: choosing the archive entries of a table restore by exact schema and
 * name (restore-plan.ts), and running a pg_dumpall roles script statement by statement
 * (splitSqlStatements, roleOfStatement).
 */
import type { ArchiveToc, TocEntry } from '../../lambda/core/archive-toc';
import { roleOfStatement, splitSqlStatements } from '../../lambda/core/restore-roles';
import {
  catalogKey,
  planTableRestore,
  resolveTables,
  useListText,
  type TargetCatalog,
} from '../../lambda/core/restore-plan';

let nextId = 1;
const e = (
  desc: string,
  namespace: string | undefined,
  tag: string,
  deps: (TocEntry | number)[] = [],
): TocEntry => ({
  dumpId: nextId++,
  desc,
  namespace,
  tag,
  owner: 'postgres',
  section: 2,
  dependencies: deps.map((d) => (typeof d === 'number' ? d : d.dumpId)),
  hadDumper: desc === 'TABLE DATA',
  defn: '',
});

// A miniature of the seed schema's TOC, with the dependencies pg_dump records.
const shop = e('SCHEMA', undefined, 'shop');
const mixed = e('SCHEMA', undefined, 'Mixed Case');
const status = e('TYPE', 'shop', 'order_status', [shop]);
const touch = e('FUNCTION', 'shop', 'touch_updated_at()', [shop]);
const invoiceSeq = e('SEQUENCE', 'shop', 'invoice_number_seq', [shop]);
const customers = e('TABLE', 'shop', 'customers', [shop]);
const orders = e('TABLE', 'shop', 'orders', [status, invoiceSeq, shop]);
const ordersSeq = e('SEQUENCE', 'shop', 'orders_id_seq', [shop, orders]);
const ordersSeqOwned = e('SEQUENCE OWNED BY', 'shop', 'orders_id_seq', [ordersSeq]);
const events = e('TABLE', 'shop', 'events', [shop]);
const events10 = e('TABLE', 'shop', 'events_2026_10', [events, shop]);
const hostile = e('TABLE', 'Mixed Case', 'x"; DROP TABLE shop.products;--', [mixed]);
const dotted1 = e('TABLE', 'a.b', 'c', []);
const dotted2 = e('TABLE', 'a', 'b.c', []);
const attach10 = e('TABLE ATTACH', 'shop', 'events_2026_10', [events10, events]);
const ordersDefault = e('DEFAULT', 'shop', 'orders id', [orders, ordersSeq, orders]);
const ordersData = e('TABLE DATA', 'shop', 'orders', [orders]);
const customersData = e('TABLE DATA', 'shop', 'customers', [customers]);
const events10Data = e('TABLE DATA', 'shop', 'events_2026_10', [events10]);
const hostileData = e('TABLE DATA', 'Mixed Case', 'x"; DROP TABLE shop.products;--', [hostile]);
const ordersSeqSet = e('SEQUENCE SET', 'shop', 'orders_id_seq', [ordersSeq]);
const invoiceSeqSet = e('SEQUENCE SET', 'shop', 'invoice_number_seq', [invoiceSeq]);
const customersPkey = e('CONSTRAINT', 'shop', 'customers customers_pkey', [customers]);
const ordersPkey = e('CONSTRAINT', 'shop', 'orders orders_pkey', [orders]);
const ordersTouch = e('TRIGGER', 'shop', 'orders orders_touch', [touch, orders]);
const customersTouch = e('TRIGGER', 'shop', 'customers customers_touch', [touch, customers]);
const ordersFk = e('FK CONSTRAINT', 'shop', 'orders orders_customer_id_fkey', [
  customers,
  orders,
  customersPkey,
]);
const ordersAcl = e('ACL', 'shop', 'TABLE orders', [orders]);
const paidOrders = e('VIEW', 'shop', 'paid_orders', [orders, status, shop]);
const customersRls = e('ROW SECURITY', 'shop', 'customers', [customers]);

const toc: ArchiveToc = {
  version: '1.14.0',
  database: 'app',
  serverVersion: '15',
  pgDumpVersion: '15',
  entries: [
    shop,
    mixed,
    status,
    touch,
    invoiceSeq,
    customers,
    orders,
    ordersSeq,
    ordersSeqOwned,
    events,
    events10,
    hostile,
    dotted1,
    dotted2,
    attach10,
    ordersDefault,
    ordersData,
    customersData,
    events10Data,
    hostileData,
    ordersSeqSet,
    invoiceSeqSet,
    customersPkey,
    ordersPkey,
    ordersTouch,
    customersTouch,
    ordersFk,
    ordersAcl,
    paidOrders,
    customersRls,
  ],
};

const emptyTarget = (): TargetCatalog => ({
  schemas: new Set(['public', 'pg_catalog']),
  relations: new Set(),
  types: new Set(),
  functions: new Set(),
  collations: new Set(),
  extensions: new Set(['plpgsql']),
});

const ids = (entries: readonly TocEntry[]) => entries.map((x) => x.dumpId).sort((a, b) => a - b);

describe('resolveTables', () => {
  it('matches schema.name exactly, also when names hold dots, quotes and semicolons', () => {
    expect(resolveTables(toc, ['Mixed Case.x"; DROP TABLE shop.products;--'])).toEqual([hostile]);
    expect(resolveTables(toc, ['"Mixed Case"."x""; DROP TABLE shop.products;--"'])).toEqual([hostile]);
    expect(resolveTables(toc, [{ schema: 'a', name: 'b.c' }])).toEqual([dotted2]);
  });

  it('refuses a plain name that two tables could mean, and names what is missing', () => {
    expect(() => resolveTables(toc, ['a.b.c'])).toThrow(
      /"a\.b\.c" is ambiguous: it matches "a\.b"\."c" and "a"\."b\.c"/,
    );
    expect(() => resolveTables(toc, ['shop.orders', 'orders', 'shop.Orders'])).toThrow(
      /not in the archive: "orders", "shop\.Orders"/,
    );
  });
});

describe('planTableRestore', () => {
  it('restores a table with its data, defaults, constraints, trigger, sequences and the prerequisites the target lacks', () => {
    const plan = planTableRestore(toc, ['shop.orders'], emptyTarget(), { privileges: true });
    expect(ids(plan.entries)).toEqual(
      ids([
        shop,
        status,
        touch,
        invoiceSeq,
        orders,
        ordersSeq,
        ordersSeqOwned,
        ordersDefault,
        ordersData,
        ordersSeqSet,
        invoiceSeqSet,
        ordersPkey,
        ordersTouch,
        ordersAcl,
      ]),
    );
    expect(ids(plan.prerequisites)).toEqual(ids([shop, status, touch, invoiceSeq]));
    expect(plan.tables).toEqual([{ schema: 'shop', name: 'orders' }]);
    // The foreign key needs customers, which is not restored; the view and other tables are not ours.
    expect(plan.skipped).toEqual([
      expect.objectContaining({
        dumpId: ordersFk.dumpId,
        reason: 'depends on TABLE shop.customers, which is not being restored',
      }),
    ]);
    expect(plan.conflicts).toEqual([]);
  });

  it('leaves prerequisites the target already has alone, and reports a table that exists as a conflict', () => {
    const target = emptyTarget();
    (target.schemas as Set<string>).add('shop');
    (target.types as Set<string>).add(catalogKey('shop', 'order_status'));
    (target.functions as Set<string>).add(catalogKey('shop', 'touch_updated_at()'));
    (target.relations as Set<string>)
      .add(catalogKey('shop', 'invoice_number_seq'))
      .add(catalogKey('shop', 'orders'));
    const plan = planTableRestore(toc, ['shop.orders'], target, { privileges: false });
    expect(plan.prerequisites).toEqual([]);
    expect(plan.entries).not.toContain(invoiceSeqSet); // the target's own sequence keeps its value
    expect(plan.entries).not.toContain(ordersAcl); // no privileges
    expect(plan.conflicts).toEqual([{ schema: 'shop', name: 'orders' }]);
  });

  it('restores a foreign key when both tables are restored', () => {
    const plan = planTableRestore(toc, ['shop.orders', 'shop.customers'], emptyTarget(), {
      privileges: false,
    });
    expect(plan.entries).toEqual(
      expect.arrayContaining([ordersFk, customersPkey, customersTouch, customersRls]),
    );
    expect(plan.skipped).toEqual([]);
  });

  it('brings the partitions of a partitioned table, but not the parent of a partition', () => {
    const parent = planTableRestore(toc, ['shop.events'], emptyTarget(), { privileges: false });
    expect(parent.tables).toEqual([
      { schema: 'shop', name: 'events' },
      { schema: 'shop', name: 'events_2026_10' },
    ]);
    expect(parent.entries).toEqual(expect.arrayContaining([attach10, events10Data]));
    const leaf = planTableRestore(toc, ['shop.events_2026_10'], emptyTarget(), { privileges: false });
    expect(leaf.tables).toEqual([{ schema: 'shop', name: 'events_2026_10' }]);
    expect(leaf.entries).not.toContain(attach10);
  });

  it('writes a use-list where only ids are read and no name can pose as one', () => {
    const plan = planTableRestore(toc, ['Mixed Case.x"; DROP TABLE shop.products;--'], emptyTarget(), {
      privileges: false,
    });
    const text = useListText(plan.entries);
    const idLines = text.split('\n').filter((l) => l && !l.startsWith(';'));
    expect(idLines).toEqual(plan.entries.map((x) => `${x.dumpId};`));
    expect(ids(plan.entries)).toEqual(ids([mixed, hostile, hostileData]));
  });
});

describe('planTableRestore over every kind of entry', () => {
  // One table `k.t` that uses one prerequisite of every kind, and one dependent of every kind.
  const ks = e('SCHEMA', undefined, 'k');
  const ext = e('EXTENSION', undefined, 'citext');
  const coll = e('COLLATION', 'k', 'german');
  const typ = e('TYPE', 'k', 'mood', [ks]);
  const shell = e('SHELL TYPE', 'k', 'raw', [ks]);
  const dom = e('DOMAIN', 'k', 'positive', [ks, coll]);
  const fn = e('FUNCTION', 'k', 'f()', [ks, typ]);
  const proc = e('PROCEDURE', 'k', 'p()', [ks]);
  const agg = e('AGGREGATE', 'k', 'a(integer)', [ks, fn]);
  const seq = e('SEQUENCE', 'k', 'ids', [ks]);
  const t = e('TABLE', 'k', 't', [ks, ext, coll, typ, shell, dom, seq]);
  const dependents = [
    e('TABLE DATA', 'k', 't', [t]),
    e('DEFAULT', 'k', 't id', [t, seq]),
    e('CONSTRAINT', 'k', 't t_pkey', [t]),
    e('CHECK CONSTRAINT', 'k', 't t_check', [t]),
    e('INDEX', 'k', 't_idx', [t, agg]),
    e('TRIGGER', 'k', 't t_trg', [t, fn]),
    e('POLICY', 'k', 't p', [t, proc]),
    e('ROW SECURITY', 'k', 't', [t]),
    e('RULE', 'k', 't r', [t]),
    e('COMMENT', 'k', 'TABLE t', [t]),
    e('SECURITY LABEL', 'k', 'TABLE t', [t]),
    e('STATISTICS', 'k', 't_stats', [t]),
    e('SEQUENCE OWNED BY', 'k', 'ids', [seq, t]),
    e('SEQUENCE SET', 'k', 'ids', [seq]),
    e('INDEX ATTACH', 'k', 't_idx_1', [t]),
  ];
  const prerequisites = [ks, ext, coll, typ, shell, dom, fn, proc, agg, seq];
  const acl = e('ACL', 'k', 'TABLE t', [t]);
  const columnAcl = e('ACL', 'k', 'COLUMN t.secret', [t, acl]);
  // A table restored elsewhere: its own entries stay out; the schema comment comes with the schema.
  const other = e('TABLE', 'k', 'other', [ks]);
  const otherIdx = e('INDEX', 'k', 'other_idx', [other]);
  const otherSeq = e('SEQUENCE', 'k', 'other_seq', [ks]);
  const otherSeqSet = e('SEQUENCE SET', 'k', 'other_seq', [otherSeq]);
  const schemaComment = e('COMMENT', undefined, 'SCHEMA k', [ks]);
  const schemaAcl = e('ACL', undefined, 'SCHEMA k', [ks]);
  const schemaLabel = e('SECURITY LABEL', undefined, 'SCHEMA k', [ks]);
  // Uses only the extension: a pulled extension brings its comment, not everything that uses it.
  const extUser = e('STATISTICS', 'k', 'uses_citext', [ext]);
  const view = e('VIEW', 'k', 'v', [t, ks]);
  const viewComment = e('COMMENT', 'k', 'VIEW v', [view]);
  const unknownDep = e('INDEX', 'k', 't_dangling', [t, 9999]);
  const kindToc: ArchiveToc = {
    ...toc,
    entries: [
      ...prerequisites,
      t,
      ...dependents,
      acl,
      columnAcl,
      other,
      otherIdx,
      otherSeq,
      otherSeqSet,
      schemaComment,
      schemaAcl,
      schemaLabel,
      extUser,
      view,
      viewComment,
      unknownDep,
    ],
  };
  const everything = (): TargetCatalog => ({
    schemas: new Set(['k']),
    relations: new Set([catalogKey('k', 'ids')]),
    types: new Set(['mood', 'raw', 'positive'].map((n) => catalogKey('k', n))),
    functions: new Set(['f()', 'p()', 'a(integer)'].map((n) => catalogKey('k', n))),
    collations: new Set([catalogKey('k', 'german')]),
    extensions: new Set(['citext']),
  });

  it('pulls every missing prerequisite kind (also those only another prerequisite needs) and restores every dependent kind', () => {
    const plan = planTableRestore(kindToc, ['k.t'], emptyTarget(), { privileges: true });
    expect(ids(plan.prerequisites)).toEqual(ids(prerequisites));
    expect(ids(plan.entries)).toEqual(
      ids([
        ...prerequisites,
        t,
        ...dependents,
        acl,
        columnAcl,
        schemaComment,
        schemaAcl,
        schemaLabel,
        unknownDep,
      ]),
    );
    expect(plan.tables).toEqual([{ schema: 'k', name: 't' }]);
    expect(plan.skipped).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    // In archive order, as the use-list must be.
    expect(plan.entries.map((x) => x.dumpId)).toEqual(ids(plan.entries));
  });

  it('leaves alone every prerequisite kind the target has, and what only describes it', () => {
    const plan = planTableRestore(kindToc, ['"k"."t"'], everything(), { privileges: false });
    expect(plan.prerequisites).toEqual([]);
    expect(ids(plan.entries)).toEqual(
      ids([
        t,
        // The target's own sequence keeps its value; OWNED BY ties it to the restored table.
        ...dependents.filter((x) => x.desc !== 'SEQUENCE SET'),
        unknownDep,
      ]),
    );
    // Each kind is looked up in its own catalog set: present under another kind does not count.
    const swapped: TargetCatalog = {
      schemas: new Set(['citext']),
      relations: new Set(['mood', 'f()', 'german'].map((n) => catalogKey('k', n))),
      types: new Set(['ids', 'f()'].map((n) => catalogKey('k', n))),
      functions: new Set(['mood', 'german'].map((n) => catalogKey('k', n))),
      collations: new Set([catalogKey('k', 'ids')]),
      extensions: new Set(['k']),
    };
    expect(ids(planTableRestore(kindToc, ['k.t'], swapped, { privileges: false }).prerequisites)).toEqual(
      ids(prerequisites),
    );
  });

  it('reports a dependent blocked by a table that is not restored, with its namespace only when it has one', () => {
    const blockedIdx = e('INDEX', 'k', 't_other_idx', [t, other]);
    const blockedComment = e('COMMENT', undefined, 'k.t cross', [t, other]);
    // Not restored with a table at all (a view), so not reported either, whatever it depends on.
    const crossView = e('VIEW', 'k', 'v_cross', [t, other]);
    const plan = planTableRestore(
      { ...kindToc, entries: [...kindToc.entries, blockedIdx, blockedComment, crossView] },
      ['k.t'],
      emptyTarget(),
      {
        privileges: false,
      },
    );
    expect(plan.skipped).toEqual([
      {
        dumpId: blockedIdx.dumpId,
        desc: 'INDEX',
        namespace: 'k',
        tag: 't_other_idx',
        reason: 'depends on TABLE k.other, which is not being restored',
      },
      {
        dumpId: blockedComment.dumpId,
        desc: 'COMMENT',
        tag: 'k.t cross',
        reason: 'depends on TABLE k.other, which is not being restored',
      },
    ]);
    expect(Object.keys(plan.skipped[1])).not.toContain('namespace');
    expect(plan.entries).not.toContain(blockedIdx);
    expect(plan.entries).not.toContain(extUser);
    expect(plan.entries).not.toContain(otherIdx);
    expect(plan.entries).not.toContain(otherSeqSet);
    expect(plan.entries).not.toContain(view);
    expect(plan.entries).not.toContain(viewComment);
    // Without privileges no ACL is restored, nor reported as skipped.
    expect(plan.entries).not.toContain(acl);
    expect(plan.entries).not.toContain(schemaAcl);
  });

  it('restores both tables and what joins them when both are asked for, once each', () => {
    const plan = planTableRestore(kindToc, ['k.t', 'k.other', { schema: 'k', name: 't' }], emptyTarget(), {
      privileges: false,
    });
    expect(plan.tables).toEqual([
      { schema: 'k', name: 't' },
      { schema: 'k', name: 'other' },
    ]);
    expect(plan.entries).toContain(otherIdx);
    expect(plan.entries.filter((x) => x === t)).toHaveLength(1);
    expect(plan.entries).not.toContain(otherSeqSet); // a sequence no restored table uses
  });
});

describe('planTableRestore, partitions and order', () => {
  it('attaches a partition by its own schema and name, whatever the order of the dependencies', () => {
    const top = e('TABLE', 'p', 'part', []);
    const other = e('TABLE', 'q', 'part', []); // same name, other schema
    const leaf = e('TABLE', 'p', 'part_1', []);
    const attachLeaf = e('TABLE ATTACH', 'p', 'part_1', [9999, top, leaf]);
    const foreign = e('TABLE', 'q', 'leaf', []);
    const attachForeign = e('TABLE ATTACH', 'q', 'leaf', [other, foreign]);
    const orphanAttach = e('TABLE ATTACH', 'p', 'missing', [top, 9998]);
    const small: ArchiveToc = {
      ...toc,
      entries: [top, other, leaf, foreign, attachLeaf, attachForeign, orphanAttach],
    };
    const plan = planTableRestore(small, ['p.part'], emptyTarget(), { privileges: false });
    expect(ids(plan.entries)).toEqual(ids([top, leaf, attachLeaf]));
    const plan2 = planTableRestore(small, ['q.part'], emptyTarget(), { privileges: false });
    expect(ids(plan2.entries)).toEqual(ids([other, foreign, attachForeign]));
    // A partition asked for alone: no parent, no attach.
    expect(ids(planTableRestore(small, ['p.part_1'], emptyTarget(), { privileges: false }).entries)).toEqual(
      ids([leaf]),
    );
  });

  it('tells the partition from a parent of the same name in another schema', () => {
    const parent = e('TABLE', 'q', 'ev', []);
    const partition = e('TABLE', 'r', 'ev', []);
    // Tagged with the partition's schema and name; the parent is listed first.
    const attach = e('TABLE ATTACH', 'r', 'ev', [parent, partition]);
    const small: ArchiveToc = { ...toc, entries: [parent, partition, attach] };
    expect(ids(planTableRestore(small, ['q.ev'], emptyTarget(), { privileges: false }).entries)).toEqual(
      ids([parent, partition, attach]),
    );
  });

  it('keeps going until nothing changes: sub-partitions and entries that come before what they need', () => {
    const top = e('TABLE', 'p', 'top', []);
    const mid = e('TABLE', 'p', 'mid', []);
    const sub = e('TABLE', 'p', 'sub', []);
    const attachSub = e('TABLE ATTACH', 'p', 'sub', [sub, mid]); // before the attach of its parent
    const attachMid = e('TABLE ATTACH', 'p', 'mid', [mid, top]);
    const nested: ArchiveToc = { ...toc, entries: [top, mid, sub, attachSub, attachMid] };
    expect(ids(planTableRestore(nested, ['p.top'], emptyTarget(), { privileges: false }).entries)).toEqual(
      ids([top, mid, sub, attachSub, attachMid]),
    );

    const a = e('TABLE', 'p', 'a', []);
    const b = e('TABLE', 'p', 'b', []);
    const fk = e('FK CONSTRAINT', 'p', 'a a_b_fkey', [a, b, 0]); // needs b's key, listed after it
    const bKey = e('CONSTRAINT', 'p', 'b b_pkey', [b]);
    (fk.dependencies as number[])[2] = bKey.dumpId;
    const early: ArchiveToc = { ...toc, entries: [a, b, fk, bKey] };
    const plan = planTableRestore(early, ['p.a', 'p.b'], emptyTarget(), { privileges: false });
    expect(ids(plan.entries)).toEqual(ids([a, b, fk, bKey]));
    expect(plan.skipped).toEqual([]);
  });

  it('does not report a pulled prerequisite as skipped', () => {
    const s1 = e('SCHEMA', undefined, 's1');
    const other = e('TABLE', 's1', 'other', [s1]);
    const t = e('TABLE', 's1', 't', [s1, 0]);
    const seq = e('SEQUENCE', 's1', 'shared_seq', [s1, t, other]);
    (t.dependencies as number[])[1] = seq.dumpId;
    const small: ArchiveToc = { ...toc, entries: [s1, other, seq, t] };
    const plan = planTableRestore(small, ['s1.t'], emptyTarget(), { privileges: false });
    expect(ids(plan.prerequisites)).toEqual(ids([s1, seq]));
    expect(plan.skipped).toEqual([]);
  });
});

describe('resolveTables, more', () => {
  it('ignores TABLE entries without a schema, and finds a table asked for twice once', () => {
    const bare = e('TABLE', undefined, 'loose');
    const small: ArchiveToc = { ...toc, entries: [bare, orders] };
    // (a schema-less entry must not answer to the text "undefined" either)
    expect(() => resolveTables(small, ['undefined.loose'])).toThrow('not in the archive: "undefined.loose"');
    expect(() => resolveTables(small, ['.loose'])).toThrow(
      'not in the archive: ".loose" (tables are named schema.table)',
    );
    expect(() => resolveTables(small, [{ schema: '', name: 'loose' }])).toThrow(
      'not in the archive: "loose"',
    );
    expect(
      resolveTables(small, ['shop.orders', '"shop"."orders"', { schema: 'shop', name: 'orders' }]),
    ).toEqual([orders]);
  });

  it('reads a quoted request exactly: doubled quotes, nothing around it, both parts needed', () => {
    const quoted = e('TABLE', 'we"ird', 'na"me', []);
    const small: ArchiveToc = { ...toc, entries: [quoted, orders] };
    expect(resolveTables(small, ['"we""ird"."na""me"'])).toEqual([quoted]);
    for (const bad of [
      'x"shop"."orders"',
      '"shop"."orders"x',
      '"shop".""',
      '""."orders"',
      '"shop"."ord"ers"',
    ]) {
      expect(() => resolveTables(small, [bad])).toThrow(`not in the archive: "${bad}"`);
    }
  });

  it('matches a request by schema and name both', () => {
    const xOrders = e('TABLE', 'x', 'orders', []);
    const small: ArchiveToc = { ...toc, entries: [orders, xOrders, customers] };
    expect(resolveTables(small, [{ schema: 'x', name: 'orders' }])).toEqual([xOrders]);
    expect(resolveTables(small, ['"x"."orders"'])).toEqual([xOrders]);
    expect(catalogKey(undefined, 'plpgsql')).toBe('\u0000plpgsql');
    expect(catalogKey('x', 'orders')).toBe('x\u0000orders');
  });

  it('names an object request as schema.name when it matches nothing', () => {
    expect(() => resolveTables(toc, [{ schema: 'shop', name: 'nope' }, 'shop.orders', 'x.y'])).toThrow(
      'not in the archive: "shop.nope", "x.y" (tables are named schema.table)',
    );
    expect(() => resolveTables(toc, [{ schema: 'a', name: 'b.c' }, 'a.b.c'])).toThrow(
      'table "a.b.c" is ambiguous: it matches "a.b"."c" and "a"."b.c"; name it as "schema"."table"',
    );
  });
});

describe('useListText', () => {
  it('puts each entry on a comment line and an id line, names with line breaks flattened', () => {
    const odd = e('TABLE', 'x\ny', 'a\r\nb', []);
    const plain = e('SCHEMA', undefined, 'shop', []);
    expect(useListText([odd, plain])).toBe(
      `; TABLE x y.a  b\n${odd.dumpId};\n; SCHEMA shop\n${plain.dumpId};\n`,
    );
    expect(useListText([])).toBe('');
  });
});

describe('roles script', () => {
  const globals = [
    '--',
    '-- PostgreSQL database cluster dump',
    '--',
    '',
    '\\restrict abc123',
    '',
    'SET default_transaction_read_only = off;',
    "SET client_encoding = 'UTF8';",
    'CREATE ROLE app_owner;',
    'ALTER ROLE app_owner WITH NOSUPERUSER INHERIT NOLOGIN;',
    'CREATE ROLE "weird role;";',
    'ALTER ROLE "weird role;" WITH NOLOGIN;',
    'CREATE ROLE postgres;',
    'ALTER ROLE postgres WITH SUPERUSER LOGIN;',
    "COMMENT ON ROLE app_owner IS 'owns; the -- shop';",
    "ALTER ROLE app_owner SET search_path TO 'shop', 'public';",
    '',
    '\\unrestrict abc123',
    '',
  ].join('\n');

  it('splits on semicolons outside quotes and drops comments and psql meta-commands', () => {
    expect(splitSqlStatements(globals)).toEqual([
      'SET default_transaction_read_only = off',
      "SET client_encoding = 'UTF8'",
      'CREATE ROLE app_owner',
      'ALTER ROLE app_owner WITH NOSUPERUSER INHERIT NOLOGIN',
      'CREATE ROLE "weird role;"',
      'ALTER ROLE "weird role;" WITH NOLOGIN',
      'CREATE ROLE postgres',
      'ALTER ROLE postgres WITH SUPERUSER LOGIN',
      "COMMENT ON ROLE app_owner IS 'owns; the -- shop'",
      "ALTER ROLE app_owner SET search_path TO 'shop', 'public'",
    ]);
  });

  it('knows which role a statement is about (to never alter the restoring user)', () => {
    expect(roleOfStatement('CREATE ROLE "weird role;"')).toBe('weird role;');
    expect(roleOfStatement('ALTER ROLE Postgres WITH SUPERUSER')).toBe('postgres');
    expect(roleOfStatement('ALTER ROLE "Ad""min" WITH LOGIN')).toBe('Ad"min');
    expect(roleOfStatement('GRANT app_owner TO postgres')).toBeUndefined();
  });
});
