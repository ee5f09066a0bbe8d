/**
 * One place that builds S3 clients, so the Lambdas, the CLI and the tests reach the same storage
 * the same way: AWS by default, or any S3-compatible server through the standard
 * `AWS_ENDPOINT_URL_S3` variable (the local demo and the integration tests).
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  type _Object,
} from '@aws-sdk/client-s3';

export function s3Endpoint(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || undefined;
}

export function makeS3Client(region?: string, extra: S3ClientConfig = {}): S3Client {
  const endpoint = s3Endpoint();
  return new S3Client({
    region: region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint
      ? {
          endpoint,
          forcePathStyle: true,
          // Local S3-compatible servers do not all understand the aws-chunked trailing checksums
          // that SDK v3 sends by default; our own SHA-256 over the whole object is the integrity
          // check that matters, so only send checksums where an operation requires one.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        }
      : {}),
    ...extra,
  });
}

/**
 * The bucket is versioned (Object Lock): a reader that looked at an object (a manifest's record of
 * the version it wrote, or a HeadObject) pins every later GetObject/HeadObject of that key to the
 * version it saw, so a newer version or a delete marker cannot swap the bytes mid-read. Spread into
 * the command input; nothing when no version is known (old manifests, servers without versioning),
 * which reads the current version as before.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/RetrievingObjectVersions.html
 */
export function atVersion(versionId: string | undefined): { VersionId?: string } {
  return versionId ? { VersionId: versionId } : {};
}

/** Reads a small object (a manifest, a report) as text. */
export async function readText(s3: S3Client, bucket: string, key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return out.Body.transformToString('utf8');
}

/** True when an S3 error means "no such key" (servers differ between NotFound and NoSuchKey). */
export function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return (
    err?.name === 'NoSuchKey' ||
    err?.name === 'NotFound' ||
    err?.Code === 'NoSuchKey' ||
    err?.$metadata?.httpStatusCode === 404
  );
}

/**
 * Every object under `prefix` whose key ends with `suffix`, newest first by S3's LastModified
 * (the server's clock, never the local one), across all listing pages.
 */
export async function listNewestFirst(
  s3: S3Client,
  bucket: string,
  prefix: string,
  suffix: string,
): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    objects.push(...(page.Contents ?? []).filter((o) => o.Key?.endsWith(suffix) && o.LastModified));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects.sort((a, b) => b.LastModified!.getTime() - a.LastModified!.getTime());
}
