/**
 * The scheduled monthly evidence run: last month's report, in every format, written under
 * `reports/<yyyy-mm>/` with Object Lock like the backups, so evidence exists without anyone
 * remembering to make it. The month is decided on S3's clock, not the function's.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { REPORT_CONTENT_TYPES, REPORT_FORMATS, renderReport } from '../../../src/report/render';
import { DEFAULT_OBJECT_LOCK_MODE, DEFAULT_REPORT_RETENTION_DAYS, type ObjectLockMode } from '../handler-env';
import { s3ServerTime } from '../freshness';
import { evidenceReportKey } from '../tiers';
import { buildEvidenceReport } from './collect';

/** The calendar month before `at`, as `yyyy-mm`, with its first and last day. */
export function previousMonth(at: Date): { month: string; from: string; to: string } {
  const first = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() - 1, 1));
  const last = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 0));
  const day = (d: Date) => d.toISOString().slice(0, 10);
  return { month: day(first).slice(0, 7), from: day(first), to: day(last) };
}

/** First and last day of `yyyy-mm`. */
export function monthRange(month: string): { month: string; from: string; to: string } {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) throw new Error(`month must be yyyy-mm (got ${month})`);
  const [y, m] = month.split('-').map(Number);
  return previousMonth(new Date(Date.UTC(y, m, 1)));
}

export interface MonthlyReportOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly databaseIds?: readonly string[];
  readonly rpoHoursByDatabase?: Readonly<Record<string, number>>;
  /** Also the databases found in the bucket but not in `databaseIds` (buildEvidenceReport). */
  readonly unlisted?: { readonly rpoHours: number };
  /** `yyyy-mm`. @default - the month before S3's "now" */
  readonly month?: string;
  /** @default DEFAULT_OBJECT_LOCK_MODE (as the backups) */
  readonly objectLockMode?: ObjectLockMode;
  /** How long the reports are locked. @default DEFAULT_REPORT_RETENTION_DAYS (seven years) */
  readonly retentionDays?: number;
  /** SSE-KMS key for the reports. @default - the bucket default */
  readonly kmsKeyId?: string;
  readonly now?: () => Date;
}

export interface MonthlyReportResult {
  readonly month: string;
  readonly bucket: string;
  readonly keys: Readonly<Record<string, string>>;
  readonly databases: readonly {
    databaseId: string;
    gapDays: readonly string[];
    drills: number;
    drillsPassed: number;
  }[];
}

export async function writeMonthlyReport(o: MonthlyReportOptions): Promise<MonthlyReportResult> {
  const now = (await s3ServerTime(o.s3, o.bucket)) ?? (o.now ?? (() => new Date()))();
  const range = o.month ? monthRange(o.month) : previousMonth(now);
  const report = await buildEvidenceReport({
    s3: o.s3,
    bucket: o.bucket,
    databaseIds: o.databaseIds,
    rpoHoursByDatabase: o.rpoHoursByDatabase,
    unlisted: o.unlisted,
    from: range.from,
    to: range.to,
  });
  const mode = o.objectLockMode ?? DEFAULT_OBJECT_LOCK_MODE;
  const retainUntil = new Date(
    now.getTime() + (o.retentionDays ?? DEFAULT_REPORT_RETENTION_DAYS) * 86_400_000,
  );
  const keys: Record<string, string> = {};
  for (const format of REPORT_FORMATS) {
    const key = evidenceReportKey(range.month, `evidence.${format}`);
    await o.s3.send(
      new PutObjectCommand({
        Bucket: o.bucket,
        Key: key,
        Body: renderReport(report, format),
        ContentType: REPORT_CONTENT_TYPES[format],
        // A month's report is written once; a rerun cannot replace what auditors were given.
        IfNoneMatch: '*',
        ...(o.kmsKeyId
          ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: o.kmsKeyId, BucketKeyEnabled: true }
          : {}),
        ...(mode === 'NONE' ? {} : { ObjectLockMode: mode, ObjectLockRetainUntilDate: retainUntil }),
      }),
    );
    keys[format] = key;
  }
  return {
    month: range.month,
    bucket: o.bucket,
    keys,
    databases: report.databases.map((d) => ({
      databaseId: d.databaseId,
      gapDays: d.gapDays,
      drills: d.summary.drills,
      drillsPassed: d.summary.drillsPassed,
    })),
  };
}
