/**
 * Local stand-in for S3 cross-region replication: copies every object under a prefix from the
 * primary bucket to the replica bucket that is not there yet. On AWS, S3 Replication (with RTC)
 * does this; locally the demo and tests call it so `verify` and drills that read the replica
 * exercise the same code paths.
 */
// @ts-nocheck

import { CopyObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export async function replicateLocally(
  s3: S3Client,
  sourceBucket: string,
  replicaBucket: string,
  prefix = '',
): Promise<string[]> {
  const existing = new Set<string>();
  const source: string[] = [];
  for (const [bucket, into] of [
    [replicaBucket, existing],
    [sourceBucket, source],
  ] as const) {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        if (into instanceof Set) into.add(o.Key);
        else into.push(o.Key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  const copied: string[] = [];
  for (const key of source.filter((k) => !existing.has(k) && !k.startsWith('drills/'))) {
    await s3.send(
      new CopyObjectCommand({
        Bucket: replicaBucket,
        Key: key,
        CopySource: `${sourceBucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      }),
    );
    copied.push(key);
  }
  return copied;
}
