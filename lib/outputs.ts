/**
 * Names of the BackupStack outputs the operator CLI reads (`--stack`): the stack writes them and
 * the CLI looks them up through these functions, so the two sides cannot drift.
 */
import { pascalCase } from './naming';

/** Output holding a database's backup state machine ARN (`restorable backup --stack` starts it). */
export const backupStateMachineOutputKey = (databaseId: string): string =>
  `BackupStateMachine${pascalCase(databaseId)}`;

/** Output holding the evidence report topic ARN. */
export const EVIDENCE_TOPIC_OUTPUT = 'EvidenceReportTopicArn';

/** Output holding the input a database's scheduled backup execution gets (JSON, ARNs only, no secret). */
export const backupInputOutputKey = (databaseId: string): string => `BackupInput${pascalCase(databaseId)}`;

/**
 * Outputs holding the fleet orchestrators' ARNs (`fleet.shape: "fleet"` only): a fleet has no
 * per-database outputs (a stack holds at most 200), so `restorable backup --stack` starts the
 * backup orchestrator with `{ databaseIds: [id], tier: "adhoc", reason }` instead.
 */
export const FLEET_BACKUP_ORCHESTRATOR_OUTPUT = 'FleetBackupOrchestratorArn';
export const FLEET_DRILL_ORCHESTRATOR_OUTPUT = 'FleetDrillOrchestratorArn';
