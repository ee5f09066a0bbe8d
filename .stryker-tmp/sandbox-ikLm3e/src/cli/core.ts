/**
 * What the commands use from lambda/core, pg and the AWS SDK. main.ts loads this module when a
 * command runs rather than at start-up, so `--help` and command-line errors answer at once instead
 * of after loading the SDK.
 */
// @ts-nocheck

export { GetBucketLocationCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
export { Client } from 'pg';
export { listBackups, latestValidBackup } from '../../lambda/core/catalog';
export { BackupError, dumpDatabase } from '../../lambda/core/dump';
export { verifyBackup } from '../../lambda/core/verify';
export { describeTarget, restoreBackup, RestoreError } from '../../lambda/core/restore';
export { runDrill } from '../../lambda/core/drill';
export { LocalDatabaseProvider } from '../../lambda/core/providers/local';
export { makeS3Client, isNotFound } from '../../lambda/core/s3';
export { pgClientConfig, redact, SSL_MODES } from '../../lambda/core/secrets';
export { connectionFromUrl } from './connection';
