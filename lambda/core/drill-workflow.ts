/**
 * The contract between the drill state machine (lib/constructs/restore-drill-workflow.ts) and the
 * drill handler (lambda/handlers/drill.ts): the action each task sends and the error name the
 * state machine retries cleanup on. Both sides import these, so a renamed action or error is a
 * compile error, not a drill that fails next month.
 *
 * No imports on purpose: `cdk synth` loads this module.
 */

/** Every Lambda task of the drill: its state name and the handler action it sends. */
export const DRILL_ACTIONS = {
  Select: 'select',
  Provision: 'provision',
  Status: 'status',
  RestoreAndCheck: 'restore-and-check',
  Cleanup: 'cleanup',
  Report: 'report',
} as const;
export type DrillTaskName = keyof typeof DRILL_ACTIONS;
export type DrillAction = (typeof DRILL_ACTIONS)[DrillTaskName];

/** The error the handler throws when the instance could not be deleted yet (the workflow retries it). */
export const DRILL_CLEANUP_ERROR = 'DrillCleanupError';
