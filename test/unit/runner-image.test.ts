/**
 * The runner image as built from lambda/Dockerfile: the PostgreSQL majors it carries (one list,
 * lambda/core/pg-majors.ts, shared by the Dockerfile default, the CDK build argument and the
 * runtime's tool choice), and a supply chain pinned to what was reviewed (base images by digest,
 * the RDS CA bundle by checksum). The Dockerfile is part of the product: a missing one fails here.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { pgToolForServer } from '../../lambda/core/pg-bin';
import { RUNNER_PG_MAJORS } from '../../lambda/core/pg-majors';
import { checkVersions } from '../../lambda/core/restore-versions';
import { REPOSITORY_ROOT, RunnerImage } from '../../lib/constructs/runner-image';
import { newStack } from './cdk-support';

const DOCKERFILE = join(REPOSITORY_ROOT, 'lambda', 'Dockerfile');

/** The Dockerfile's text; reading a missing file throws, so every test here fails without it. */
const dockerfile = (): string => readFileSync(DOCKERFILE, 'utf8');

/** A directory holding fake PostgreSQL client tools that report `major` as their version. */
function fakeTools(major: number): string {
  const dir = mkdtempSync(join(tmpdir(), `restorable-pg${major}-`));
  for (const tool of ['pg_dump', 'pg_restore']) {
    const file = join(dir, tool);
    writeFileSync(file, `#!/bin/sh\necho "${tool} (PostgreSQL) ${major}.1"\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

describe('PostgreSQL majors of the runner image', () => {
  test('carries PostgreSQL 18 clients alongside 15 to 17', () => {
    expect(RUNNER_PG_MAJORS).toEqual([15, 16, 17, 18]);
  });

  test("the Dockerfile's PG_MAJORS defaults (every stage) are the shared list", () => {
    const defaults = [...dockerfile().matchAll(/^ARG PG_MAJORS="([^"]*)"$/gm)].map((m) => m[1]);
    expect(defaults).toHaveLength(2);
    for (const value of defaults) expect(value).toBe(RUNNER_PG_MAJORS.join(' '));
  });

  test('the CDK asset builds the image with that list as PG_MAJORS', () => {
    const stack = newStack();
    new lambda.DockerImageFunction(stack, 'Dump', { code: RunnerImage.of(stack).code('dump') });
    const assembly = App.of(stack)!.synth() as unknown as { directory: string };
    const manifest = JSON.parse(readFileSync(join(assembly.directory, 'TestStack.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { dockerBuildArgs?: Record<string, string> } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0].source.dockerBuildArgs?.PG_MAJORS).toBe('15 16 17 18');
  });

  test('a PostgreSQL 18 server is dumped and restored with the v18 tools, refused without them', () => {
    const v17 = fakeTools(17);
    const v18 = fakeTools(18);
    expect(pgToolForServer('pg_dump', 18, [v18, v17]).major).toBe(18);
    expect(pgToolForServer('pg_dump', 17, [v18, v17]).major).toBe(17);
    expect(() => pgToolForServer('pg_dump', 18, [v17])).toThrow(
      /server is PostgreSQL 18 but the newest pg_dump available is 17/,
    );
    const manifest = {
      source: { serverMajor: 18, serverVersion: '18.1' },
      pgDump: { major: 18, version: 'pg_dump (PostgreSQL) 18.1' },
    } as Parameters<typeof checkVersions>[0];
    expect(checkVersions(manifest, { serverMajor: 18, serverVersion: '18.1' }, [v17, v18]).major).toBe(18);
    expect(() => checkVersions(manifest, { serverMajor: 18, serverVersion: '18.1' }, [v17])).toThrow(
      /pg_restore 18 or newer is needed/,
    );
  });
});
