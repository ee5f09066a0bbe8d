/**
 * `restorable backup --stack --reason` at the SDK boundary (CloudFormation and Step Functions have
 * no local server): the execution is started with the scheduled input plus the adhoc tier and the
 * reason, history events become progress lines, and the exit code says whether the backup was
 * committed and verified. Ctrl-C stops waiting and leaves the execution running.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { backupInputOutputKey, backupStateMachineOutputKey } from '../../lib/outputs';
import { runRemoteBackup } from '../../src/cli/remote-backup';

const cfn = mockClient(CloudFormationClient);
const sfn = mockClient(SFNClient);
const SM = 'arn:aws:states:eu-west-1:111122223333:stateMachine:orders-backup';
const EXEC = 'arn:aws:states:eu-west-1:111122223333:execution:orders-backup:adhoc-orders-20261126T060000Z';
const scheduledInput = {
  databaseId: 'orders',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-AbCdEf',
  schemas: {},
  sslMode: 'verify-full',
  tier: 'auto',
  reason: '',
};

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
}

const ev = (id: number, e: Omit<HistoryEvent, 'id' | 'timestamp'>): HistoryEvent =>
  ({ id, timestamp: new Date(Date.UTC(2026, 10, 26, 6, 0, id)), ...e }) as HistoryEvent;

const OUTPUT = JSON.stringify({
  ...scheduledInput,
  dump: {
    backupId: 'orders-20261126T060001Z',
    manifestKey: 'adhoc/orders/2026-11-26/orders-20261126T060001Z.manifest.json',
    tier: 'adhoc',
  },
  verify: { ok: true },
});

beforeEach(() => {
  cfn.reset();
  sfn.reset();
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'Restorable',
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [
          { OutputKey: backupStateMachineOutputKey('orders'), OutputValue: SM },
          { OutputKey: backupInputOutputKey('orders'), OutputValue: JSON.stringify(scheduledInput) },
        ],
      },
    ],
  });
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
});

const options = { db: 'orders', stack: 'Restorable', reason: 'before migration 0042' };
const now = () => new Date('2026-11-26T06:00:00Z');

test('success: starts the workflow with the adhoc tier and the reason, streams progress, exits 0', async () => {
  sfn
    .on(GetExecutionHistoryCommand)
    .resolvesOnce({
      events: [
        ev(1, { type: 'ExecutionStarted' }),
        ev(2, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Dump' } }),
      ],
    })
    .resolves({
      events: [
        ev(1, { type: 'ExecutionStarted' }),
        ev(2, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Dump' } }),
        ev(3, { type: 'TaskStateExited', stateExitedEventDetails: { name: 'Dump' } }),
        ev(4, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Verify' } }),
        ev(5, { type: 'TaskStateExited', stateExitedEventDetails: { name: 'Verify' } }),
        ev(6, { type: 'ExecutionSucceeded' }),
      ],
    });
  sfn
    .on(DescribeExecutionCommand)
    .resolvesOnce({ executionArn: EXEC, stateMachineArn: SM, status: 'RUNNING', startDate: new Date() })
    .resolves({
      executionArn: EXEC,
      stateMachineArn: SM,
      status: 'SUCCEEDED',
      startDate: new Date(),
      output: OUTPUT,
    });
  const c = io();
  expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(0);

  const start = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
  expect(start.stateMachineArn).toBe(SM);
  expect(start.name).toBe('adhoc-orders-20261126T060000Z');
  expect(JSON.parse(start.input!)).toEqual({
    ...scheduledInput,
    tier: 'adhoc',
    reason: 'before migration 0042',
  });
  // Every event shown once, in order, though the history was read twice.
  expect(c.err.map((l) => l.replace(/^\S+ /, ''))).toEqual([
    `started ${EXEC}`.replace(/^\S+ /, ''),
    'execution started',
    'Dump: started',
    'Dump: done',
    'Verify: started',
    'Verify: done',
    'execution succeeded',
  ]);
  expect(c.out.join('')).toMatch(
    /backup orders-20261126T060001Z committed and verified: adhoc adhoc\/orders\/2026-11-26\/.*\(reason: before migration 0042\)/,
  );
});

test('a failed execution exits 1 naming the error and the cause from the Lambda', async () => {
  const cause = JSON.stringify({
    errorType: 'BackupError',
    errorMessage: 'PG_DUMP_FAILED: pg_dump exited 1',
  });
  sfn.on(GetExecutionHistoryCommand).resolves({
    events: [
      ev(1, { type: 'ExecutionStarted' }),
      ev(2, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Dump' } }),
      ev(3, {
        type: 'LambdaFunctionFailed',
        lambdaFunctionFailedEventDetails: { error: 'BackupError', cause },
      }),
      ev(4, { type: 'ExecutionFailed', executionFailedEventDetails: { error: 'BackupError' } }),
    ],
  });
  sfn.on(DescribeExecutionCommand).resolves({
    executionArn: EXEC,
    stateMachineArn: SM,
    status: 'FAILED',
    startDate: new Date(),
    error: 'BackupError',
    cause,
  });
  const c = io();
  expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
  const text = c.err.join('\n');
  expect(text).toContain('failed: BackupError: PG_DUMP_FAILED: pg_dump exited 1');
  expect(text).toMatch(
    /restorable: error: backup of orders failed: BackupError: PG_DUMP_FAILED: pg_dump exited 1 \(arn:aws:states:/,
  );
});

test('a succeeded execution without a verified backup is not a success', async () => {
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
  sfn.on(DescribeExecutionCommand).resolves({
    executionArn: EXEC,
    stateMachineArn: SM,
    status: 'SUCCEEDED',
    startDate: new Date(),
    output: JSON.stringify({ dump: { manifestKey: 'adhoc/orders/x.manifest.json' } }),
  });
  const c = io();
  expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
  expect(c.err.join('\n')).toMatch(/did not report a verified backup/);
});

test('Ctrl-C stops waiting, never the execution, and says how to follow it', async () => {
  const controller = new AbortController();
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [ev(1, { type: 'ExecutionStarted' })] });
  sfn.on(DescribeExecutionCommand).callsFake(() => {
    // The operator presses Ctrl-C while the dump is running.
    controller.abort();
    return { executionArn: EXEC, stateMachineArn: SM, status: 'RUNNING', startDate: new Date() };
  });
  const c = io();
  const code = await runRemoteBackup(options, c.io, {
    sfn: new SFNClient({}),
    pollMs: 60_000,
    now,
    signal: controller.signal,
  });
  expect(code).toBe(130);
  expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
  expect(c.err.join('\n')).toContain(
    `stopped waiting; the backup execution keeps running in AWS: follow it with: aws stepfunctions describe-execution --execution-arn ${EXEC}`,
  );
});

test('without a reason, or for a database the stack does not back up, nothing is started', async () => {
  const c = io();
  expect(await runRemoteBackup({ ...options, reason: ' ' }, c.io, { sfn: new SFNClient({}) })).toBe(2);
  expect(c.err.join('')).toMatch(/--reason <text> is required/);
  await expect(
    runRemoteBackup({ ...options, db: 'billing' }, c.io, { sfn: new SFNClient({}) }),
  ).rejects.toThrow(
    /stack Restorable has no backup workflow for database billing \(outputs BackupStateMachineBilling and BackupInputBilling\)/,
  );
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});
