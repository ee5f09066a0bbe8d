/**
 * Reads the table of contents of a pg_dump custom-format archive straight from its header (or of a
 * directory-format dump from its `toc.dat`, which has the same layout).
 *
 * `pg_restore --list` prints the same entries, but its name fields are neither quoted nor
 * escaped ("we currently don't bother to quote names, meaning that the name fields aren't
 * automatically parseable" — pg_backup_archiver.c, sanitize_line), so a table called
 * `x"; DROP TABLE shop.products;--` in a schema called `Mixed Case` cannot be told apart from
 * other splits of the same line. The binary TOC holds every field as a length-prefixed string,
 * which makes schema-qualified selection exact. The entry ids are the ones `pg_restore --list`
 * and `--use-list` use, so a list built from this TOC drives pg_restore directly.
 *
 * Format (archive versions 1.12 to 1.16, PostgreSQL 9.6 to 18): `PGDMP`, version bytes, integer
 * and offset sizes, format, compression, creation time, then the entries. Integers are a sign
 * byte plus `intSize` little-endian bytes; strings are an integer length (-1 for NULL) plus bytes.
 * @see https://github.com/postgres/postgres/blob/master/src/bin/pg_dump/pg_backup_archiver.c (ReadHead, ReadToc)
 * @see https://github.com/postgres/postgres/blob/master/src/bin/pg_dump/pg_backup_custom.c (_ReadExtraToc)
 */
import * as fs from 'node:fs';

export interface TocEntry {
  /** The id `pg_restore --list` prints first and `--use-list` selects by. */
  readonly dumpId: number;
  /** `TABLE`, `TABLE DATA`, `SEQUENCE SET`, `FK CONSTRAINT`, ... */
  readonly desc: string;
  /** Schema, or undefined for objects outside a schema (schemas, extensions, ...). */
  readonly namespace: string | undefined;
  /** Object name; for functions `name(argtypes)`, for table-level objects `table name`. */
  readonly tag: string;
  readonly owner: string | undefined;
  /** 1 none (comments, ACLs), 2 pre-data, 3 data, 4 post-data. */
  readonly section: number;
  /** The dump ids this entry depends on. */
  readonly dependencies: readonly number[];
  readonly hadDumper: boolean;
  /** The SQL that creates the object (empty for data entries). */
  readonly defn: string;
  /** Byte offset of the entry's data block in the archive, when it has one. */
  readonly dataOffset?: number;
  /** Directory format: the file holding the entry's data (`3071.dat.gz`), when it has one. */
  readonly dataFile?: string;
}

export interface ArchiveToc {
  /** e.g. `1.14.0` */
  readonly version: string;
  readonly database: string | undefined;
  readonly serverVersion: string | undefined;
  readonly pgDumpVersion: string | undefined;
  readonly entries: readonly TocEntry[];
}

const MIN_VERSION = (1 << 16) | (12 << 8); // 1.12
const MAX_VERSION = (1 << 16) | (16 << 8) | 0xff; // 1.16.x
const FORMAT_CUSTOM = 1;
/**
 * A directory-format dump's `toc.dat`: the same header and entries, a file name per entry. (The
 * header's format byte as pg_dump writes it; read from a real `pg_dump -Fd` in the tests.)
 */
const FORMAT_DIRECTORY = 3;

/** Reads bytes from a file on demand; the TOC is at the start, so a large archive is never loaded. */
class Reader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private pos = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  private ensure(n: number): void {
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    if (this.pos + n > this.size) throw new Error('archive is truncated inside its table of contents');
    const length = Math.min(this.size - this.pos, Math.max(n, 256 * 1024));
    const chunk = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const got = fs.readSync(this.fd, chunk, read, length - read, this.pos + read);
      if (got === 0) break;
      read += got;
    }
    this.buf = chunk.subarray(0, read);
    this.bufStart = this.pos;
    if (read < n) throw new Error('archive is truncated inside its table of contents');
  }

  bytes(n: number): Buffer {
    this.ensure(n);
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  byte(): number {
    return this.bytes(1)[0];
  }
}

/** Reads and validates the TOC of a custom-format archive file or a directory dump's `toc.dat`. */
export function readArchiveToc(file: string): ArchiveToc {
  const fd = fs.openSync(file, 'r');
  try {
    return parse(new Reader(fd, fs.fstatSync(fd).size));
  } finally {
    fs.closeSync(fd);
  }
}

function parse(r: Reader): ArchiveToc {
  if (r.bytes(5).toString('latin1') !== 'PGDMP') {
    throw new Error('not a pg_dump custom-format archive (no PGDMP header)');
  }
  const [vmaj, vmin, vrev] = [r.byte(), r.byte(), r.byte()];
  const version = (vmaj << 16) | (vmin << 8) | vrev;
  const versionText = `${vmaj}.${vmin}.${vrev}`;
  if (version < MIN_VERSION || version > MAX_VERSION) {
    throw new Error(`archive format ${versionText} is not supported (supported: 1.12 to 1.16)`);
  }
  const atLeast = (minor: number) => version >= ((1 << 16) | (minor << 8));
  const intSize = r.byte();
  const offSize = r.byte();
  if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 16) {
    throw new Error(`archive header is corrupt (integer size ${intSize}, offset size ${offSize})`);
  }
  const format = r.byte();
  if (format !== FORMAT_CUSTOM && format !== FORMAT_DIRECTORY)
    throw new Error(`archive is not in custom or directory format (format code ${format})`);

  const readInt = (): number => {
    const sign = r.byte();
    const raw = r.bytes(intSize);
    let value = 0;
    for (let i = intSize - 1; i >= 0; i--) value = value * 256 + raw[i];
    return sign ? -value : value;
  };
  const readStr = (): string | undefined => {
    const len = readInt();
    if (len < 0) return undefined;
    if (len > 1 << 30) throw new Error('archive table of contents is corrupt (string length)');
    return r.bytes(len).toString('utf8');
  };

  if (atLeast(15))
    r.byte(); // compression algorithm
  else readInt(); // compression level
  for (let i = 0; i < 7; i++) readInt(); // creation time (struct tm fields)
  const database = readStr();
  const serverVersion = readStr();
  const pgDumpVersion = readStr();

  const count = readInt();
  if (count < 0 || count > 10_000_000) throw new Error('archive table of contents is corrupt (entry count)');
  const entries: TocEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = readInt();
    if (dumpId <= 0) throw new Error(`archive table of contents is corrupt (entry id ${dumpId})`);
    const hadDumper = readInt() !== 0;
    readStr(); // catalog table oid
    readStr(); // object oid
    const tag = readStr() ?? '';
    const desc = readStr() ?? '';
    const section = readInt();
    const defn = readStr() ?? '';
    readStr(); // drop statement
    readStr(); // COPY statement
    const namespace = readStr();
    readStr(); // tablespace
    if (atLeast(14)) readStr(); // table access method
    if (atLeast(16)) readInt(); // relkind
    const owner = readStr();
    readStr(); // "false": WITH OIDS
    const dependencies: number[] = [];
    for (;;) {
      const dep = readStr();
      if (dep === undefined) break;
      dependencies.push(Number(dep));
    }
    const entry = {
      dumpId,
      desc,
      namespace: namespace || undefined,
      tag,
      owner: owner || undefined,
      section,
      dependencies,
      hadDumper,
      defn,
    };
    if (format === FORMAT_DIRECTORY) {
      // Directory format: the name of the entry's data file (pg_backup_directory.c, _ReadExtraToc).
      const dataFile = readStr();
      entries.push({ ...entry, ...(dataFile ? { dataFile } : {}) });
      continue;
    }
    // Custom format: where the entry's data block starts (a flag byte, 2 = position set, plus
    // offSize little-endian bytes).
    const offsetFlag = r.byte();
    const rawOffset = r.bytes(offSize);
    let dataOffset: number | undefined;
    if (offsetFlag === 2) {
      dataOffset = 0;
      for (let b = Math.min(offSize, 7) - 1; b >= 0; b--) dataOffset = dataOffset * 256 + rawOffset[b];
    }
    entries.push({ ...entry, ...(dataOffset !== undefined ? { dataOffset } : {}) });
  }
  return { version: versionText, database, serverVersion, pgDumpVersion, entries };
}
