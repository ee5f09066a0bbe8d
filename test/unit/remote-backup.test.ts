/**
 * `restorable backup --stack --reason` at the SDK boundary (CloudFormation and Step Functions have
 * no local server): the execution is started with the scheduled input plus the adhoc tier and the
 * reason, history events become progress lines, and the exit code says whether the backup was
 * committed and verified. Ctrl-C stops waiting and leaves the execution running.
 *
 * In a fleet-shaped stack (no per-database outputs) the CLI starts the fleet's backup orchestrator
 * with exactly `{ databaseIds: [db], tier: "adhoc", reason, startNow: true }`, follows it and the
 * run it starts, judges that run's output, and says why when discovery returned no run.
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
import {
  backupInputOutputKey,
  backupStateMachineOutputKey,
  FLEET_BACKUP_ORCHESTRATOR_OUTPUT,
} from '../../lib/outputs';
import { runRemoteBackup, startedRunArn } from '../../src/cli/remote-backup';

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
    /stack Restorable has no backup workflow for database billing \(outputs BackupStateMachineBilling and BackupInputBilling, or FleetBackupOrchestratorArn of a fleet\)/,
  );
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

describe('a fleet-shaped stack: the backup orchestrator, for one database', () => {
  const ORCH = 'arn:aws:states:eu-west-1:111122223333:stateMachine:FleetBackups1A2B3C';
  const ORCH_EXEC =
    'arn:aws:states:eu-west-1:111122223333:execution:FleetBackups1A2B3C:adhoc-orders-20261126T060000Z';
  const RUN =
    'arn:aws:states:eu-west-1:111122223333:execution:restorable-fleet-RestorableBackup-vpc-a-backup:5f0c2d1e-8b7a-4c1d-9e2f-0a1b2c3d4e5f';
  const discovered = [
    ev(1, { type: 'ExecutionStarted' }),
    ev(2, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Discover' } }),
    ev(3, { type: 'TaskStateExited', stateExitedEventDetails: { name: 'Discover' } }),
  ];
  const runStarted = [
    ev(4, { type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'StartRun-vpc-a' } }),
    ev(5, {
      type: 'TaskSubmitted',
      taskSubmittedEventDetails: {
        resourceType: 'states',
        resource: 'startExecution.sync:2',
        output: JSON.stringify({ ExecutionArn: RUN, StartDate: 1795932001000 }),
      },
    }),
  ];
  const orchestratorDone = (id: number) => [
    ev(id, { type: 'TaskStateExited', stateExitedEventDetails: { name: 'StartRun-vpc-a' } }),
    ev(id + 1, { type: 'ExecutionSucceeded' }),
  ];

  beforeEach(() => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'Restorable',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'BackupBucketName', OutputValue: 'restorable-111122223333-eu-west-1-backups' },
            { OutputKey: FLEET_BACKUP_ORCHESTRATOR_OUTPUT, OutputValue: ORCH },
          ],
        },
      ],
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: ORCH_EXEC, startDate: new Date() });
  });

  test('starts the orchestrator with exactly { databaseIds: [db], tier, reason, startNow }, follows the run it starts, exits 0 on its verified backup', async () => {
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: ORCH_EXEC })
      .resolvesOnce({ events: discovered })
      .resolvesOnce({ events: [...discovered, ...runStarted] })
      .resolves({ events: [...discovered, ...runStarted, ...orchestratorDone(6)] });
    sfn.on(GetExecutionHistoryCommand, { executionArn: RUN }).resolves({
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
      .on(DescribeExecutionCommand, { executionArn: ORCH_EXEC })
      .resolvesOnce({
        executionArn: ORCH_EXEC,
        stateMachineArn: ORCH,
        status: 'RUNNING',
        startDate: new Date(),
      })
      .resolvesOnce({
        executionArn: ORCH_EXEC,
        stateMachineArn: ORCH,
        status: 'RUNNING',
        startDate: new Date(),
      })
      .resolves({
        executionArn: ORCH_EXEC,
        stateMachineArn: ORCH,
        status: 'SUCCEEDED',
        startDate: new Date(),
        output: JSON.stringify({ total: 1, failed: 0, failedDatabases: '', notFound: [] }),
      });
    sfn.on(DescribeExecutionCommand, { executionArn: RUN }).resolves({
      executionArn: RUN,
      status: 'SUCCEEDED',
      startDate: new Date(),
      output: OUTPUT,
    });
    const c = io();
    expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(0);

    const starts = sfn.commandCalls(StartExecutionCommand);
    expect(starts).toHaveLength(1);
    expect(starts[0].args[0].input.stateMachineArn).toBe(ORCH);
    expect(starts[0].args[0].input.name).toBe('adhoc-orders-20261126T060000Z');
    expect(JSON.parse(starts[0].args[0].input.input!)).toEqual({
      databaseIds: ['orders'],
      tier: 'adhoc',
      reason: 'before migration 0042',
      startNow: true,
    });
    // The run's ARN is in the StartRun task's data: the orchestrator's history is read with it.
    const reads = sfn.commandCalls(GetExecutionHistoryCommand).map((call) => call.args[0].input);
    expect(reads.filter((r) => r.executionArn === ORCH_EXEC).every((r) => r.includeExecutionData)).toBe(true);
    expect(c.err.map((l) => l.replace(/^\S+Z /, ''))).toEqual([
      `started ${ORCH_EXEC}`,
      'execution started',
      'Discover: started',
      'Discover: done',
      'StartRun-vpc-a: started',
      `run of orders: ${RUN}`,
      'orders: execution started',
      'orders: Dump: started',
      'orders: Dump: done',
      'orders: Verify: started',
      'orders: Verify: done',
      'orders: execution succeeded',
      'StartRun-vpc-a: done',
      'execution succeeded',
    ]);
    expect(c.out.join('')).toMatch(
      /backup orders-20261126T060001Z committed and verified: adhoc adhoc\/orders\/2026-11-26\/.*\(reason: before migration 0042\)/,
    );
  });

  test("a database discovery did not find: exits 1 with discovery's reason, never the success of an empty run", async () => {
    const reason =
      '"orders" is not in databases[] and no RDS instance or Aurora cluster the selection picks ' +
      '(engines postgres, aurora-postgresql; tags backup=nightly) has that id (its restorable:id tag, else its identifier)';
    sfn
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [...discovered, ev(4, { type: 'ExecutionSucceeded' })] });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: ORCH_EXEC,
      stateMachineArn: ORCH,
      status: 'SUCCEEDED',
      startDate: new Date(),
      output: JSON.stringify({
        total: 0,
        failed: 0,
        failedDatabases: '',
        notFound: [{ id: 'orders', reason }],
      }),
    });
    const c = io();
    expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
    expect(c.out).toEqual([]);
    expect(c.err.at(-1)).toBe(`restorable: error: no backup of orders was started: ${reason} (${ORCH_EXEC})`);

    // No reason given (not asked for by name, e.g. left out): still no success.
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: ORCH_EXEC,
      status: 'SUCCEEDED',
      startDate: new Date(),
      output: JSON.stringify({ total: 0, failed: 0, failedDatabases: '', notFound: [] }),
    });
    const d = io();
    expect(await runRemoteBackup(options, d.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
    expect(d.err.at(-1)).toBe(
      `restorable: error: the fleet's backup orchestrator started no run for orders (0 runs; ${ORCH_EXEC})`,
    );
  });

  test("a failed run exits 1 with the run's own error; a failed discovery with the orchestrator's", async () => {
    const cause = JSON.stringify({
      errorType: 'BackupError',
      errorMessage: 'DATABASE_GONE: database "orders": gone',
    });
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: ORCH_EXEC })
      .resolves({ events: [...discovered, ...runStarted, ev(6, { type: 'ExecutionFailed' })] });
    sfn.on(GetExecutionHistoryCommand, { executionArn: RUN }).resolves({ events: [] });
    sfn.on(DescribeExecutionCommand, { executionArn: ORCH_EXEC }).resolves({
      executionArn: ORCH_EXEC,
      status: 'FAILED',
      startDate: new Date(),
      error: 'FleetBackupRunsFailed',
      cause: 'orders',
    });
    sfn.on(DescribeExecutionCommand, { executionArn: RUN }).resolves({
      executionArn: RUN,
      status: 'FAILED',
      startDate: new Date(),
      error: 'BackupError',
      cause,
    });
    const c = io();
    expect(await runRemoteBackup(options, c.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
    expect(c.err.at(-1)).toBe(
      `restorable: error: backup of orders failed: BackupError: DATABASE_GONE: database "orders": gone (${RUN})`,
    );

    sfn.reset();
    sfn.on(StartExecutionCommand).resolves({ executionArn: ORCH_EXEC, startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: discovered.slice(0, 2) });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: ORCH_EXEC,
      status: 'FAILED',
      startDate: new Date(),
      error: 'ConfigError',
      cause: JSON.stringify({
        errorType: 'ConfigError',
        errorMessage: 'invalid backup run inputs: orders: ...',
      }),
    });
    const d = io();
    expect(await runRemoteBackup(options, d.io, { sfn: new SFNClient({}), pollMs: 1, now })).toBe(1);
    expect(d.err.at(-1)).toBe(
      `restorable: error: backup of orders failed: ConfigError: invalid backup run inputs: orders: ... (${ORCH_EXEC})`,
    );
  });
});

test("the run's execution ARN is read from the StartRun task's events, and from no other task's", () => {
  const RUN = 'arn:aws:states:eu-west-1:111122223333:execution:restorable-fleet-1-vpc-a-backup:0b1c';
  const data = JSON.stringify({ ExecutionArn: RUN, StartDate: 1795932001000 });
  const states = { resourceType: 'states', resource: 'startExecution.sync:2' };
  expect(
    startedRunArn(ev(1, { type: 'TaskSubmitted', taskSubmittedEventDetails: { ...states, output: data } })),
  ).toBe(RUN);
  expect(
    startedRunArn(ev(2, { type: 'TaskSucceeded', taskSucceededEventDetails: { ...states, output: data } })),
  ).toBe(RUN);
  // A run that failed: .sync puts the run's description in the cause.
  expect(
    startedRunArn(
      ev(3, {
        type: 'TaskFailed',
        taskFailedEventDetails: { ...states, error: 'States.TaskFailed', cause: data },
      }),
    ),
  ).toBe(RUN);
  // Discover's Lambda and RecordQueueTime's CloudWatch call start no run.
  const lambda = { resourceType: 'lambda', resource: 'invoke' };
  expect(
    startedRunArn(ev(4, { type: 'TaskSucceeded', taskSucceededEventDetails: { ...lambda, output: data } })),
  ).toBeUndefined();
  expect(
    startedRunArn(
      ev(5, { type: 'TaskSubmitted', taskSubmittedEventDetails: { ...states, output: 'not json' } }),
    ),
  ).toBeUndefined();
});
