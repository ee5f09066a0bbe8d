/**
 * pg_restore's stderr read back into messages: its progress (`--verbose`) and the errors that say
 * why it failed.
 *
 * Why not line by line: pg_restore writes each message in pieces, `pg_restore:`, ` `, the level
 * (`error: `), then the text with its newline (PostgreSQL's src/common/logging.c, stderr
 * unbuffered), and with `--jobs` the leader and its workers share one stderr. Pieces of two
 * messages then interleave within a line:
 *
 *     pg_restore:pg_restore:  error: finished item 3276 CONSTRAINT customers customers_pkey
 *     could not uncompress data: invalid bit length repeat
 *
 * is a worker's error whose level landed on the leader's progress line, and whose text came bare.
 * The text and its newline are one write, so every line still ends with exactly one message's
 * text; the pieces before it belong to it or to a message whose text comes later. So: strip the
 * pieces, queue the levels they carry, and give a queued level to the next text that is not one
 * of pg_restore's progress messages (those never carry a level).
 */

/**
 * Row values never leave this file: a server error's `DETAIL:` (`Key (email)=(alice@...) already
 * exists`, `Failing row contains (...)`) and the data in a COPY `CONTEXT:` line or an INSERT's
 * `Command was:` are table contents, and the summary ends up in failure reasons, Step Functions
 * history, CloudWatch logs and drill reports. The error line itself (constraint, table, item)
 * is what an operator needs and stays.
 */
export function withoutRowData(text: string): string {
  const t = text.trimStart();
  if (/^DETAIL:/.test(t)) return 'DETAIL: [withheld: may contain row values]';
  // `COPY t, line 3, column email: "alice@..."` / `COPY t, line 3: "1\talice@..."`
  const copy = /^(CONTEXT:\s+COPY [^,]+, line \d+(?:, column [^:]+)?):/.exec(t);
  if (copy) return `${copy[1]} [row values withheld]`;
  const insert = /^((?:Command was: )?INSERT INTO .*?)\bVALUES\b/is.exec(t);
  if (insert) return `${insert[1]}VALUES [row values withheld]`;
  // Data errors quote the offending value in the error line itself.
  return text
    .replace(/(invalid input (?:syntax|value) for (?:type|enum) [^:]+: )"[^"]*"?/g, '$1[value withheld]')
    .replace(/\bvalue "[^"]*" is out of range/g, 'value [withheld] is out of range')
    .replace(/(field value out of range: )"[^"]*"?/g, '$1[value withheld]');
}

/** What pg_restore writes before a message's text: its name, spaces, and the level. */
const PREFIX_PIECE = /^(?:pg_restore:|[ \t]+|(error|fatal|warning|detail|hint): )/;

/**
 * pg_restore's `--verbose` progress (pg_log_info in pg_backup_archiver.c and parallel.c,
 * PostgreSQL 12 to 17). These carry no level, so a level beside one belongs to another message.
 */
const PROGRESS =
  /^(?:connecting to database|creating |processing (?:item|missed item|data for table) |launching item |finished item |executing |dropping |skipping item |setting owner and privileges |disabling triggers |enabling triggers |entering |finished main parallel loop|reducing dependencies |transferring dependency |implied data-only restore|restoring large object|restored \d+ large object|started restore of )/;

/** Errors that follow from another one (a worker's), listed after it. */
const CONSEQUENTIAL =
  /^(?:a worker process died unexpectedly|worker process failed|errors ignored on restore)/;

type Level = 'error' | 'fatal' | 'warning' | 'detail' | 'hint';

export interface PgRestoreMessage {
  readonly level: Level | 'info';
  readonly text: string;
  /** Lines that came bare right after it (a server error's `DETAIL:`, `Command was:`). */
  readonly continuation: string[];
}

export class PgRestoreLog {
  /** Messages with a level, in the order their text arrived (at most `maxMessages`). */
  readonly messages: PgRestoreMessage[] = [];
  /** The last progress text, e.g. `processing data for table "shop.orders"`. */
  lastProgress: string | undefined;
  private readonly pending: Level[] = [];
  private readonly tail: string[] = [];
  private last: PgRestoreMessage | undefined;

  constructor(private readonly maxMessages = 30) {}

  /** Feeds one line of stderr (without its newline). */
  line(raw: string): void {
    if (!raw.trim()) return;
    let rest = raw;
    let prefixed = false;
    for (let m = PREFIX_PIECE.exec(rest); m && m[0].length < rest.length; m = PREFIX_PIECE.exec(rest)) {
      if (m[1]) this.pending.push(m[1] as Level);
      if (m[0].trim()) prefixed = true;
      rest = rest.slice(m[0].length);
    }
    const text = withoutRowData(rest.slice(0, 1000));
    this.tail.push(text);
    if (this.tail.length > 5) this.tail.shift();
    if (PROGRESS.test(text)) {
      this.lastProgress = text;
      this.last = undefined;
      return;
    }
    const level = this.pending.shift();
    if (level === undefined) {
      // Bare text right after a message is the rest of it (a server error spans lines); any other
      // unlabelled text is pg_restore's context ("while PROCESSING TOC:"), not a failure itself.
      if (!prefixed && this.last && this.last.continuation.length < 10) this.last.continuation.push(text);
      else this.last = undefined;
      return;
    }
    this.last = { level, text, continuation: [] };
    if (this.messages.length < this.maxMessages) this.messages.push(this.last);
  }

  /**
   * Why pg_restore failed, for an error message: its errors (with their details), the first real
   * one first, one `pg_restore: error: ...` line each joined by ` | `; without any, the last lines.
   */
  summary(): string {
    const failures = this.messages.filter((m) => m.level !== 'warning');
    if (failures.length === 0) return this.tail.join(' | ');
    const ranked = [
      ...failures.filter((m) => !CONSEQUENTIAL.test(m.text)),
      ...failures.filter((m) => CONSEQUENTIAL.test(m.text)),
    ];
    return ranked
      .map((m) => [`pg_restore: ${m.level}: ${m.text}`, ...m.continuation].join(' | '))
      .join(' | ');
  }
}
