/** One entry point from a report to its text in the chosen format (CLI and the monthly Lambda). */
import type { EvidenceReport } from '../../lambda/core/evidence/model';
import { renderHtml } from './html';
import { renderMarkdown, type ReportFormat } from './markdown';

export { REPORT_FORMATS, type ReportFormat } from './markdown';

export function renderReport(report: EvidenceReport, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'md':
      return renderMarkdown(report);
    case 'html':
      return renderHtml(report);
  }
}

export const REPORT_CONTENT_TYPES: Record<ReportFormat, string> = {
  json: 'application/json',
  md: 'text/markdown; charset=utf-8',
  html: 'text/html; charset=utf-8',
};
