/**
 * `restorable demo --fleet 3`: three seeded databases in one local cluster, each one backed up,
 * verified (the replica copy included) and drilled into its own throwaway cluster, through the
 * fleet's run items, never more at once than the bounds allow (measured from each run's own start
 * and end, not from the runner's counter).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runFleetDemo, type RunSpan } from '../../src/cli/demo-fleet';
import { runMain } from '../support/cli-main';

jest.setTimeout(600_000);

/** The most spans that overlap at one moment. */
function maxOverlap(spans: readonly RunSpan[]): number {
  const events = spans.flatMap((s) => [
    [s.startedAt, 1],
    [s.endedAt, -1],
  ]);
  // Ends before starts at the same millisecond: touching runs did not overlap.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, delta] of events) {
    now += delta;
    most = Math.max(most, now);
  }
  return most;
}

const savedEnv = { ...process.env };
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-fleet-'));
  process.env.TMPDIR = tmp;
});

afterEach(() => {
  process.env = { ...savedEnv };
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('three databases: each backed up, verified OK and drilled PASSED; at most 2 backups and 1 drill at once', async () => {
  const lines: string[] = [];
  const result = await runFleetDemo(
    { databases: 3, small: true },
    { out: (t) => lines.push(t), err: (t) => lines.push(t) },
  );
  const stdout = lines.join('\n');

  expect(result.databases.map((d) => d.databaseId)).toEqual(['shop-1', 'shop-2', 'shop-3']);
  for (const db of result.databases) {
    expect(db.error).toBeUndefined();
    expect(db.backup?.bytes).toBeGreaterThan(0);
    expect(db.verify).toEqual({ ok: true, failed: [] });
    expect(db.drill).toMatchObject({ status: 'PASSED' });
    expect(db.drill!.rtoSeconds).toBeGreaterThan(0);
    expect(stdout).toMatch(new RegExp(`^${db.databaseId} +${db.backup!.backupId} .* OK +PASSED `, 'm'));
  }
  expect(result.ok).toBe(true);
  expect(result.limits).toEqual({ backups: 2, drills: 1 });
  // Bounded, and the bound was used: two backups ran together, drills one at a time.
  expect(maxOverlap(result.databases.map((d) => d.backup!.span))).toBe(2);
  expect(maxOverlap(result.databases.map((d) => d.drill!.span))).toBe(1);
  expect(result.peak).toEqual({ backups: 2, drills: 1 });
  expect(stdout).toMatch(/backups: at most 2 at once \(maxConcurrentBackups 2\); drills: at most 1 at once/);
  expect(stdout).toMatch(/cleaned up: clusters stopped and removed, S3 server stopped/);
  // Nothing left behind: clusters and the S3 store were in TMPDIR.
  expect(fs.readdirSync(tmp).filter((f) => !f.startsWith('tsx-'))).toEqual([]);
});

test('the CLI refuses fleet bounds without --fleet and a bound the fleet schema refuses', async () => {
  expect(await runMain('demo', '--max-concurrent-backups', '3')).toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/--max-concurrent-backups and --max-concurrent-drills need --fleet <n>/),
  });
  expect(await runMain('demo', '--fleet', '3', '--max-concurrent-drills', '41', '--small')).toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/--max-concurrent-drills \(41\) must be at most 40/),
  });
  expect(await runMain('demo', '--fleet', '0')).toMatchObject({
    stderr: expect.stringMatching(/--fleet must be a positive integer/),
  });
});
