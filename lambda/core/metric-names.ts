/**
 * Metric names and dimensions, shared by the handlers that emit them (Powertools EMF) and the CDK
 * code that alarms on them, so the two can never drift apart.
 */
export const METRIC_NAMESPACE = 'Restorable';
export const SERVICE_NAME = 'restorable';
export const DIMENSION_DATABASE = 'DatabaseId';

export const MetricNames = {
  /** 1 per successful dump. */
  backupSuccess: 'BackupSuccess',
  /** 1 per failed dump (pg_dump died, empty output, upload error, deadline). */
  backupFailure: 'BackupFailure',
  backupBytes: 'BackupBytes',
  backupDurationSeconds: 'BackupDurationSeconds',
  verifySuccess: 'VerifySuccess',
  verifyFailure: 'VerifyFailure',
  replicaMissing: 'ReplicaMissing',
  /** Age of the newest valid backup, from S3 LastModified. */
  backupAgeHours: 'BackupAgeHours',
  /** Newest size / median of the previous 7 valid backups. */
  backupSizeRatio: 'BackupSizeRatio',
  /** 1 when a backup KMS key is disabled or pending deletion. */
  backupKeyUnusable: 'BackupKeyUnusable',
  drillSuccess: 'DrillSuccess',
  drillFailure: 'DrillFailure',
  /** Days since the newest passing drill report (published by the freshness check). */
  drillAgeDays: 'DrillAgeDays',
  drillRtoSeconds: 'DrillRtoSeconds',
  drillRestoreSeconds: 'DrillRestoreSeconds',
  drillMismatches: 'DrillMismatches',
  orphanedDrillInstances: 'OrphanedDrillInstances',
  /**
   * Backup age / (RPO + 1 h), per database (the freshness check): one Metrics Insights alarm at
   * > 1 serves every database, whatever its RPO.
   */
  backupAgeOverRpo: 'BackupAgeOverRpo',
  /** Drill RTO / its target, per database (the drill report): > 1 is a drill slower than its target. */
  drillRtoOverTarget: 'DrillRtoOverTarget',
  /** Selected databases discovery could not run, per run of discovery (dimension `Reason`, a SkipCode). */
  discoverySkipped: 'DiscoverySkipped',
  /** Databases one run of discovery handed to the orchestrator (no dimension). */
  discoveredDatabases: 'DiscoveredDatabases',
} as const;

/** The dimension of DiscoverySkipped: the SkipCode (NO_SECRET, SECRET_MISSING, ...). */
export const DIMENSION_REASON = 'Reason';
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];
