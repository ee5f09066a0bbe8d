/**
 * The local stand-in for the orchestrator's Map (runBounded): never more than the limit in flight,
 * the limit actually used, every item run once, and one failing run never stopping the others.
 */
import { runBounded } from '../../lambda/core/fleet-runs';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runBounded', () => {
  it('runs every item once with at most `limit` in flight, and uses the limit', async () => {
    let running = 0;
    let observed = 0;
    const started: number[] = [];
    const { results, peak } = await runBounded([30, 10, 20, 5, 15, 25, 5], 3, async (ms, i) => {
      running += 1;
      observed = Math.max(observed, running);
      started.push(i);
      await tick(ms);
      running -= 1;
      return i * 2;
    });
    expect(observed).toBe(3);
    expect(peak).toBe(3);
    expect(started.slice(0, 3)).toEqual([0, 1, 2]);
    expect([...started].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(results).toEqual([0, 2, 4, 6, 8, 10, 12].map((value) => ({ status: 'fulfilled', value })));
  });

  it('settles a failing run and goes on with the others', async () => {
    const { results, peak } = await runBounded(['a', 'gone', 'c'], 1, async (id) => {
      await tick(1);
      if (id === 'gone') throw new Error('DATABASE_GONE: gone');
      return id;
    });
    expect(peak).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('DATABASE_GONE: gone'));
  });

  it('refuses a limit that is not a positive integer', async () => {
    await expect(runBounded([1], 0, async () => 1)).rejects.toThrow(/limit \(0\) must be a positive integer/);
  });
});
