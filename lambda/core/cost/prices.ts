/**
 * Prices the cost model uses: one dated table per region, each with the pages it was read from.
 * Prices change; when they do, add a new table with its date rather than editing an old one, so a
 * cost figure can always be traced to the prices it used. USD, on-demand, first tier of each
 * tiered price (backups of one fleet rarely pass the first 50 TB).
 */

export type StorageClass = 'STANDARD' | 'STANDARD_IA' | 'GLACIER_IR' | 'DEEP_ARCHIVE';

export interface RegionPrices {
  readonly region: string;
  /** The day these prices were read from the sources. */
  readonly asOf: string;
  readonly sources: readonly string[];
  /** USD per GB-month. */
  readonly storage: Readonly<Record<StorageClass, number>>;
  /** Days an object is billed for at least, in each class (early deletion/transition charge). */
  readonly minimumDays: Readonly<Record<StorageClass, number>>;
  /** USD per 1,000 PUT/COPY/POST/LIST requests into a class (lifecycle transitions bill the same way). */
  readonly putPer1000: Readonly<Record<StorageClass, number>>;
  /** USD per 1,000 GET requests from a class. */
  readonly getPer1000: Readonly<Record<StorageClass, number>>;
  /** USD per GB retrieved from a class (Deep Archive: standard retrieval). */
  readonly retrievalPerGb: Readonly<Record<StorageClass, number>>;
  /** Hours before the first byte can be read (Deep Archive standard retrieval: within 12 hours). */
  readonly retrievalHours: Readonly<Record<StorageClass, number>>;
  /** USD per GB sent to another region (replication), and the Replication Time Control fee. */
  readonly interRegionTransferPerGb: number;
  readonly replicationTimeControlPerGb: number;
  /** AWS Backup: RDS snapshot storage per GB-month, warm and cold, and cold's minimum days. */
  readonly backupRdsWarmPerGbMonth: number;
  readonly backupColdPerGbMonth: number;
  readonly backupColdMinimumDays: number;
  /** AWS Backup restore from cold storage, per GB. */
  readonly backupColdRestorePerGb: number;
  /** A drill instance (RDS for PostgreSQL db.t4g.medium, Single-AZ) per hour, and gp3 per GB-month. */
  readonly drillInstancePerHour: number;
  readonly drillStoragePerGbMonth: number;
}

const S3_SOURCES = [
  'https://aws.amazon.com/s3/pricing/',
  'https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html',
];
const BACKUP_SOURCES = ['https://aws.amazon.com/backup/pricing/'];
const RDS_SOURCES = ['https://aws.amazon.com/rds/postgresql/pricing/'];

const MINIMUM_DAYS: Record<StorageClass, number> = {
  STANDARD: 0,
  STANDARD_IA: 30,
  GLACIER_IR: 90,
  DEEP_ARCHIVE: 180,
};
const RETRIEVAL_HOURS: Record<StorageClass, number> = {
  STANDARD: 0,
  STANDARD_IA: 0,
  GLACIER_IR: 0,
  DEEP_ARCHIVE: 12,
};

/** us-east-1, us-west-2 and eu-west-1 share S3 prices. */
const usEast1Like = (region: string): RegionPrices => ({
  region,
  asOf: '2026-11-01',
  sources: [...S3_SOURCES, ...BACKUP_SOURCES, ...RDS_SOURCES],
  storage: { STANDARD: 0.023, STANDARD_IA: 0.0125, GLACIER_IR: 0.004, DEEP_ARCHIVE: 0.00099 },
  minimumDays: MINIMUM_DAYS,
  putPer1000: { STANDARD: 0.005, STANDARD_IA: 0.01, GLACIER_IR: 0.02, DEEP_ARCHIVE: 0.05 },
  getPer1000: { STANDARD: 0.0004, STANDARD_IA: 0.001, GLACIER_IR: 0.01, DEEP_ARCHIVE: 0.0004 },
  retrievalPerGb: { STANDARD: 0, STANDARD_IA: 0.01, GLACIER_IR: 0.03, DEEP_ARCHIVE: 0.02 },
  retrievalHours: RETRIEVAL_HOURS,
  interRegionTransferPerGb: 0.02,
  replicationTimeControlPerGb: 0.015,
  backupRdsWarmPerGbMonth: 0.095,
  backupColdPerGbMonth: 0.01,
  backupColdMinimumDays: 90,
  backupColdRestorePerGb: 0.03,
  drillInstancePerHour: region === 'eu-west-1' ? 0.072 : 0.065,
  drillStoragePerGbMonth: region === 'eu-west-1' ? 0.127 : 0.115,
});

export const PRICES: Readonly<Record<string, RegionPrices>> = {
  'us-east-1': usEast1Like('us-east-1'),
  'us-west-2': usEast1Like('us-west-2'),
  'eu-west-1': usEast1Like('eu-west-1'),
  'eu-central-1': {
    region: 'eu-central-1',
    asOf: '2026-11-01',
    sources: [...S3_SOURCES, ...BACKUP_SOURCES, ...RDS_SOURCES],
    storage: { STANDARD: 0.0245, STANDARD_IA: 0.0135, GLACIER_IR: 0.005, DEEP_ARCHIVE: 0.0018 },
    minimumDays: MINIMUM_DAYS,
    putPer1000: { STANDARD: 0.0054, STANDARD_IA: 0.01, GLACIER_IR: 0.03, DEEP_ARCHIVE: 0.06 },
    getPer1000: { STANDARD: 0.00043, STANDARD_IA: 0.001, GLACIER_IR: 0.01, DEEP_ARCHIVE: 0.00043 },
    retrievalPerGb: { STANDARD: 0, STANDARD_IA: 0.01, GLACIER_IR: 0.03, DEEP_ARCHIVE: 0.02 },
    retrievalHours: RETRIEVAL_HOURS,
    interRegionTransferPerGb: 0.02,
    replicationTimeControlPerGb: 0.015,
    backupRdsWarmPerGbMonth: 0.1,
    backupColdPerGbMonth: 0.011,
    backupColdMinimumDays: 90,
    backupColdRestorePerGb: 0.033,
    drillInstancePerHour: 0.078,
    drillStoragePerGbMonth: 0.137,
  },
};

export function pricesFor(region: string): RegionPrices {
  const p = PRICES[region];
  if (!p) {
    throw new Error(
      `no price table for region ${region}: add one to lambda/core/cost/prices.ts (known: ${Object.keys(PRICES).join(', ')})`,
    );
  }
  return p;
}
