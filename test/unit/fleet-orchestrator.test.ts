/**
 * The fleet orchestrator's definition and IAM: one schedule, discovery, a Map bounded by
 * maxConcurrency with a MathRandom jitter, a catch per run so one database never stops the
 * others, the queue metrics, and StartExecution on the given workflow only.
 */
import { Duration, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  FleetOrchestrator,
  FleetStates,
  type FleetOrchestratorProps,
} from '../../lib/constructs/fleet-orchestrator';
import { FleetRunItemSchema } from '../../lambda/core/fleet-settings';
import { newStack } from './cdk-support';
import { permissionsOf } from './iam-support';
import { definitionOf, type AslState } from './workflow-support';

const TARGET_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:restorable-backup';
const DISCOVERY_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:restorable-discovery';

function orchestrator(
  extra: Partial<FleetOrchestratorProps> = {},
  beforeSynth: (fleet: FleetOrchestrator) => void = () => undefined,
) {
  const stack = newStack();
  const fleet = new FleetOrchestrator(stack, 'FleetBackups', {
    workload: 'backup',
    discoveryFunction: lambda.Function.fromFunctionArn(stack, 'Discovery', DISCOVERY_ARN),
    target: sfn.StateMachine.fromStateMachineArn(stack, 'Target', TARGET_ARN),
    schedule: scheduler.ScheduleExpression.expression('cron(0 1 * * ? *)', TimeZone.ETC_UTC),
    maxConcurrency: 12,
    startJitter: Duration.minutes(45),
    ...extra,
  });
  beforeSynth(fleet);
  const template = Template.fromStack(stack);
  const definition = definitionOf(stack, fleet.stateMachine);
  const runs = definition.States[FleetStates.runs] as AslState & {
    MaxConcurrency: number;
    ItemsPath: string;
    ItemSelector: Record<string, string>;
    ItemProcessor: { StartAt: string; States: Record<string, AslState & Record<string, unknown>> };
  };
  return { stack, fleet, template, definition, runs, inner: runs.ItemProcessor.States };
}

describe('FleetOrchestrator', () => {
  it('is started by one schedule, runs discovery, then a Map over its items bounded by maxConcurrency', () => {
    const { template, definition, runs } = orchestrator();
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 1 * * ? *)',
      Target: Match.objectLike({ Input: '{}' }),
    });
    expect(definition.StartAt).toBe(FleetStates.discover);
    expect(definition.States[FleetStates.discover].Next).toBe(FleetStates.runs);
    expect(runs.MaxConcurrency).toBe(12);
    expect(runs.ItemsPath).toBe('$.discovery.items');
  });

  it('draws a random delay per item with States.MathRandom over the jitter, and waits it first', () => {
    const { runs, inner } = orchestrator();
    expect(runs.ItemSelector).toEqual({
      'item.$': '$$.Map.Item.Value',
      'jitterSeconds.$': 'States.MathRandom(0, 2700)',
    });
    // Unless the item is an on-demand run: see the next test.
    expect(runs.ItemProcessor.StartAt).toBe(FleetStates.startNow);
    expect(inner[FleetStates.startNow]).toMatchObject({ Type: 'Choice', Default: FleetStates.jitter });
    expect(inner[FleetStates.jitter]).toMatchObject({ Type: 'Wait', SecondsPath: '$.jitterSeconds' });
    expect(inner[FleetStates.jitter].Next).toBe(FleetStates.recordQueue);
  });

  it('starts an on-demand item (startNow) at once, without the jitter', () => {
    const { inner } = orchestrator();
    expect((inner[FleetStates.startNow] as { Choices: unknown }).Choices).toEqual([
      {
        And: [
          { Variable: '$.item.startNow', IsPresent: true },
          { Variable: '$.item.startNow', BooleanEquals: true },
        ],
        Next: FleetStates.recordQueue,
      },
    ]);
  });

  it("keeps discovery's notFound (databases asked for by name without an item) in its output", () => {
    const { definition } = orchestrator();
    expect(definition.States[FleetStates.discover]).toMatchObject({
      ResultSelector: { 'items.$': '$.items', 'notFound.$': '$.notFound' },
      ResultPath: '$.discovery',
    });
    const summarize = definition.States[FleetStates.summarize] as AslState & {
      Output: Record<string, string>;
    };
    expect(summarize.Output.notFound).toBe('{% $states.input.discovery.notFound %}');
    // The execution's output is Summarize's: the Choice after it passes it on as is.
    expect(summarize.Next).toBe(FleetStates.anyFailed);
  });

  it('has no wait at all when the jitter is zero', () => {
    const { runs } = orchestrator({ startJitter: Duration.minutes(0) });
    expect(runs.ItemSelector).toEqual({ 'item.$': '$$.Map.Item.Value' });
    expect(runs.ItemProcessor.StartAt).toBe(FleetStates.recordQueue);
    expect(Object.keys(runs.ItemProcessor.States)).not.toContain(FleetStates.jitter);
  });

  it('starts the given workflow with the item execution input and waits for it (.sync:2)', () => {
    const { inner } = orchestrator();
    const start = inner[FleetStates.start];
    expect(start.Resource).toBe('arn:<token>:states:::states:startExecution.sync:2');
    expect(start.Parameters).toEqual({ StateMachineArn: TARGET_ARN, 'Input.$': '$.item.execution' });
    expect(start.Next).toBe(FleetStates.succeeded);
  });

  it('catches every failure of a run and records it, so the Map goes on; the execution fails at the end naming them', () => {
    const { inner, definition } = orchestrator();
    expect(inner[FleetStates.start].Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: FleetStates.failed },
    ]);
    expect(inner[FleetStates.failed]).toMatchObject({
      Type: 'Pass',
      Parameters: { 'databaseId.$': '$.item.databaseId', status: 'FAILED', 'error.$': '$.error.Error' },
    });
    expect(inner[FleetStates.failed].End).toBe(true);
    // A metric that cannot be written skips to the run instead of failing it.
    expect(inner[FleetStates.recordQueue].Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: null, Next: FleetStates.start },
    ]);
    expect(definition.States[FleetStates.runs].Next).toBe(FleetStates.summarize);
    expect(definition.States[FleetStates.anyFailed].Choices).toEqual([
      { Variable: '$.failed', NumericGreaterThan: 0, Next: FleetStates.fleetFailed },
    ]);
    expect(definition.States[FleetStates.fleetFailed]).toMatchObject({
      Error: 'FleetBackupRunsFailed',
      CausePath: '$.failedDatabases',
    });
  });

  it('records how long each run waited, and whether longer than its maxQueueMinutes, per database', () => {
    const { inner } = orchestrator();
    const record = inner[FleetStates.recordQueue] as unknown as AslState & {
      QueryLanguage: string;
      Arguments: { Namespace: string; MetricData: { MetricName: string; Value: string }[] };
    };
    expect(record.QueryLanguage).toBe('JSONata');
    expect(record.Resource).toBe('arn:<token>:states:::aws-sdk:cloudwatch:putMetricData');
    const [queued, overdue] = record.Arguments.MetricData;
    expect(record.Arguments.Namespace).toBe('Restorable');
    expect(queued).toMatchObject({
      MetricName: 'BackupQueuedMinutes',
      Dimensions: [{ Name: 'DatabaseId', Value: '{% $states.input.item.databaseId %}' }],
    });
    expect(queued.Value).toContain('$toMillis($states.context.Execution.StartTime)');
    expect(overdue.MetricName).toBe('BackupQueueOverdue');
    expect(overdue.Value).toMatch(/> \$states\.input\.item\.maxQueueMinutes \? 1 : 0 %}$/);
  });

  it('may start only the given workflow; StartExecution on nothing else', () => {
    const { template, stack, fleet } = orchestrator();
    const permissions = permissionsOf(template, stack, fleet.stateMachine.role);
    expect(permissions['states:StartExecution']).toEqual([TARGET_ARN]);
    expect(permissions['states:DescribeExecution']).toEqual([
      'arn:aws:states:eu-west-1:123456789012:execution:restorable-backup*',
    ]);
    expect(permissions['lambda:InvokeFunction']).toEqual([DISCOVERY_ARN, `${DISCOVERY_ARN}:*`]);
    expect(permissions['cloudwatch:PutMetricData']).toEqual(['*']);
    const scheduleRole = template.findResources('AWS::IAM::Policy', {
      Properties: { PolicyDocument: { Statement: [Match.objectLike({ Action: 'states:StartExecution' })] } },
    });
    expect(Object.keys(scheduleRole)).toHaveLength(1);
  });

  it('alarms once for the fleet on a Metrics Insights query grouped by database', () => {
    const { template } = orchestrator({}, (fleet) => fleet.addQueueOverdueAlarm());
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [
        Match.objectLike({
          Expression:
            'SELECT MAX(BackupQueueOverdue) FROM SCHEMA("Restorable", DatabaseId) GROUP BY DatabaseId',
        }),
      ],
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('refuses a concurrency beyond the Inline Map limit and a jitter beyond 12 hours', () => {
    expect(() => orchestrator({ maxConcurrency: 41 })).toThrow(
      /maxConcurrency \(41\) must be an integer from 1 to 40: an Inline Map runs at most 40/,
    );
    expect(() => orchestrator({ maxConcurrency: 0 })).toThrow(/maxConcurrency \(0\)/);
    expect(() => orchestrator({ startJitter: Duration.hours(13) })).toThrow(
      /startJitter \(13 hours\) must be between 0 and 12 hours/,
    );
  });
});

describe('FleetRunItemSchema', () => {
  it('accepts an item whose execution names the same database, and refuses one naming another', () => {
    const item = {
      databaseId: 'orders',
      maxQueueMinutes: 1440,
      execution: { databaseId: 'orders', sslMode: 'verify-full' },
    };
    expect(FleetRunItemSchema.parse(item)).toEqual(item);
    expect(() => FleetRunItemSchema.parse({ ...item, execution: { databaseId: 'billing' } })).toThrow(
      /execution.databaseId must equal databaseId/,
    );
    expect(() =>
      FleetRunItemSchema.parse({ ...item, databaseId: 'Bad_Id', execution: { databaseId: 'Bad_Id' } }),
    ).toThrow();
  });
});
