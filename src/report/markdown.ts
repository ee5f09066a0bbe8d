/**
 * The evidence report as Markdown (for a ticket, a wiki page or a pull request): the same facts as
 * the HTML report, as tables, without the plots.
 */
import type { EvidenceReport } from '../../lambda/core/evidence/model';

const cell = (s: unknown) => String(s).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const row = (cells: unknown[]) => `| ${cells.map(cell).join(' | ')} |`;
const head = (cells: string[]) => [row(cells), row(cells.map(() => '---'))].join('\n');
const mib = (b: number | null) => (b === null ? '-' : `${(b / 1_048_576).toFixed(2)} MiB`);
const tri = (v: boolean | null, none: string) => (v === null ? none : v ? 'yes' : 'NO');

export function renderMarkdown(r: EvidenceReport): string {
  const out: string[] = [
    `# Restorable evidence report ${r.from} to ${r.to}`,
    '',
    `Bucket \`${r.bucket}\`, generated ${r.generatedAt} (${r.clock === 'server' ? "S3's clock" : 'local clock'}). ` +
      `RPO ${r.rpoHours} h + ${r.graceMinutes} min grace. Built only from what the bucket holds.`,
  ];
  for (const db of r.databases) {
    const s = db.summary;
    out.push(
      '',
      `## ${db.databaseId}`,
      '',
      `${s.daysCompliant} of ${s.daysJudged} days met the RPO; ${s.backups} backups (${s.verified} verified, ` +
        `${s.verifyFailed} failed verification, ${s.unverified} never verified); ${s.drillsPassed} of ${s.drills} drills passed.`,
      '',
      `Days without a valid backup within the RPO: ${db.gapDays.length ? db.gapDays.join(', ') : 'none'}.`,
      '',
      '### Backups by day',
      '',
      head(['Day', 'RPO', 'Backup', 'Tier', 'Size', 'SHA-256', 'Verified', 'Replica', 'Note']),
    );
    for (const d of db.days) {
      const rpo = d.status === 'ok' ? 'met' : d.status === 'gap' ? '**NOT met**' : '-';
      if (d.backups.length === 0) out.push(row([d.date, rpo, '-', '-', '-', '-', '-', '-', '']));
      for (const b of d.backups) {
        out.push(
          row([
            d.date,
            rpo,
            b.backupId,
            b.tier,
            mib(b.bytes),
            b.sha256 ?? '-',
            tri(b.verified, 'never') + (b.verifyFailures.length ? ` (${b.verifyFailures.join(', ')})` : ''),
            tri(b.replicaPresent, 'not checked'),
            b.reason ?? (b.valid ? '' : `INVALID: ${b.problem ?? ''}`),
          ]),
        );
      }
    }
    out.push('', '### Restore drills', '');
    if (db.drills.length === 0) out.push('No drill in this period.');
    else {
      out.push(
        head([
          'Started',
          'Drill',
          'Result',
          'RTO',
          'Target',
          'Checks passed',
          'Instance released',
          'Restored on',
        ]),
      );
      for (const d of db.drills) {
        out.push(
          row([
            d.startedAt,
            d.drillId,
            d.status + (d.failure ? `: ${d.failure.step} (${d.failure.reason})` : ''),
            d.rtoSeconds === null ? '-' : `${(d.rtoSeconds / 60).toFixed(1)} min`,
            `${(d.rtoTargetSeconds / 60).toFixed(0)} min${d.rtoMet === false ? ' EXCEEDED' : ''}`,
            d.checks ? `${d.checks.passed}/${d.checks.total}` : '-',
            d.instanceReleased ? 'yes' : 'NO',
            d.restoredOn ?? '-',
          ]),
        );
      }
    }
  }
  const ret = r.retention;
  out.push('', '## Retention and lock in force', '');
  if ('error' in ret.objectLock)
    out.push(`Object Lock configuration could not be read: ${ret.objectLock.error}`);
  else
    out.push(
      `Object Lock ${ret.objectLock.enabled ? 'enabled' : 'NOT enabled'}` +
        (ret.objectLock.mode
          ? `, default ${ret.objectLock.mode} ${ret.objectLock.days !== undefined ? `${ret.objectLock.days} days` : `${ret.objectLock.years} years`}`
          : ''),
    );
  out.push('');
  if ('error' in ret.lifecycle) out.push(`Lifecycle rules could not be read: ${ret.lifecycle.error}`);
  else {
    out.push(head(['Rule', 'Prefix', 'Expires after', 'Transitions']));
    for (const x of ret.lifecycle.rules) {
      out.push(
        row([
          x.id,
          x.prefix,
          x.expirationDays === undefined ? '-' : `${x.expirationDays} days`,
          x.transitions.join('; ') || '-',
        ]),
      );
    }
  }
  out.push('', head(['Tier', 'Backups', 'Locked for (retain-until)']));
  for (const [tier, o] of Object.entries(ret.observedDays)) {
    out.push(row([tier, o.backups, `${o.min}${o.max !== o.min ? `-${o.max}` : ''} days`]));
  }
  return `${out.join('\n')}\n`;
}

/** json | md | html → the report text. */
export type ReportFormat = 'json' | 'md' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['json', 'md', 'html'];
