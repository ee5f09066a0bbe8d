/**
 * The evidence report as one self-contained HTML file a person opens in a browser: inline CSS and
 * inline SVG only, no script, no font, no image fetched from anywhere (a Content-Security-Policy
 * of `default-src 'none'` makes the browser refuse any fetch, so an auditor's copy stays the same
 * offline and years later). Per database: a green/red calendar of RPO compliance, plots of backup
 * size and drill RTO over time, and the tables behind them.
 */
import type { DatabaseEvidence, DayStatus, EvidenceReport } from '../../lambda/core/evidence/model';

export const DAY_COLOURS: Record<DayStatus, string> = { ok: '#2e7d32', gap: '#c62828', future: '#e0e0e0' };

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const mib = (bytes: number | null) => (bytes === null ? '-' : `${(bytes / 1_048_576).toFixed(2)} MiB`);
const yesNo = (v: boolean | null, none = 'not checked') => (v === null ? none : v ? 'yes' : 'NO');

interface Point {
  readonly t: number;
  readonly v: number;
  readonly label: string;
  readonly bad?: boolean;
}

/**
 * A small scatter/line plot in SVG user units, time on x. A horizontal `limit` line (the RTO
 * target) is drawn when given. Empty data still draws axes and says so, so the plot is never absent.
 */
export function svgPlot(o: {
  id: string;
  title: string;
  unit: string;
  points: readonly Point[];
  limit?: number;
  fromMs: number;
  toMs: number;
}): string {
  const w = 640;
  const h = 200;
  const pad = { l: 56, r: 12, t: 24, b: 28 };
  const maxV = Math.max(1e-9, o.limit ?? 0, ...o.points.map((p) => p.v)) * 1.1;
  const span = Math.max(1, o.toMs - o.fromMs);
  const x = (t: number) => pad.l + ((t - o.fromMs) / span) * (w - pad.l - pad.r);
  const y = (v: number) => h - pad.b - (v / maxV) * (h - pad.t - pad.b);
  const sorted = [...o.points].sort((a, b) => a.t - b.t);
  const line =
    sorted.length > 1
      ? `<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="${sorted
          .map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
          .join(' ')}"/>`
      : '';
  const dots = sorted
    .map(
      (p) =>
        `<circle class="point" cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="3.5" fill="${p.bad ? DAY_COLOURS.gap : '#1565c0'}"><title>${esc(p.label)}</title></circle>`,
    )
    .join('');
  const limit =
    o.limit !== undefined
      ? `<line class="limit" x1="${pad.l}" x2="${w - pad.r}" y1="${y(o.limit).toFixed(1)}" y2="${y(o.limit).toFixed(1)}" stroke="${DAY_COLOURS.gap}" stroke-dasharray="4 3"/><text x="${w - pad.r}" y="${(y(o.limit) - 4).toFixed(1)}" text-anchor="end" font-size="10" fill="${DAY_COLOURS.gap}">target ${o.limit.toFixed(1)} ${esc(o.unit)}</text>`
      : '';
  const ticks = [0, 0.5, 1]
    .map((f) => {
      const v = (maxV / 1.1) * f;
      return `<text x="${pad.l - 6}" y="${(y(v) + 3).toFixed(1)}" text-anchor="end" font-size="10">${v.toFixed(1)}</text>`;
    })
    .join('');
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const empty =
    sorted.length === 0
      ? `<text x="${w / 2}" y="${h / 2}" text-anchor="middle" font-size="12" fill="#757575">no data in this period</text>`
      : '';
  return (
    `<svg id="${esc(o.id)}" class="plot" role="img" aria-label="${esc(o.title)}" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">` +
    `<text x="${pad.l}" y="14" font-size="12" font-weight="bold">${esc(o.title)} (${esc(o.unit)})</text>` +
    `<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${h - pad.b}" stroke="#616161"/>` +
    `<line x1="${pad.l}" x2="${w - pad.r}" y1="${h - pad.b}" y2="${h - pad.b}" stroke="#616161"/>` +
    `${ticks}<text x="${pad.l}" y="${h - 8}" font-size="10">${day(o.fromMs)}</text>` +
    `<text x="${w - pad.r}" y="${h - 8}" font-size="10" text-anchor="end">${day(o.toMs - 1)}</text>` +
    `${limit}${line}${dots}${empty}</svg>`
  );
}

/** One square per day, weeks as columns (Monday on top), coloured by RPO status. */
export function svgCalendar(db: DatabaseEvidence): string {
  const size = 14;
  const gap = 3;
  const first = new Date(`${db.days[0].date}T00:00:00Z`);
  const offset = (first.getUTCDay() + 6) % 7; // Monday 0
  const cells = db.days
    .map((d, i) => {
      const slot = i + offset;
      const cx = Math.floor(slot / 7) * (size + gap);
      const cy = (slot % 7) * (size + gap);
      const title = `${d.date}: ${d.status === 'ok' ? 'RPO met' : d.status === 'gap' ? 'RPO NOT met' : 'not yet'}${d.maxAgeHours !== null ? ` (oldest ${d.maxAgeHours} h)` : ''}, ${d.backups.length} backup(s)`;
      return `<rect class="day day-${d.status}" data-date="${d.date}" data-status="${d.status}" x="${cx}" y="${cy + 16}" width="${size}" height="${size}" rx="2" fill="${DAY_COLOURS[d.status]}"><title>${esc(title)}</title></rect>`;
    })
    .join('');
  const weeks = Math.ceil((db.days.length + offset) / 7);
  const w = Math.max(weeks * (size + gap), 200);
  return (
    `<svg class="calendar" role="img" aria-label="RPO compliance calendar of ${esc(db.databaseId)}" viewBox="0 0 ${w} ${7 * (size + gap) + 16}" width="${w}" height="${7 * (size + gap) + 16}" xmlns="http://www.w3.org/2000/svg">` +
    `<text x="0" y="11" font-size="11">RPO compliance, one square per day (green met, red not met)</text>${cells}</svg>`
  );
}

function databaseSection(db: DatabaseEvidence, report: EvidenceReport): string {
  const fromMs = Date.parse(`${report.from}T00:00:00Z`);
  const toMs = Date.parse(`${report.to}T00:00:00Z`) + 86_400_000;
  const backups = db.days.flatMap((d) => d.backups);
  const s = db.summary;
  const sizePlot = svgPlot({
    id: `size-${db.databaseId}`,
    title: 'Backup size',
    unit: 'MiB',
    fromMs,
    toMs,
    points: backups
      .filter((b) => b.bytes !== null)
      .map((b) => ({
        t: Date.parse(b.committedAt),
        v: b.bytes! / 1_048_576,
        label: `${b.backupId}: ${mib(b.bytes)}`,
        bad: !b.countable,
      })),
  });
  const rtoDrills = db.drills.filter((d) => d.rtoSeconds !== null);
  const target =
    db.drills.length > 0 ? Math.min(...db.drills.map((d) => d.rtoTargetSeconds)) / 60 : undefined;
  const rtoPlot = svgPlot({
    id: `rto-${db.databaseId}`,
    title: 'Drill RTO',
    unit: 'minutes',
    fromMs,
    toMs,
    limit: target,
    points: rtoDrills.map((d) => ({
      t: Date.parse(d.startedAt),
      v: d.rtoSeconds! / 60,
      label: `${d.drillId}: ${d.status}, RTO ${(d.rtoSeconds! / 60).toFixed(1)} min`,
      bad: d.status !== 'PASSED',
    })),
  });
  const backupRows = db.days
    .map((d) => {
      if (d.backups.length === 0) {
        return `<tr class="${d.status}"><td>${d.date}</td><td colspan="7">${d.status === 'gap' ? 'no valid backup within the RPO' : d.status === 'future' ? '-' : 'no backup this day (RPO still met)'}</td></tr>`;
      }
      return d.backups
        .map(
          (b) =>
            `<tr class="${d.status}"><td>${d.date}</td><td>${esc(b.backupId)}</td><td>${b.tier}</td><td>${mib(b.bytes)}</td><td class="mono">${esc(b.sha256?.slice(0, 16) ?? '-')}</td><td>${yesNo(b.verified, 'never')}${b.verifyFailures.length ? ` (${esc(b.verifyFailures.join(', '))})` : ''}</td><td>${yesNo(b.replicaPresent)}</td><td>${esc(b.reason ?? (b.valid ? '' : `INVALID: ${b.problem ?? ''}`))}</td></tr>`,
        )
        .join('');
    })
    .join('');
  const drillRows = db.drills
    .map(
      (d) =>
        `<tr class="${d.status === 'PASSED' ? 'ok' : 'gap'}"><td>${esc(d.startedAt)}</td><td>${esc(d.drillId)}</td><td>${d.status}${d.failure ? `: ${esc(d.failure.step)} (${esc(d.failure.reason)})` : ''}</td><td>${d.rtoSeconds === null ? '-' : `${(d.rtoSeconds / 60).toFixed(1)} min`}</td><td>${(d.rtoTargetSeconds / 60).toFixed(0)} min${d.rtoMet === false ? ' EXCEEDED' : ''}</td><td>${d.checks ? `${d.checks.passed}/${d.checks.total}` : '-'}</td><td>${d.instanceReleased ? 'yes' : 'NO'}</td><td>${esc(d.restoredOn ?? '-')}</td></tr>`,
    )
    .join('');
  return `<section class="database" id="db-${esc(db.databaseId)}">
<h2>${esc(db.databaseId)}</h2>
<p class="summary">${s.daysCompliant} of ${s.daysJudged} days met the RPO; ${s.backups} backups (${s.verified} verified, ${s.verifyFailed} failed verification, ${s.unverified} never verified); ${s.drillsPassed} of ${s.drills} drills passed.${db.gapDays.length ? ` <strong>Days without a valid backup within the RPO: ${db.gapDays.join(', ')}.</strong>` : ''}</p>
${svgCalendar(db)}
<div class="plots">${sizePlot}${rtoPlot}</div>
<h3>Backups by day</h3>
<table class="backups"><thead><tr><th>Day</th><th>Backup</th><th>Tier</th><th>Size</th><th>SHA-256</th><th>Verified</th><th>Replica</th><th>Note</th></tr></thead><tbody>${backupRows}</tbody></table>
<h3>Restore drills</h3>
${db.drills.length ? `<table class="drills"><thead><tr><th>Started</th><th>Drill</th><th>Result</th><th>RTO</th><th>Target</th><th>Checks passed</th><th>Instance released</th><th>Restored on</th></tr></thead><tbody>${drillRows}</tbody></table>` : '<p>No drill in this period.</p>'}
</section>`;
}

function retentionSection(r: EvidenceReport['retention']): string {
  const lifecycle =
    'error' in r.lifecycle
      ? `<p>Lifecycle rules could not be read: ${esc(r.lifecycle.error)}</p>`
      : `<table><thead><tr><th>Rule</th><th>Prefix</th><th>Expires after</th><th>Transitions</th></tr></thead><tbody>${r.lifecycle.rules
          .map(
            (x) =>
              `<tr><td>${esc(x.id)}</td><td>${esc(x.prefix)}</td><td>${x.expirationDays ?? '-'} days</td><td>${esc(x.transitions.join('; ') || '-')}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const lock =
    'error' in r.objectLock
      ? `Object Lock configuration could not be read: ${esc(r.objectLock.error)}`
      : `Object Lock ${r.objectLock.enabled ? 'enabled' : 'NOT enabled'}${r.objectLock.mode ? `, default ${esc(r.objectLock.mode)} ${r.objectLock.days ?? ''}${r.objectLock.days !== undefined ? ' days' : ''}${r.objectLock.years !== undefined ? `${r.objectLock.years} years` : ''}` : ''}`;
  const observed = Object.entries(r.observedDays)
    .map(
      ([tier, o]) =>
        `<tr><td>${tier}</td><td>${o.backups}</td><td>${o.min}${o.max !== o.min ? `-${o.max}` : ''} days</td></tr>`,
    )
    .join('');
  return `<section class="retention"><h2>Retention and lock in force</h2><p>${lock}</p>${lifecycle}
<h3>Retention the backups carry (Object Lock retain-until)</h3><table><thead><tr><th>Tier</th><th>Backups</th><th>Locked for</th></tr></thead><tbody>${observed}</tbody></table></section>`;
}

export function renderHtml(report: EvidenceReport): string {
  const title = `Restorable evidence report ${report.from} to ${report.to}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#212121;max-width:1100px}
h1{font-size:1.5rem}h2{border-bottom:1px solid #bdbdbd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}th,td{border:1px solid #e0e0e0;padding:.2rem .5rem;text-align:left}
tr.gap td:first-child{border-left:4px solid ${DAY_COLOURS.gap}}tr.ok td:first-child{border-left:4px solid ${DAY_COLOURS.ok}}
.mono{font-family:ui-monospace,monospace}.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot,.calendar{display:block;margin:.5rem 0}
.meta{color:#616161;font-size:.85rem}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="meta">Bucket ${esc(report.bucket)}; generated ${esc(report.generatedAt)} (${report.clock === 'server' ? "S3's clock" : 'local clock'}); RPO ${report.rpoHours} h plus ${report.graceMinutes} min grace; built only from what the bucket holds (manifests, verification records, drill reports, bucket configuration).</p>
${report.databases.map((db) => databaseSection(db, report)).join('\n')}
${retentionSection(report.retention)}
</body></html>
`;
}
