/**
 * What the commands use from lambda/core, pg and the AWS SDK, in one module that load-core.ts
 * loads when a command first needs it rather than at start-up, so `--help` and command-line errors
 * answer at once instead of after loading the SDK.
 */
export { GetBucketLocationCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
export { Client } from 'pg';
export { listBackups, latestValidBackup } from '../../lambda/core/catalog';
export { BackupError, dumpDatabase } from '../../lambda/core/dump';
export { verifyBackup } from '../../lambda/core/verify';
export { buildEvidenceReport, discoverDatabases } from '../../lambda/core/evidence/collect';
export { collectStatus } from '../../lambda/core/evidence/status';
export { projectCost } from '../../lambda/core/cost/model';
export { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
export { recordVerification } from '../../lambda/core/verification';
export { describeTarget, restoreBackup, RestoreError } from '../../lambda/core/restore';
export { latestDrills, runDrill } from '../../lambda/core/drill';
export { LocalDatabaseProvider } from '../../lambda/core/providers/local';
export { makeS3Client, isNotFound } from '../../lambda/core/s3';
export { pgClientConfig, redact, SSL_MODES } from '../../lambda/core/secrets';
export { connectionFromUrl, defaultCaBundle } from './pgpass';
export {
  headArchiveState,
  requestThaw,
  waitForThaw,
  type ArchiveState,
} from '../../lambda/core/archive-state';
