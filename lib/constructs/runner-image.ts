/**
 * The RunnerImage construct: the one container image every runner function uses (the handlers
 * plus pg_dump/pg_restore of each supported major), and what the image build leaves out.
 */
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import * as ecr_assets from 'aws-cdk-lib/aws-ecr-assets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { RUNNER_PG_MAJORS } from '../../lambda/core/pg-majors';
import { Construct } from 'constructs';

/** The Lambda entry points baked into the runner image; the image's CMD is `<name>.handler`. */
export type RunnerHandler = 'dump' | 'verify' | 'freshness' | 'drill' | 'sweeper' | 'report' | 'discovery';

/** The repository root: the image's build context (see lambda/Dockerfile and .dockerignore). */
export const REPOSITORY_ROOT = path.join(__dirname, '..', '..');

/**
 * Paths never needed in the build context, on top of the repository's `.dockerignore` (which
 * lists what the image does need). Keeping `node_modules`, `cdk.out` and `.git` out keeps synth
 * fast: it fingerprints and stages the context, it never builds it.
 */
export const RUNNER_IMAGE_EXCLUDES: readonly string[] = [
  'node_modules',
  'cdk.out',
  '.git',
  'coverage',
  'test',
  'bench',
  'docs',
  '.restorable-demo',
];

export interface RunnerImageProps {
  /**
   * The Docker build context.
   * @default - the repository root
   */
  readonly directory?: string;

  /**
   * The Dockerfile, relative to `directory`.
   * @default 'lambda/Dockerfile'
   */
  readonly file?: string;
}

/**
 * The one container image every Restorable function runs: Node plus `pg_dump`/`pg_restore` for
 * every supported PostgreSQL major. It is built once per stack (one `DockerImageAsset`), and each
 * function selects its entry point with the image CMD (`dump.handler`, `verify.handler`, ...).
 *
 * Synth only fingerprints and stages the build context; `docker build` runs at deploy (asset
 * publishing), so `cdk synth` needs neither Docker nor credentials.
 *
 * The image is built for ARM64 (Graviton: cheaper per GB-second, and the functions are I/O bound).
 */
export class RunnerImage extends Construct {
  /**
   * The stack's shared runner image, created on first use, so every function of the stack
   * references the same asset.
   */
  public static of(scope: Construct): RunnerImage {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild(RunnerImage.SINGLETON_ID);
    if (existing instanceof RunnerImage) return existing;
    return new RunnerImage(stack, RunnerImage.SINGLETON_ID);
  }

  private static readonly SINGLETON_ID = 'RunnerImage';

  /** The image asset (built and pushed to the bootstrap ECR repository at deploy time). */
  public readonly asset: ecr_assets.DockerImageAsset;

  constructor(scope: Construct, id: string, props: RunnerImageProps = {}) {
    super(scope, id);
    this.asset = new ecr_assets.DockerImageAsset(this, 'Resource', {
      directory: props.directory ?? REPOSITORY_ROOT,
      file: props.file ?? path.join('lambda', 'Dockerfile'),
      platform: ecr_assets.Platform.LINUX_ARM64,
      exclude: [...RUNNER_IMAGE_EXCLUDES],
      // The majors the image carries are data in lambda/core/pg-bin.ts, not a second list here.
      buildArgs: { PG_MAJORS: RUNNER_PG_MAJORS.join(' ') },
    });
  }

  /** Lambda code for one entry point of the image. */
  public code(handler: RunnerHandler): lambda.DockerImageCode {
    return lambda.DockerImageCode.fromEcr(this.asset.repository, {
      tagOrDigest: this.asset.imageTag,
      cmd: [`${handler}.handler`],
    });
  }
}
