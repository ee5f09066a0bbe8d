/**
 * The local S3 server in its own process, so the memory benchmark measures only the dump
 * pipeline's RSS (s3rver buffers request bodies in memory while it writes them). Prints one JSON
 * line with the endpoint, then serves until stdin closes.
 */
// @ts-nocheck

import { startLocalS3 } from '../src/local/s3-server';

void (async () => {
  const server = await startLocalS3({ buckets: ['backups'] });
  process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint, directory: server.directory })}\n`);
  const stop = () => {
    void server.stop().then(() => process.exit(0));
  };
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
})();
