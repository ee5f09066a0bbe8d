/**
 * Where a database's dumps, verifies and drills run: the per-database `runner` choice of the
 * config, the Fargate task size (validated against AWS's table of CPU and memory combinations),
 * and the size hint from which synth warns when Lambda's limits make it unsafe.
 *
 * The config (`databases[]`) spreads {@link RunnerSettingFields} into its schema and refines with
 * {@link refineRunnerSettings}; the FargateRunner construct validates its props with
 * {@link fargateSizeProblems}. One table, so the config and the construct cannot disagree.
 *
 * zod only: `cdk synth` loads this module and must not load the AWS SDK or `pg`.
 */
import { z } from 'zod';

export const RUNNERS = ['lambda', 'fargate'] as const;
export type RunnerKind = (typeof RUNNERS)[number];

/**
 * Fargate's task sizes: CPU units (1024 = 1 vCPU) → the memory (MiB) allowed with them, as
 * `[from, to, step]`. The 8 and 16 vCPU sizes need platform version 1.4.0 (the default, LATEST).
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
 */
export const FARGATE_CPU_MEMORY: Readonly<Record<number, readonly [number, number, number]>> = {
  256: [512, 2048, 512], // 512 MiB, 1 GiB, 2 GiB (the 1536 step in between is not offered)
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** The 256-unit size offers exactly these (its table row skips 1536). */
const SMALLEST_MEMORY = [512, 1024, 2048];

/**
 * Task ephemeral storage: 21-200 GiB when set; unset is Fargate's default 20 GiB.
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html
 */
export const FARGATE_MIN_EPHEMERAL_GIB = 21;
export const FARGATE_MAX_EPHEMERAL_GIB = 200;

/** A Fargate task size. */
export interface FargateSize {
  /** CPU units (1024 = 1 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384. */
  readonly cpu: number;
  /** Memory in MiB, one of the values Fargate allows with `cpu`. */
  readonly memoryMiB: number;
  /** Ephemeral storage in GiB (21-200). @default - Fargate's 20 GiB */
  readonly ephemeralStorageGiB?: number;
}

/**
 * 2 vCPU (zstd's worker threads, pg_dump and the upload each get a core's share) and 4 GiB:
 * the dump's Node process peaked at 147 MiB and with pg_dump and zstd at 210 MiB (BENCHMARKS.md);
 * the rest is page cache for pg_restore and room for zstd at higher levels.
 */
export const DEFAULT_FARGATE_SIZE: FargateSize = { cpu: 2048, memoryMiB: 4096 };

/** The memory values (MiB) Fargate allows with `cpu` units, or undefined for an unknown CPU. */
export function fargateMemoryOptions(cpu: number): number[] | undefined {
  if (cpu === 256) return [...SMALLEST_MEMORY];
  const row = FARGATE_CPU_MEMORY[cpu];
  if (!row) return undefined;
  const [from, to, step] = row;
  const out: number[] = [];
  for (let m = from; m <= to; m += step) out.push(m);
  return out;
}

/** Every problem with a Fargate size, each naming what came in and what is allowed (empty: valid). */
export function fargateSizeProblems(size: FargateSize): string[] {
  const problems: string[] = [];
  const memory = fargateMemoryOptions(size.cpu);
  if (!memory) {
    problems.push(
      `cpu ${size.cpu} is not a Fargate size: use one of ${Object.keys(FARGATE_CPU_MEMORY).join(', ')} (1024 = 1 vCPU)`,
    );
  } else if (!memory.includes(size.memoryMiB)) {
    const [from, to, step] = FARGATE_CPU_MEMORY[size.cpu];
    const allowed = size.cpu === 256 ? SMALLEST_MEMORY.join(', ') : `${from} to ${to} in steps of ${step}`;
    problems.push(
      `memoryMiB ${size.memoryMiB} is not allowed with cpu ${size.cpu}: Fargate allows ${allowed}`,
    );
  }
  const storage = size.ephemeralStorageGiB;
  if (
    storage !== undefined &&
    (!Number.isInteger(storage) || storage < FARGATE_MIN_EPHEMERAL_GIB || storage > FARGATE_MAX_EPHEMERAL_GIB)
  ) {
    problems.push(
      `ephemeralStorageGiB ${storage} must be a whole number from ${FARGATE_MIN_EPHEMERAL_GIB} to ${FARGATE_MAX_EPHEMERAL_GIB} ` +
        '(leave it out for the default 20 GiB)',
    );
  }
  return problems;
}

/** Throws one Error listing every problem of `size`. */
export function assertFargateSize(size: FargateSize): void {
  const problems = fargateSizeProblems(size);
  if (problems.length > 0) throw new Error(`invalid Fargate task size: ${problems.join('; ')}`);
}

/**
 * How a Fargate dump is laid out: `stream` (one custom-format archive streamed to S3, as on Lambda)
 * or `directory` (`pg_dump -Fd -j N` to task storage, each file its own object; dump-directory.ts).
 * Lambda always streams: a directory dump needs the whole archive on local disk and N cores.
 */
export const DUMP_LAYOUTS = ['stream', 'directory'] as const;
export type DumpLayout = (typeof DUMP_LAYOUTS)[number];

/** pg_dump -j / pg_restore -j: each job is one more database connection. */
export const MAX_JOBS = 64;

/**
 * Longest a Fargate run may take (the workflow's deadline for the task; hours). Fargate has no
 * limit of its own, but a run that never ends must fail and page; 48 h bounds a week's schedule.
 */
export const DEFAULT_FARGATE_TIMEOUT_HOURS = 12;
export const MAX_FARGATE_TIMEOUT_HOURS = 48;

/**
 * The share of a database (`pg_database_size`) the plain custom archive takes: 65 % measured on
 * realistic rows (BENCHMARKS.md). A drill writes the plain archive to local storage for
 * `pg_restore -j`; a directory dump writes its (compressed) files there before uploading them.
 */
export const PLAIN_ARCHIVE_SHARE = 0.65;

/** Fargate's storage when `ephemeralStorageGiB` is unset. */
export const FARGATE_DEFAULT_EPHEMERAL_GIB = 20;

/** `databases[].fargate`: the task size plus how the Fargate runner dumps and restores. */
export interface FargateSettings {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly ephemeralStorageGiB?: number;
  readonly layout: DumpLayout;
  /** @default - one per vCPU ({@link fargateJobs}) */
  readonly jobs?: number;
  readonly timeoutHours: number;
}

/** pg_dump -j / pg_restore -j of a Fargate task: the configured jobs, else one per vCPU. */
export function fargateJobs(settings: Pick<FargateSettings, 'cpu' | 'jobs'>): number {
  return settings.jobs ?? Math.max(1, Math.floor(settings.cpu / 1024));
}

export const FargateSizeSchema = z
  .strictObject({
    cpu: z
      .int()
      .default(DEFAULT_FARGATE_SIZE.cpu)
      .describe(`CPU units of the task (1024 = 1 vCPU); default ${DEFAULT_FARGATE_SIZE.cpu}.`),
    memoryMiB: z
      .int()
      .optional()
      .describe(
        'Memory of the task in MiB; Fargate allows only some values per cpu. Default: twice the CPU units ' +
          `(${DEFAULT_FARGATE_SIZE.memoryMiB} with the default cpu), the smallest Fargate offers.`,
      ),
    ephemeralStorageGiB: z
      .int()
      .optional()
      .describe(
        `Task storage in GiB (${FARGATE_MIN_EPHEMERAL_GIB}-${FARGATE_MAX_EPHEMERAL_GIB}), where drills write the ` +
          'archive and directory dumps their files; default 20.',
      ),
    layout: z
      .enum(DUMP_LAYOUTS)
      .default('stream')
      .describe(
        '"stream": one archive streamed to S3; "directory": pg_dump -Fd -j N to task storage, one object per file.',
      ),
    jobs: z
      .int()
      .min(1)
      .max(MAX_JOBS)
      .optional()
      .describe("pg_dump -j (directory layout) and the drill's pg_restore -j; default one per vCPU."),
    timeoutHours: z
      .int()
      .min(1)
      .max(MAX_FARGATE_TIMEOUT_HOURS)
      .default(DEFAULT_FARGATE_TIMEOUT_HOURS)
      .describe(
        `Longest a dump or a drill's restore may run on Fargate; default ${DEFAULT_FARGATE_TIMEOUT_HOURS}.`,
      ),
  })
  // Checked even when another field is invalid (`when`), so every problem is reported at once.
  .superRefine(
    (size, ctx) => {
      for (const message of fargateSizeProblems(withDefaultMemory(size))) {
        ctx.addIssue({ code: 'custom', message });
      }
    },
    {
      when: ({ value }) => {
        const v = value as { cpu?: unknown; memoryMiB?: unknown; ephemeralStorageGiB?: unknown };
        return (
          typeof v?.cpu === 'number' &&
          ['number', 'undefined'].includes(typeof v.memoryMiB) &&
          ['number', 'undefined'].includes(typeof v.ephemeralStorageGiB)
        );
      },
    },
  )
  .transform((s): FargateSettings => withDefaultMemory(s));

/** Memory left out: twice the CPU units (MiB), the smallest size Fargate offers with that CPU. */
function withDefaultMemory<T extends { cpu: number; memoryMiB?: number }>(s: T): T & { memoryMiB: number } {
  return { ...s, memoryMiB: s.memoryMiB ?? Math.max(512, s.cpu * 2) };
}

/** The fields `databases[]` spreads into its schema (refine the object with {@link refineRunnerSettings}). */
export const RunnerSettingFields = {
  runner: z
    .enum(RUNNERS)
    .default('lambda')
    .describe('Where dumps, verifies and drills run: "fargate" for databases past Lambda\'s 15 minutes.'),
  fargate: FargateSizeSchema.optional().describe(
    `The Fargate task (only with runner "fargate"): size, layout, jobs and timeout; default ${DEFAULT_FARGATE_SIZE.cpu} CPU units, ` +
      `${DEFAULT_FARGATE_SIZE.memoryMiB} MiB, 20 GiB of storage, stream layout.`,
  ),
  sizeHintGiB: z
    .number()
    .positive()
    .optional()
    .describe(
      'About how large the database is (pg_database_size, GiB); synth warns when Lambda cannot keep up.',
    ),
};

export interface RunnerSettings {
  readonly runner?: RunnerKind;
  readonly fargate?: FargateSettings;
  readonly sizeHintGiB?: number;
}

/**
 * Cross-field rules: Fargate settings only with the Fargate runner, so a size or a layout is never
 * silently unused (the directory layout in particular needs Fargate's storage and cores).
 */
export function refineRunnerSettings(settings: RunnerSettings, ctx: z.RefinementCtx): void {
  if (settings.fargate !== undefined && (settings.runner ?? 'lambda') !== 'fargate') {
    ctx.addIssue({
      code: 'custom',
      path: ['fargate'],
      message:
        settings.fargate.layout === 'directory'
          ? 'layout "directory" needs runner "fargate" (pg_dump -Fd writes the whole archive to local storage, ' +
            'which Lambda\'s 10 GiB of /tmp and 15 minutes cannot hold for the databases it is for): set runner to "fargate"'
          : 'is set but runner is "lambda": set runner to "fargate", or remove fargate',
    });
  }
}

/** The task storage a Fargate database needs for its largest local file set, in GiB. */
export function fargateStorageNeededGiB(sizeHintGiB: number): number {
  return Math.ceil(sizeHintGiB * PLAIN_ARCHIVE_SHARE);
}

/**
 * Why the Fargate task's storage may not hold this database's drill archive or directory dump
 * (the plain archive is about 65 % of the database), or undefined. A synth warning naming the fix.
 */
export function fargateStorageUnsafe(
  sizeHintGiB: number | undefined,
  settings: Pick<FargateSettings, 'ephemeralStorageGiB' | 'layout'> | undefined,
  { drills = true }: { readonly drills?: boolean } = {},
): string | undefined {
  if (sizeHintGiB === undefined) return undefined;
  if (!drills && (settings?.layout ?? 'stream') === 'stream') return undefined;
  const storage = settings?.ephemeralStorageGiB ?? FARGATE_DEFAULT_EPHEMERAL_GIB;
  const needed = fargateStorageNeededGiB(sizeHintGiB);
  if (needed <= storage) return undefined;
  const what = drills ? "a drill's plain archive" : 'the directory dump';
  return (
    `the Fargate task has ${storage} GiB of storage but ${what} of a ${sizeHintGiB} GiB database needs about ${needed} GiB ` +
    `(${PLAIN_ARCHIVE_SHARE * 100} % of the database). ` +
    (needed <= FARGATE_MAX_EPHEMERAL_GIB
      ? `Set fargate.ephemeralStorageGiB to ${Math.max(FARGATE_MIN_EPHEMERAL_GIB, needed)} or more.`
      : `That is past Fargate's ${FARGATE_MAX_EPHEMERAL_GIB} GiB: set fargate.ephemeralStorageGiB to ${FARGATE_MAX_EPHEMERAL_GIB} and ` +
        'back up fewer schemas per database entry (schemas.include), or disable drills for it.')
  );
}

/** The three fields on their own, for checking them apart from a whole database entry. */
export const RunnerSettingsSchema = z.strictObject(RunnerSettingFields).superRefine(refineRunnerSettings);

// ---------------------------------------------------------------------------------------------
// When Lambda is unsafe
// ---------------------------------------------------------------------------------------------

/**
 * The largest database (GiB of `pg_database_size`) each compression dumps within 13 of Lambda's
 * 15 minutes, projected in BENCHMARKS.md ("Largest database per runner") on a 2-core machine:
 * 21 GiB with zstd, 11 GiB with pg_dump's gzip (the run at load ~20; the run at load ~25 projected
 * 11 and 4). `none` skips the compressor (pg_dump -Z0 alone measured faster than the zstd pipe) but
 * uploads about three times the bytes; it is not measured on its own, so it gets zstd's figure.
 */
export const LAMBDA_PROJECTED_DUMP_GIB: Readonly<Record<'zstd' | 'gzip' | 'none', number>> = {
  zstd: 21,
  gzip: 11,
  none: 21,
};

/**
 * A drill on Lambda writes the plain archive (65 % of the database) to at most 10 GiB of /tmp and
 * restores within 15 minutes: projected 13 GiB of database, bound by time (BENCHMARKS.md).
 */
export const LAMBDA_PROJECTED_DRILL_GIB = 13;

/**
 * The share of a projection treated as safe. The projections are linear from a 105 MiB database
 * on a shared 2-core machine whose rates moved by a factor of two with load; indexes, TOAST and
 * the network differ per database. Half keeps a run that is twice as slow inside the limit.
 */
export const LAMBDA_SAFETY_FACTOR = 0.5;

/**
 * Why running this database on Lambda is unsafe, or undefined when it fits with margin. The text is
 * a synth warning: it names the limit, the projection and the fix. `drills: false` for a database
 * whose drills are disabled (only the dump then decides).
 */
export function lambdaUnsafe(
  sizeHintGiB: number | undefined,
  compression: 'zstd' | 'gzip' | 'none' = 'zstd',
  { drills = true }: { readonly drills?: boolean } = {},
): string | undefined {
  if (sizeHintGiB === undefined) return undefined;
  if (!Number.isFinite(sizeHintGiB) || sizeHintGiB <= 0) {
    throw new Error(`sizeHintGiB must be a positive number of GiB, got ${sizeHintGiB}`);
  }
  const reasons: string[] = [];
  const dumpLimit = LAMBDA_PROJECTED_DUMP_GIB[compression] * LAMBDA_SAFETY_FACTOR;
  if (sizeHintGiB > dumpLimit) {
    reasons.push(
      `a ${compression} dump of ${sizeHintGiB} GiB may not finish in Lambda's 15 minutes ` +
        `(projected ${LAMBDA_PROJECTED_DUMP_GIB[compression]} GiB, safe up to ${dumpLimit} GiB)`,
    );
  }
  const drillLimit = LAMBDA_PROJECTED_DRILL_GIB * LAMBDA_SAFETY_FACTOR;
  if (drills && sizeHintGiB > drillLimit) {
    reasons.push(
      `a drill may not fit its archive in 10 GiB of /tmp and restore in 15 minutes ` +
        `(projected ${LAMBDA_PROJECTED_DRILL_GIB} GiB, safe up to ${drillLimit} GiB)`,
    );
  }
  if (reasons.length === 0) return undefined;
  return `Lambda is unsafe for this database: ${reasons.join('; ')}. Set runner: "fargate" (BENCHMARKS.md, "Largest database per runner").`;
}

/**
 * What to change when a dump ran out of time (the text after a `DEADLINE` failure): on Lambda,
 * move the database to Fargate; on Fargate, give the task more time or more cores and jobs.
 */
export function deadlineAdvice(runner: RunnerKind = 'lambda'): string {
  return runner === 'fargate'
    ? 'the Fargate task ran out of time: raise databases[].fargate.timeoutHours, or give the task more vCPUs ' +
        '(fargate.cpu) and dump in parallel (fargate.layout "directory" with fargate.jobs); see RUNBOOK, "Moving a database to Fargate"'
    : 'a database this size needs more than Lambda\'s 15 minutes: set databases[].runner to "fargate" for it ' +
        '(and sizeHintGiB, so synth checks the task storage); see RUNBOOK, "Moving a database to Fargate"';
}
