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

const DIGEST_PINNED = /^[^\s@$]+@sha256:[0-9a-f]{64}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * What is wrong with a Dockerfile's supply chain, one line per problem: a FROM that is not pinned
 * by digest (directly or through its ARG's default), a download not checked against a sha256.
 */
function supplyChainProblems(text: string): string[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const problems: string[] = [];
  const args = new Map<string, string>();
  const stages = new Set<string>();
  let sawFrom = false;
  for (const line of lines) {
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(line.trim());
    if (arg) {
      const value = (arg[2] ?? '').replace(/^"(.*)"$/, '$1');
      // Global ARGs (before the first FROM) feed FROM lines; stage ARGs feed RUN lines.
      if (!sawFrom || !args.has(arg[1]) || value) args.set(arg[1], value);
      continue;
    }
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line.trim());
    if (from) {
      sawFrom = true;
      const ref = from[1].replace(
        /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/,
        (_m, name: string) => args.get(name) ?? '',
      );
      if (!stages.has(ref) && !DIGEST_PINNED.test(ref))
        problems.push(`FROM ${from[1]} (${ref || 'no default'}) is not pinned by digest`);
      if (from[2]) stages.add(from[2]);
      continue;
    }
    for (const download of line.matchAll(/\b(?:curl|wget)\b[^;&|]*?\s(?:-o|-O|--output)\s+([^\s;]+)/g)) {
      const file = download[1];
      const check = new RegExp(
        `echo "([^"\\s]+)\\s+${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" \\| sha256sum -c`,
      ).exec(line);
      const expected = check?.[1].replace(
        /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/,
        (_m, name: string) => args.get(name) ?? '',
      );
      if (!expected || !SHA256.test(expected))
        problems.push(`download to ${file} is not checked against a pinned sha256`);
    }
  }
  if (!sawFrom) problems.push('no FROM at all');
  return problems;
}

describe('the runner image supply chain (lambda/Dockerfile)', () => {
  test('pins every base image by digest and checks the RDS CA bundle against a pinned sha256', () => {
    const text = dockerfile();
    expect(supplyChainProblems(text)).toEqual([]);
    // The continued RUN line as the shell sees it.
    expect(text.replace(/\\\n\s*/g, ' ')).toMatch(
      /curl -fsSL https:\/\/truststore\.pki\.rds\.amazonaws\.com\/global\/global-bundle\.pem -o \/opt\/rds-ca\/global-bundle\.pem; +echo "\$\{RDS_CA_BUNDLE_SHA256\} {2}\/opt\/rds-ca\/global-bundle\.pem" \| sha256sum -c -;/,
    );
    expect(text).toMatch(/^ARG RDS_CA_BUNDLE_SHA256=[0-9a-f]{64}$/m);
    // Three stages, all from the two pinned bases.
    expect(text.match(/^FROM /gm)).toHaveLength(3);
  });

  test('the check finds a tag-only base, an unpinned ARG default and an unchecked download', () => {
    const pinned = 'public.ecr.aws/lambda/nodejs:22@sha256:' + 'a'.repeat(64);
    expect(supplyChainProblems(`FROM ${pinned} AS build\nFROM build\n`)).toEqual([]);
    expect(supplyChainProblems('FROM public.ecr.aws/lambda/nodejs:22\n')).toEqual([
      'FROM public.ecr.aws/lambda/nodejs:22 (public.ecr.aws/lambda/nodejs:22) is not pinned by digest',
    ]);
    expect(supplyChainProblems('ARG BASE=amazonlinux:2023\nFROM ${BASE}\n')).toEqual([
      'FROM ${BASE} (amazonlinux:2023) is not pinned by digest',
    ]);
    expect(supplyChainProblems(`ARG BASE\nFROM \${BASE}\n`)).toEqual([
      'FROM ${BASE} (no default) is not pinned by digest',
    ]);
    expect(
      supplyChainProblems(
        `FROM ${pinned}\nRUN curl -fsSL https://example.com/ca.pem -o /ca.pem; \\\n    chmod 0644 /ca.pem\n`,
      ),
    ).toEqual(['download to /ca.pem is not checked against a pinned sha256']);
    expect(
      supplyChainProblems(
        `FROM ${pinned}\nARG SUM=${'b'.repeat(64)}\nRUN curl -fsSL https://example.com/ca.pem -o /ca.pem; \\\n    echo "\${SUM}  /ca.pem" | sha256sum -c -\n`,
      ),
    ).toEqual([]);
    expect(
      supplyChainProblems(
        `FROM ${pinned}\nRUN curl -fsSL https://e.com/ca.pem -o /ca.pem; echo "\${SUM}  /ca.pem" | sha256sum -c -\n`,
      ),
    ).toEqual(['download to /ca.pem is not checked against a pinned sha256']);
  });
});
