/**
 * What one Restorable alarm is made of ({@link AlarmSpec}), and the shape most of them share:
 * one event pages ({@link failureAlarm}). `Monitoring` turns specs into alarms that page the
 * on-call topic and name their RUNBOOK.md section.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** One failure pages: a backup system has no tolerable failure rate. */
export const FAILURE_THRESHOLD = 1;

export interface AlarmSpec {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  readonly description: string;
  readonly evaluationPeriods?: number;
  /** The RUNBOOK.md section (anchor) that says what to do. */
  readonly runbook: string;
}

/** Creates the alarm `id` of one scope (its name and runbook section follow from the id). */
export type AlarmFactory = (id: string, spec: Omit<AlarmSpec, 'runbook'>) => cloudwatch.Alarm;

/**
 * An event alarm: one event in a period pages. Missing data is not breaching: no event means
 * nothing failed (the "did not happen" alarms are the stale ones, which say otherwise).
 */
export function failureAlarm(metric: cloudwatch.IMetric, description: string): Omit<AlarmSpec, 'runbook'> {
  return {
    metric,
    threshold: FAILURE_THRESHOLD,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    description,
  };
}

/** `BackupFailed` → `backup-failed`: alarm names and runbook anchors. */
export function kebab(id: string): string {
  return id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
