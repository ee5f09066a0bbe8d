/**
 * verify's `toc` check: the archive's table of contents (as `pg_restore --list` prints it) holds
 * the entries pg_dump writes for every manifest table — which entries is the extension rule's call
 * (extensions.ts) — matched despite pg_restore printing names unquoted.
 */
import { expectedTocEntries } from './extensions';
import { tableLabel, type Manifest } from './manifest';
import type { ArchiveRead } from './verify-read';
import { failed, pass, type VerifyCheck } from './verify-result';

export interface TocEntry {
  readonly dumpId: number;
  /** Everything after the OIDs: `<desc> <schema> <name> <owner>`, names unquoted. */
  readonly text: string;
}

/** Parses `pg_restore --list` output: `<dumpId>; <tableoid> <oid> <desc> <schema> <name> <owner>`. */
export function parseTocListing(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (m) entries.push({ dumpId: Number(m[1]), text: m[2] });
  }
  return entries;
}

export interface TocTable {
  readonly desc: 'TABLE' | 'TABLE DATA';
  readonly schema: string;
  readonly name: string;
}

/**
 * Which of `wanted` have no entry in the TOC.
 *
 * pg_restore prints names raw (no quoting; newlines become spaces), space-separated, with the
 * owner last, so a line cannot be split reliably: `TABLE Mixed Case Audit Log postgres` could be
 * table `Audit` owned by `Log postgres`. Instead every TOC line is attributed to the wanted entry
 * with the longest matching `<desc> <schema> <name> ` prefix (so the table `Audit Log` claims
 * that line, not `Audit`), and entries whose printed form is identical (schema `a b`.`c` versus
 * `a`.`b c`) must together have as many lines as there are of them.
 */
export function tocMissing(entries: readonly TocEntry[], wanted: readonly TocTable[]): TocTable[] {
  const san = (s: string) => s.replace(/[\r\n]/g, ' ');
  const prefixOf = (w: TocTable) => `${w.desc} ${san(w.schema)} ${san(w.name)} `;
  const groups = new Map<string, TocTable[]>();
  for (const w of wanted) {
    const p = prefixOf(w);
    groups.set(p, [...(groups.get(p) ?? []), w]);
  }
  const prefixes = [...groups.keys()].sort((a, b) => b.length - a.length);
  const seen = new Map<string, number>();
  for (const e of entries) {
    const line = `${e.text} `;
    const best = prefixes.find((p) => line.startsWith(p));
    if (best) seen.set(best, (seen.get(best) ?? 0) + 1);
  }
  return [...groups.entries()].flatMap(([p, members]) =>
    (seen.get(p) ?? 0) >= members.length ? [] : members,
  );
}

/**
 * Whether one table/table-data entry is in the TOC. On its own it cannot tell `Audit` from a line of
 * `Audit Log`; pass every expected table to tocMissing for that (verifyBackup does).
 */
export function tocHas(
  entries: readonly TocEntry[],
  desc: TocTable['desc'],
  schema: string,
  name: string,
): boolean {
  return tocMissing(entries, [{ desc, schema, name }]).length === 0;
}

export function tocCheck(manifest: Manifest, toc: NonNullable<ArchiveRead['toc']>): VerifyCheck {
  if (!toc.ok) return failed('toc', 'TOC_UNREADABLE', `pg_restore --list failed: ${toc.error}`);
  const entries = parseTocListing(toc.listing);
  // Partitioned parents have no TABLE DATA, extension configuration tables no TABLE (extensions.ts).
  const wanted: TocTable[] = manifest.tables.flatMap((t) =>
    expectedTocEntries(t).map((desc) => ({ desc, schema: t.schema, name: t.name })),
  );
  const missing = tocMissing(entries, wanted).map((w) => `${tableLabel(w)} (${w.desc})`);
  return missing.length === 0
    ? pass('toc', `${entries.length} TOC entries; all ${manifest.tables.length} tables present`)
    : failed('toc', 'TOC_MISSING_TABLES', `archive TOC lacks: ${missing.join(', ')}`);
}
