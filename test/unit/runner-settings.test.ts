import {
  assertFargateSize,
  fargateMemoryOptions,
  fargateSizeProblems,
  lambdaUnsafe,
  RunnerSettingsSchema,
} from '../../lambda/core/runner-settings';

describe('Fargate task sizes', () => {
  it.each([
    [256, 512],
    [256, 2048],
    [512, 4096],
    [1024, 2048],
    [2048, 16384],
    [4096, 30720],
    [8192, 61440],
    [16384, 122880],
  ])('accepts cpu %i with %i MiB', (cpu, memoryMiB) => {
    expect(fargateSizeProblems({ cpu, memoryMiB })).toEqual([]);
  });

  it('offers AWS table steps: 1 GiB steps up to 4 vCPU, 4 GiB at 8 vCPU, 8 GiB at 16 vCPU', () => {
    expect(fargateMemoryOptions(256)).toEqual([512, 1024, 2048]);
    expect(fargateMemoryOptions(512)).toEqual([1024, 2048, 3072, 4096]);
    expect(fargateMemoryOptions(8192)?.slice(0, 3)).toEqual([16384, 20480, 24576]);
    expect(fargateMemoryOptions(16384)?.length).toBe(12);
    expect(fargateMemoryOptions(3000)).toBeUndefined();
  });

  it('rejects a CPU value Fargate does not offer, naming the allowed ones', () => {
    expect(() => assertFargateSize({ cpu: 3000, memoryMiB: 8192 })).toThrow(
      /cpu 3000 is not a Fargate size: use one of 256, 512, 1024, 2048, 4096, 8192, 16384/,
    );
  });

  it('rejects memory outside the range of its CPU, naming the range', () => {
    expect(() => assertFargateSize({ cpu: 1024, memoryMiB: 16384 })).toThrow(
      /memoryMiB 16384 is not allowed with cpu 1024: Fargate allows 2048 to 8192 in steps of 1024/,
    );
    expect(() => assertFargateSize({ cpu: 256, memoryMiB: 1536 })).toThrow(
      /memoryMiB 1536 is not allowed with cpu 256: Fargate allows 512, 1024, 2048/,
    );
  });

  it('rejects memory off the step of its CPU', () => {
    expect(() => assertFargateSize({ cpu: 8192, memoryMiB: 17408 })).toThrow(/in steps of 4096/);
  });

  it('rejects ephemeral storage outside 21-200 GiB, and reports every problem at once', () => {
    expect(() => assertFargateSize({ cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 20 })).toThrow(
      /ephemeralStorageGiB 20 must be a whole number from 21 to 200/,
    );
    expect(() => assertFargateSize({ cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 201 })).toThrow(
      /ephemeralStorageGiB 201/,
    );
    expect(fargateSizeProblems({ cpu: 2048, memoryMiB: 1024, ephemeralStorageGiB: 500 })).toHaveLength(2);
    expect(fargateSizeProblems({ cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 200 })).toEqual([]);
  });
});

/** Each problem as `path: message`. */
function issues(input: unknown): string[] {
  const r = RunnerSettingsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('the runner settings of a database', () => {
  it('defaults to the Lambda runner', () => {
    expect(RunnerSettingsSchema.parse({})).toEqual({ runner: 'lambda' });
  });

  it('takes a Fargate size with the Fargate runner', () => {
    const parsed = RunnerSettingsSchema.parse({
      runner: 'fargate',
      fargate: { cpu: 4096, memoryMiB: 8192, ephemeralStorageGiB: 120 },
      sizeHintGiB: 80,
    });
    expect(parsed.fargate).toEqual({
      cpu: 4096,
      memoryMiB: 8192,
      ephemeralStorageGiB: 120,
      layout: 'stream',
      timeoutHours: 12,
    });
  });

  it('refuses a Fargate size that would be ignored because the runner is Lambda', () => {
    expect(() => RunnerSettingsSchema.parse({ fargate: { cpu: 1024, memoryMiB: 2048 } })).toThrow(
      /fargate[\s\S]*is set but runner is .*lambda.*: set runner to .*fargate.*, or remove fargate/,
    );
    expect(issues({ fargate: { cpu: 1024, memoryMiB: 2048 } })).toEqual([
      'fargate: is set but runner is "lambda": set runner to "fargate", or remove fargate',
    ]);
  });

  it('refuses an invalid Fargate combination through the schema, with the table message', () => {
    expect(() =>
      RunnerSettingsSchema.parse({ runner: 'fargate', fargate: { cpu: 512, memoryMiB: 8192 } }),
    ).toThrow(/memoryMiB 8192 is not allowed with cpu 512/);
  });

  it('refuses unknown runners and non-positive size hints', () => {
    expect(() => RunnerSettingsSchema.parse({ runner: 'batch' })).toThrow(/lambda|fargate/);
    expect(() => RunnerSettingsSchema.parse({ sizeHintGiB: 0 })).toThrow(/sizeHintGiB|>0/);
  });
});

describe('lambdaUnsafe', () => {
  it('says nothing without a size hint, or for a database well within the projection', () => {
    expect(lambdaUnsafe(undefined, 'zstd')).toBeUndefined();
    expect(lambdaUnsafe(5, 'zstd')).toBeUndefined();
  });

  it('warns for a zstd database past half the 21 GiB projection, naming the fix', () => {
    expect(lambdaUnsafe(10.5, 'zstd', { drills: false })).toBeUndefined();
    const why = lambdaUnsafe(11, 'zstd', { drills: false });
    expect(why).toMatch(/zstd dump of 11 GiB may not finish in Lambda's 15 minutes/);
    expect(why).toMatch(/projected 21 GiB, safe up to 10.5 GiB/);
    expect(why).toMatch(/Set runner: "fargate"/);
  });

  it('is stricter for gzip, which dumps at about half the rate', () => {
    expect(lambdaUnsafe(6, 'gzip')).toMatch(/gzip dump of 6 GiB.*safe up to 5.5 GiB/);
    expect(lambdaUnsafe(6, 'zstd')).toBeUndefined();
    expect(lambdaUnsafe(6, 'none')).toBeUndefined();
  });

  it('warns about drills once the archive would not fit /tmp in time, even if the dump fits', () => {
    const why = lambdaUnsafe(7, 'zstd');
    expect(why).toMatch(/drill may not fit its archive in 10 GiB of \/tmp/);
    expect(why).not.toMatch(/dump of/);
    expect(lambdaUnsafe(7, 'zstd', { drills: false })).toBeUndefined();
  });

  it('throws on a size hint that is not a positive number', () => {
    expect(() => lambdaUnsafe(-1, 'zstd')).toThrow(/sizeHintGiB must be a positive number of GiB, got -1/);
    expect(() => lambdaUnsafe(Number.NaN, 'gzip')).toThrow(/sizeHintGiB must be a positive number/);
  });
});
