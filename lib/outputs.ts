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
