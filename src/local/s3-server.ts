/**
 * An S3-compatible server on loopback for the local demo and the integration tests: s3rver (npm)
 * storing objects on disk, plus the two multipart operations it lacks and that a backup system
 * must get right: AbortMultipartUpload (s3rver would route it to DeleteObject, leaving the parts
 * behind) and ListMultipartUploads (how we prove no incomplete upload is left after a failure).
 * It also honours `If-None-Match: *` on PutObject and CompleteMultipartUpload (conditional
 * create, answered 412 PreconditionFailed when the key exists) as S3 does; s3rver ignores it.
 *
 * `clockOffsetMs` gives the server a clock of its own, as a real S3 endpoint's differs from the
 * caller's: every response's `Date` header and every LastModified it reports (the header, list and
 * copy XML, upload `Initiated`) are shifted by it, so tests can prove that ages come from the
 * server's timestamps and not from the machine running the check.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import S3rver from 's3rver';

/** s3rver's fixed credentials; any SDK client pointed at it must sign with these. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalS3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /** How far this server's clock runs ahead of the local one (negative: behind). */
  readonly clockOffsetMs: number;
  /** Environment that points the AWS SDK (and so our code and CLI) at this server. */
  readonly env: Record<string, string>;
  /** Creates buckets directly in the store (like CreateBucket). */
  createBuckets(...names: string[]): void;
  /** On-disk path of a stored object's bytes, for tests that corrupt objects for real. */
  objectPath(bucket: string, key: string): string;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(bucket: string): { key: string; uploadId: string }[];
  stop(): Promise<void>;
}

export interface LocalS3Options {
  /** @default - a free port */
  readonly port?: number;
  /** @default - a new temporary directory, removed on stop */
  readonly directory?: string;
  readonly buckets?: string[];
  /**
   * At most this many keys per ListObjectsV2 page (S3 returns up to 1000, and may return fewer),
   * so tests can page through a listing without writing a thousand objects.
   * @default 1000
   */
  readonly listPageSize?: number;
  /**
   * Skews the server's clock: `Date` headers and reported LastModified times are this many
   * milliseconds ahead of the local clock (negative: behind); stored files keep real mtimes.
   * @default 0 - the server shares the local clock
   */
  readonly clockOffsetMs?: number;
}

type KoaContext = {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
  res: http.ServerResponse;
};

const uploadsDir = (root: string, bucket: string) => path.join(root, bucket, '._S3rver_uploads');

function listUploads(root: string, bucket: string): { key: string; uploadId: string; initiated: Date }[] {
  const dir = uploadsDir(root, bucket);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((id) => fs.existsSync(path.join(dir, id, 'key')))
    .map((uploadId) => ({
      uploadId,
      key: fs.readFileSync(path.join(dir, uploadId, 'key'), 'utf8'),
      initiated: fs.statSync(path.join(dir, uploadId)).birthtime,
    }));
}

function objectFile(root: string, bucket: string, key: string): string {
  const parts = key.split('/');
  const last = parts.pop()!;
  return path.join(root, bucket, ...parts, `${last}._S3rver_object`);
}

const shiftHttpDate = (value: string, offsetMs: number): string => {
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? value : new Date(t + offsetMs).toUTCString();
};

/** Shifts the ISO timestamps of `<LastModified>` and `<Initiated>` in an S3 XML body. */
const shiftXmlTimes = (xml: string, offsetMs: number): string =>
  xml.replace(/<(LastModified|Initiated)>([^<]+)<\/\1>/g, (whole, tag: string, iso: string) => {
    const t = new Date(iso).getTime();
    return Number.isNaN(t) ? whole : `<${tag}>${new Date(t + offsetMs).toISOString()}</${tag}>`;
  });

/**
 * Puts the skewed clock on one response: Node writes `Date` (and Koa's error handler resets
 * headers) only when the head is written, so the shift happens there, for errors too.
 */
function skewResponseClock(res: http.ServerResponse, offsetMs: number): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    this.setHeader('Date', new Date(Date.now() + offsetMs).toUTCString());
    const lastModified = this.getHeader('last-modified');
    if (typeof lastModified === 'string')
      this.setHeader('Last-Modified', shiftHttpDate(lastModified, offsetMs));
    return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
  } as typeof res.writeHead;
}

const amzDate = (t: number): string => new Date(t).toISOString().replace(/[-:]|\.\d{3}/g, '');

/**
 * S3's own signing-time check, on the skewed clock: a request signed more than 15 minutes off the
 * server's time gets 403 RequestTimeTooSkewed (the SDK then corrects its clock from our `Date`
 * header and retries, as against AWS). An accepted `x-amz-date` is shifted back onto the local
 * clock for s3rver, whose own check uses it (s3rver does not verify SigV4 signatures, so the
 * changed header breaks nothing).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
function acceptSigningTime(ctx: KoaContext, offsetMs: number): boolean {
  const header = ctx.headers['x-amz-date'];
  const m = typeof header === 'string' ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(header) : null;
  if (!m) return true;
  const [, y, mo, d, h, mi, sec] = m.map(Number);
  const signedAt = Date.UTC(y, mo - 1, d, h, mi, sec);
  const serverNow = Date.now() + offsetMs;
  if (Math.abs(serverNow - signedAt) > 15 * 60_000) {
    ctx.status = 403;
    ctx.type = 'application/xml';
    ctx.body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeTooSkewed</Code>` +
      `<Message>The difference between the request time and the current time is too large.</Message>` +
      `<RequestTime>${header}</RequestTime><ServerTime>${new Date(serverNow).toISOString()}</ServerTime></Error>`;
    return false;
  }
  ctx.headers['x-amz-date'] = amzDate(signedAt - offsetMs);
  return true;
}

/**
 * ListObjectsV2 served by s3rver's V1 listing: s3rver makes V2 continuation tokens with DES,
 * which OpenSSL 3 (Node 18+) no longer provides, so any truncated V2 listing failed with
 * InternalError. The token here is the last key of the page, base64url-encoded.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
async function listObjectsV2(ctx: KoaContext, next: () => Promise<void>, pageSize: number): Promise<void> {
  const q = ctx.query;
  const token = typeof q['continuation-token'] === 'string' ? q['continuation-token'] : undefined;
  const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : q['start-after'];
  const requested = typeof q['max-keys'] === 'string' ? Number(q['max-keys']) : 1000;
  const v1: Record<string, string | string[] | undefined> = { ...q };
  delete v1['list-type'];
  delete v1['continuation-token'];
  delete v1['start-after'];
  delete v1['fetch-owner'];
  v1['max-keys'] = String(Math.min(requested, pageSize));
  if (typeof startAfter === 'string' && startAfter) v1.marker = startAfter;
  ctx.query = v1;
  await next();
  if (typeof ctx.body !== 'string' || !ctx.body.includes('<ListBucketResult')) return;
  const xml = ctx.body;
  const keys = [...xml.matchAll(/<Contents>.*?<Key>([^<]*)<\/Key>/gs)].map((m) => m[1]);
  const nextMarker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1];
  const truncated = xml.includes('<IsTruncated>true</IsTruncated>');
  const last = nextMarker ?? keys.at(-1);
  // s3rver escapes with `he`: named entities for & < > " and hexadecimal ones for ' and `.
  const unescape = (s: string) =>
    s
      .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
  const v2 =
    `<KeyCount>${keys.length}</KeyCount>` +
    (token ? `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>` : '') +
    (!token && typeof startAfter === 'string' ? `<StartAfter>${xmlEscape(startAfter)}</StartAfter>` : '') +
    (truncated && last !== undefined
      ? `<NextContinuationToken>${Buffer.from(unescape(last), 'utf8').toString('base64url')}</NextContinuationToken>`
      : '');
  ctx.body = xml
    .replace(/<Marker>[^<]*<\/Marker>|<NextMarker>[^<]*<\/NextMarker>/g, '')
    .replace('</Prefix>', `</Prefix>${v2}`);
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * s3rver answers a PutObject (and a CompleteMultipartUpload) when it has read the body, not when
 * the file write has landed: a test that then corrupts, backdates or reads the stored file could
 * find it missing or short. S3 answers only once the object is stored, so this waits (at most 5 s)
 * until the file holds the whole body: the request's decoded length, or the upload's parts.
 */
async function writeThenAnswer(
  ctx: KoaContext,
  next: () => Promise<void>,
  directory: string,
  bucket: string,
  key: string,
  uploadId: string | undefined,
): Promise<void> {
  const header = (name: string) => {
    const v = ctx.headers[name];
    return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  let expected: number | undefined;
  if (ctx.headers['x-amz-copy-source']) {
    expected = undefined; // a copy: the body is the source's, not this request's
  } else if (uploadId !== undefined) {
    const dir = path.join(uploadsDir(directory, bucket), path.basename(uploadId));
    expected = fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => /^\d+$/.test(f))
          .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0)
      : undefined;
  } else {
    const chunked = String(ctx.headers['content-encoding'] ?? '').includes('aws-chunked');
    expected = header('x-amz-decoded-content-length') ?? (chunked ? undefined : header('content-length'));
  }
  await next();
  if (ctx.status !== 200 || expected === undefined) return;
  const file = objectFile(directory, bucket, key);
  for (let i = 0; i < 1000; i++) {
    if (fs.existsSync(file) && fs.statSync(file).size === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3Server> {
  const ownsDirectory = !options.directory;
  const directory = options.directory ?? fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-s3-'));
  const server = new S3rver({
    port: options.port ?? 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [],
  });

  const clockOffsetMs = options.clockOffsetMs ?? 0;
  const creating = new Set<string>();
  // Koa composes middleware when the server starts listening, so these run before s3rver's routes.
  const middleware = (server as unknown as { middleware: unknown[] }).middleware;
  middleware.unshift(async (ctx: KoaContext, next: () => Promise<void>) => {
    if (clockOffsetMs === 0) return next();
    skewResponseClock(ctx.res, clockOffsetMs);
    if (!acceptSigningTime(ctx, clockOffsetMs)) return;
    await next();
    // s3rver's own middleware has serialized XML bodies by now; object bodies are streams.
    if (typeof ctx.body === 'string' && ctx.body.startsWith('<?xml')) {
      ctx.body = shiftXmlTimes(ctx.body, clockOffsetMs);
    }
  });
  middleware.splice(1, 0, async (ctx: KoaContext, next: () => Promise<void>) => {
    const [, bucket, ...keyParts] = ctx.path.split('/');
    const uploadId = typeof ctx.query.uploadId === 'string' ? ctx.query.uploadId : undefined;
    if (ctx.method === 'DELETE' && uploadId && keyParts.length > 0) {
      const dir = path.join(uploadsDir(directory, bucket), path.basename(uploadId));
      if (!fs.existsSync(dir)) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`;
        return;
      }
      fs.rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    const conditionalCreate =
      ctx.headers['if-none-match'] === '*' &&
      keyParts.length > 0 &&
      ((ctx.method === 'PUT' && ctx.query.partNumber === undefined) || (ctx.method === 'POST' && uploadId));
    if (conditionalCreate) {
      // Check and reserve in one synchronous step, so two concurrent creates cannot both pass.
      const file = objectFile(directory, bucket, decodeURIComponent(keyParts.join('/')));
      if (creating.has(file) || fs.existsSync(file)) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>`;
        return;
      }
      creating.add(file);
      try {
        await writeThenAnswer(ctx, next, directory, bucket, decodeURIComponent(keyParts.join('/')), uploadId);
      } finally {
        creating.delete(file);
      }
      return;
    }
    const objectWrite =
      keyParts.length > 0 &&
      ((ctx.method === 'PUT' && ctx.query.partNumber === undefined && !ctx.headers['x-amz-copy-source']) ||
        (ctx.method === 'POST' && uploadId !== undefined));
    if (objectWrite) {
      await writeThenAnswer(ctx, next, directory, bucket, decodeURIComponent(keyParts.join('/')), uploadId);
      return;
    }
    if (ctx.method === 'GET' && bucket && keyParts.join('') === '' && ctx.query['list-type'] === '2') {
      await listObjectsV2(ctx, next, options.listPageSize ?? 1000);
      return;
    }
    if (ctx.method === 'GET' && bucket && keyParts.join('') === '' && 'uploads' in ctx.query) {
      const uploads = listUploads(directory, bucket)
        .map(
          (u) =>
            `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
            `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
        )
        .join('');
      ctx.type = 'application/xml';
      ctx.body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>` +
        `<Bucket>${xmlEscape(bucket)}</Bucket><IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`;
      return;
    }
    await next();
  });

  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  const createBuckets = (...names: string[]) => {
    for (const name of names) fs.mkdirSync(path.join(directory, name), { recursive: true });
  };
  createBuckets(...(options.buckets ?? []));

  return {
    endpoint,
    port: address.port,
    directory,
    clockOffsetMs,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    },
    createBuckets,
    objectPath: (bucket, key) => objectFile(directory, bucket, key),
    pendingUploads: (bucket) =>
      listUploads(directory, bucket).map(({ key, uploadId }) => ({ key, uploadId })),
    stop: async () => {
      await server.close();
      if (ownsDirectory) fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
