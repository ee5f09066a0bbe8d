/**
 * The deployed half of the handler contract: every function the real BackupStack (the cdk.json
 * example) and a small fleet-shaped deployment (fleet stack and group stacks) synthesize is parsed with its handler's environment schema, exactly as the handler
 * parses it at cold start. A construct that drops, renames or mis-formats a variable fails here
 * even where the compiler cannot see it (tokens, JSON text, a function added without a schema).
 */
import {
  parseHandlerEnv,
  handlerEnvNames,
  HANDLER_ENV_SCHEMAS,
  type HandlerName,
} from '../../lambda/core/handler-env';
import { Template } from 'aws-cdk-lib/assertions';
import { exampleConfig, synthBackupStack } from './cdk-support';
import { fleetApp, fleetConfig } from './fleet-support';

interface DeployedFunction {
  readonly logicalId: string;
  readonly handler: string | undefined;
  readonly variables: Record<string, unknown>;
}

function deployedFunctions(template: Template): DeployedFunction[] {
  return Object.entries(template.findResources('AWS::Lambda::Function')).map(([logicalId, resource]) => {
    const props = (resource as { Properties: Record<string, unknown> }).Properties;
    const command = (props.ImageConfig as { Command?: string[] } | undefined)?.Command?.[0];
    return {
      logicalId,
      // The runner image's entry point: `dump.handler` runs lambda/handlers/dump.ts.
      handler: command?.replace(/\.handler$/, ''),
      variables: (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
    };
  });
}

/**
 * A value as the function will see it, with each unresolved part (a bucket name, a security group
 * id) replaced by a placeholder string naming it. Joins are joined, so a JSON value with a token
 * inside stays JSON; an intrinsic this does not know fails the test rather than passing unchecked.
 */
function placeholder(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  const [intrinsic, args] = Object.entries(value as Record<string, unknown>)[0] ?? [];
  switch (intrinsic) {
    case 'Ref':
      return `placeholder-ref-${String(args)}`;
    case 'Fn::GetAtt':
      return `placeholder-${(args as string[]).join('-')}`;
    case 'Fn::ImportValue':
      return `placeholder-import-${JSON.stringify(args)}`;
    case 'Fn::GetStackOutput': {
      // A group stack's reference to the fleet stack (CloudFormation resolves it at deploy); an
      // exported role ARN (the data-access roles) keeps the shape the schema checks.
      const name = (args as { OutputName: string }).OutputName;
      return /AccessRole|Access[0-9A-F]{8}Arn/.test(name)
        ? `arn:aws:iam::123456789012:role/placeholder-${name}`
        : `placeholder-output-${name}`;
    }
    case 'Fn::Join': {
      const [separator, parts] = args as [string, unknown[]];
      return parts.map((p) => placeholder(p, where)).join(separator);
    }
    default:
      throw new Error(`${where}: no placeholder for ${JSON.stringify(value)}`);
  }
}

function resolvedVariables(fn: DeployedFunction): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fn.variables).map(([name, value]) => [
      name,
      placeholder(value, `${fn.logicalId} ${name}`),
    ]),
  );
}

const isHandler = (name: string | undefined): name is HandlerName =>
  name !== undefined && Object.hasOwn(HANDLER_ENV_SCHEMAS, name);

describe('every deployed function environment parses with its handler schema', () => {
  const { template } = synthBackupStack();
  // The fleet shape's functions too (discovery lives only there): a few listed databases suffice.
  const fleet = fleetApp(fleetConfig(3));
  const exampleFunctions = deployedFunctions(template);
  const functions = [
    ...exampleFunctions,
    ...[fleet.backup, ...fleet.groups].flatMap((stack) =>
      deployedFunctions(Template.fromStack(stack)).map((f) => ({
        ...f,
        logicalId: `${stack.stackName}/${f.logicalId}`,
      })),
    ),
  ];

  test('the stack has functions, each running a handler that has a schema', () => {
    expect(functions.length).toBeGreaterThan(0);
    const unknown = functions
      .filter((f) => !isHandler(f.handler))
      .map((f) => `${f.logicalId} (${f.handler})`);
    expect(unknown).toEqual([]);
    // Every schema meets at least one real function, so none is checked against nothing.
    expect(new Set(functions.map((f) => f.handler))).toEqual(new Set(Object.keys(HANDLER_ENV_SCHEMAS)));
  });

  test.each(functions.map((f) => [f.logicalId, f] as const))('%s', (_id, fn) => {
    if (!isHandler(fn.handler)) throw new Error(`${fn.logicalId} runs ${fn.handler}, which has no schema`);
    const variables = resolvedVariables(fn);
    // Nothing set that the handler would ignore (a stale or misspelt name).
    const known = new Set(handlerEnvNames(fn.handler));
    expect(Object.keys(variables).filter((name) => !known.has(name))).toEqual([]);
    expect(() => parseHandlerEnv(fn.handler as HandlerName, variables)).not.toThrow();
  });

  test('what the example deploys: the configured lock mode, the schema default drill lifetime', () => {
    const config = exampleConfig();
    const parsed = (handler: HandlerName) =>
      exampleFunctions
        .filter((f) => f.handler === handler)
        .map((f) => parseHandlerEnv(handler, resolvedVariables(f)) as Record<string, unknown>);
    for (const env of parsed('dump')) {
      expect(env.OBJECT_LOCK_MODE).toBe(config.objectLock.mode);
      expect(env.BACKUP_KMS_KEY_ARN).toMatch(/^placeholder-|^arn:/);
    }
    for (const env of parsed('drill')) {
      expect(env.DRILL_MAX_LIFETIME_HOURS).toBe(6);
      expect((env.DRILL_SECURITY_GROUP_IDS as string[]).length).toBeGreaterThan(0);
    }
    for (const env of parsed('freshness')) {
      expect(env.DATABASE_IDS).toEqual(config.databases.map((d) => d.id));
    }
  });
});

describe("every fleet Fargate task's environment parses with its handler schema", () => {
  // db-008 (index 7) runs on Fargate: its backup group's dump and verify task definitions and its
  // drill group's drill task definition.
  const fleet = fleetApp(fleetConfig(8));
  const tasks = fleet.groups.flatMap((stack) =>
    Object.entries(Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition')).map(
      ([logicalId, resource]) => {
        const container = (
          resource as {
            Properties: {
              ContainerDefinitions: { Command: string[]; Environment: { Name: string; Value: unknown }[] }[];
            };
          }
        ).Properties.ContainerDefinitions[0];
        return {
          logicalId: `${stack.stackName}/${logicalId}`,
          // `node /var/task/runner.js <handler>` (fargate-runner.ts).
          handler: container.Command[1],
          variables: Object.fromEntries(
            container.Environment
              // The runner's own switch (lambda/runner/main.ts), not the handler's environment.
              .filter((e) => e.Name !== 'RESTORABLE_METRICS')
              .map((e) => [e.Name, e.Value]),
          ),
        };
      },
    ),
  );

  test("the fleet has a dump and a verify task, and its drill's restore task", () => {
    expect(tasks.map((t) => t.handler).sort()).toEqual(['drill', 'dump', 'verify']);
  });

  test.each(tasks.map((t) => [t.logicalId, t] as const))('%s', (_id, task) => {
    if (!isHandler(task.handler))
      throw new Error(`${task.logicalId} runs ${task.handler}, which has no schema`);
    const variables = resolvedVariables(task);
    const known = new Set(handlerEnvNames(task.handler));
    expect(Object.keys(variables).filter((name) => !known.has(name))).toEqual([]);
    const env = parseHandlerEnv(task.handler, variables) as Record<string, unknown>;
    expect(env.DATABASE_ACCESS_ROLE_ARN).toMatch(/^arn:aws:iam::123456789012:role\/placeholder-/);
    if (task.handler === 'dump') expect(env).toMatchObject({ RUNNER: 'fargate', DUMP_LAYOUT: 'stream' });
  });
});
