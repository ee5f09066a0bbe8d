/**
 * The HTML evidence report in a real browser (Debian's headless Chromium through playwright-core):
 * built from a bucket in the local S3 server holding ten days of backups with a gap, verification
 * records and two drills; the file must render its plots and calendar, colour the gap day red,
 * log no console error and fetch nothing (it is one self-contained file).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildEvidenceReport } from '../../lambda/core/evidence/collect';
import type { EvidenceReport } from '../../lambda/core/evidence/model';
import { writeMonthlyReport } from '../../lambda/core/evidence/monthly';
import { keysOfManifest } from '../../lambda/core/manifest';
import { readText } from '../../lambda/core/s3';
import { recordVerification } from '../../lambda/core/verification';
import type { VerifyResult } from '../../lambda/core/verify';
import { DAY_COLOURS, renderHtml } from '../../src/report/html';
import { putFakeBackup } from '../support/fake-backup';
import { startS3Harness, type S3Harness } from '../support/harness';

jest.setTimeout(120_000);

const CHROMIUM = '/usr/bin/chromium';
/** The browser's window, as far as these checks use it (the tests compile without the DOM lib). */
type Styles = { getComputedStyle(e: unknown): { fill: string } };
let h: S3Harness;
let report: EvidenceReport;
let context: BrowserContext;
let profile: string;
let htmlFile: string;

const DAY = 86_400_000;
const start = Date.parse('2026-04-01T02:00:00Z');

beforeAll(async () => {
  h = await startS3Harness();
  for (let i = -1; i < 10; i++) {
    // From Mar 31, so Apr 1 is covered from midnight.
    if (i === 4) continue; // 2026-04-05: no backup
    const at = new Date(start + i * DAY);
    const m = await putFakeBackup(h.s3, h.bucket, { databaseId: 'orders', at, bytes: 200_000 + i * 25_000 });
    const key = keysOfManifest(m).manifest;
    fs.utimesSync(h.s3server.objectPath(h.bucket, key), at, at);
    const result: VerifyResult = {
      ok: true,
      pending: false,
      backupId: m.backupId,
      databaseId: 'orders',
      manifestKey: key,
      checks: [{ name: 'replica', status: 'pass', ok: true, detail: 'present' }],
      durationSeconds: 1,
    };
    await recordVerification({
      s3: h.s3,
      bucket: h.bucket,
      result,
      by: 'workflow',
      manifest: m,
      now: () => at,
    });
  }
  for (const [day, status, rto] of [
    ['2026-04-03', 'PASSED', 900],
    ['2026-04-08', 'FAILED', 4200],
  ] as const) {
    const drill = {
      formatVersion: 1,
      drillId: `orders-drill-${day}`,
      databaseId: 'orders',
      backupId: null,
      status,
      ...(status === 'FAILED' ? { failure: { step: 'rto', reason: 'RTO exceeds the target' } } : {}),
      startedAt: `${day}T03:00:00.000Z`,
      rtoSeconds: rto,
      rtoTargetSeconds: 3600,
      checks: { passed: 12, failed: 0, total: 12 },
      ephemeral: { id: 'x', released: true },
      source: { kind: 'replica' },
    };
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.bucket,
        Key: `drills/orders/2026-04/${drill.drillId}.json`,
        Body: JSON.stringify(drill),
      }),
    );
  }
  report = await buildEvidenceReport({ s3: h.s3, bucket: h.bucket, from: '2026-04-01', to: '2026-04-10' });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'restorable-chromium-'));
  htmlFile = path.join(profile, 'report.html');
  fs.writeFileSync(htmlFile, renderHtml(report));
  context = await chromium.launchPersistentContext(path.join(profile, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await context?.close();
  await h?.stop();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test('the report finds the gap from the bucket alone', () => {
  expect(report.databases.map((d) => d.databaseId)).toEqual(['orders']);
  // Apr 4 02:00 → Apr 6 02:00 without a backup: Apr 5 all day and Apr 6 until 02:00.
  expect(report.databases[0].gapDays).toEqual(['2026-04-05', '2026-04-06']);
});

test('renders in headless Chromium: plots and calendar visible, gap day red, no console error, no request', async () => {
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  const url = `file://${htmlFile}`;
  await page.goto(url, { waitUntil: 'load' });

  expect(await page.title()).toBe('Restorable evidence report 2026-04-01 to 2026-04-10');
  for (const id of ['size-orders', 'rto-orders']) {
    const plot = page.locator(`svg#${id}`);
    await expect(plot.isVisible()).resolves.toBe(true);
    const box = await plot.boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(100);
  }
  expect(await page.locator('svg#size-orders circle.point').count()).toBe(9);
  expect(await page.locator('svg#rto-orders circle.point').count()).toBe(2);
  expect(await page.locator('svg#rto-orders line.limit').count()).toBe(1);
  // The failed drill's point is red.
  const rtoFills = await page
    .locator('svg#rto-orders circle.point')
    .evaluateAll((els) => els.map((e) => (globalThis as unknown as Styles).getComputedStyle(e).fill));
  expect(rtoFills).toEqual(['rgb(21, 101, 192)', 'rgb(198, 40, 40)']);

  const cells = page.locator('svg.calendar rect.day');
  expect(await cells.count()).toBe(10);
  const fillOf = (date: string) =>
    page
      .locator(`svg.calendar rect[data-date="${date}"]`)
      .evaluate((e) => (globalThis as unknown as Styles).getComputedStyle(e).fill);
  expect(await fillOf('2026-04-05')).toBe('rgb(198, 40, 40)');
  expect(await fillOf('2026-04-06')).toBe('rgb(198, 40, 40)');
  expect(await fillOf('2026-04-04')).toBe('rgb(46, 125, 50)');
  expect(DAY_COLOURS.gap).toBe('#c62828');
  await expect(page.locator('svg.calendar rect[data-date="2026-04-05"]').isVisible()).resolves.toBe(true);

  const text = await page.locator('body').innerText();
  expect(text).toContain('Days without a valid backup within the RPO: 2026-04-05, 2026-04-06.');
  expect(text).toContain('8 of 10 days met the RPO');
  expect(text).toMatch(/FAILED: rto/);

  expect(consoleErrors).toEqual([]);
  expect(requests).toEqual([url]);
  await page.close();
});

test('the monthly run writes the month in every format under reports/<yyyy-mm>/, once', async () => {
  const result = await writeMonthlyReport({
    s3: h.s3,
    bucket: h.bucket,
    month: '2026-04',
    objectLockMode: 'NONE',
  });
  expect(result.keys).toEqual({
    json: 'reports/2026-04/evidence.json',
    md: 'reports/2026-04/evidence.md',
    html: 'reports/2026-04/evidence.html',
  });
  expect(result.databases).toEqual([
    {
      databaseId: 'orders',
      // The last backup is Apr 10's: from Apr 11 on, the rest of the month is a gap.
      gapDays: ['2026-04-05', '2026-04-06', ...Array.from({ length: 20 }, (_, i) => `2026-04-${i + 11}`)],
      drills: 2,
      drillsPassed: 1,
    },
  ]);
  const json = JSON.parse(await readText(h.s3, h.bucket, result.keys.json)) as EvidenceReport;
  expect([json.from, json.to]).toEqual(['2026-04-01', '2026-04-30']);
  expect(await readText(h.s3, h.bucket, result.keys.html)).toContain('<svg id="size-orders"');
  // A month already reported is never replaced.
  await expect(
    writeMonthlyReport({ s3: h.s3, bucket: h.bucket, month: '2026-04', objectLockMode: 'NONE' }),
  ).rejects.toThrow();
});
