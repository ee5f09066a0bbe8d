/**
 * RDS Extended Support for PostgreSQL majors: when each major leaves RDS standard support, and the
 * `EngineLifecycleSupport` a drill instance is created with, so a drill never enrolls (and bills)
 * an instance in Extended Support unless the drill says so. No imports: the config loads it.
 */

/**
 * Last day of RDS standard support per PostgreSQL major (UTC). RDS enrolls instances of a major in
 * Extended Support, and charges for it, from the day after.
 *
 * Source: "Release calendar for Amazon RDS for PostgreSQL" (RDS for PostgreSQL Release Notes),
 * https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html.
 * 11 (2024-02-29) and 12 (2025-02-28) checked against AWS's own pages (the Extended Support
 * charges page and the AWS Database Blog upgrade posts); 13 to 17 as published in that calendar
 * when written, not re-checked here. Update this table when AWS publishes a new major's date: a
 * major missing from it counts as in standard support.
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support-charges.html
 */
export const RDS_POSTGRES_STANDARD_SUPPORT_END: Readonly<Record<number, string>> = {
  11: '2024-02-29',
  12: '2025-02-28',
  13: '2026-02-28',
  14: '2027-02-28',
  15: '2028-02-29',
  16: '2029-02-28',
  17: '2030-02-28',
};

/** `EngineLifecycleSupport` values of CreateDBInstance for open-source engines. */
export const ENGINE_LIFECYCLE_SUPPORT = {
  extended: 'open-source-rds-extended-support',
  disabled: 'open-source-rds-extended-support-disabled',
} as const;

export interface ExtendedSupportStatus {
  /** The major is in RDS Extended Support on the given date. */
  readonly inExtendedSupport: boolean;
  /** Last day of standard support (`YYYY-MM-DD`), when known. */
  readonly standardSupportEnd?: string;
}

/** Whether RDS for PostgreSQL `major` is in Extended Support on `date` (UTC days). */
export function rdsExtendedSupportOn(major: number, date: Date): ExtendedSupportStatus {
  const end = RDS_POSTGRES_STANDARD_SUPPORT_END[major];
  if (end === undefined) return { inExtendedSupport: false };
  // Standard support covers its last day in full; Extended Support starts at 00:00 UTC the next day.
  const extendedFrom = Date.parse(`${end}T00:00:00Z`) + 86_400_000;
  return { inExtendedSupport: date.getTime() >= extendedFrom, standardSupportEnd: end };
}
