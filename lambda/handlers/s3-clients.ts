/**
 * The handlers' S3 clients: one per region for the life of the execution environment (a warm
 * Lambda reuses its connections), each traced. Built here rather than in lambda/core so the CLI,
 * which shares core's `makeS3Client`, does not depend on tracing.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { makeS3Client } from '../core/s3';
import { traced } from './powertools';

const clients = new Map<string, S3Client>();

/** The S3 client for `region` (default: the function's own). */
export function s3Client(region?: string): S3Client {
  const key = region ?? '';
  let client = clients.get(key);
  if (!client) {
    client = traced(makeS3Client(region));
    clients.set(key, client);
  }
  return client;
}
