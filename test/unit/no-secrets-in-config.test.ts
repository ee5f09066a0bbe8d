/**
 * TESTING 9 at synth time: the database password reaches the dump only through Secrets Manager at
 * run time, so no synthesized place that ends up in a console, an execution history or
 * `/proc/<pid>/environ` may hold secret material: every Lambda function's environment, every ECS
 * container's environment and secrets, every state machine definition and every schedule input
 * of both stacks, as `cdk synth` builds them. `hasResourceProperties` matches partially and would
 * not see an extra variable, so this walks every value.
 */
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { exampleConfig, newApp } from './cdk-support';

type Resource = { Type: string; Properties?: Record<string, unknown> };

/** Names that hold a secret, not a reference to one (`secretArn` and `*_KEY_ARN` are references). */
const SECRET_NAME =
  /pass(word)?|pwd|secret(?!_?arn$|_?id$)|token|private_?key|credential|api_?key|SecretString/i;

/** Values that are secret material whatever their name. */
const SECRET_VALUES: [string, RegExp][] = [
  ['a connection URI with a password', /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i],
  ['a libpq password keyword', /\bpassword\s*=/i],
  [
    'a dynamic reference that CloudFormation resolves to the secret',
    /\{\{resolve:(secretsmanager|ssm-secure):/,
  ],
  ['a PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a Secrets Manager read', /secretsmanager:getSecretValue|GetSecretValue/i],
];

interface Finding {
  readonly where: string;
  readonly problem: string;
}

/** Walks a value (JSON strings inside it too) and reports secret-looking names and values. */
function scan(where: string, value: unknown, findings: Finding[]): void {
  if (typeof value === 'string') {
    for (const [what, pattern] of SECRET_VALUES) {
      if (pattern.test(value)) findings.push({ where, problem: `${what}: ${value.slice(0, 80)}` });
    }
    const trimmed = value.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        scan(`${where} (JSON)`, JSON.parse(trimmed), findings);
      } catch {
        // A fragment of an Fn::Join, not JSON on its own: its keys are caught by the text scan below.
        const key = /"([^"]*)"\s*:/g;
        for (const m of trimmed.matchAll(key)) {
          if (SECRET_NAME.test(m[1])) findings.push({ where, problem: `secret-like key "${m[1]}"` });
        }
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => scan(`${where}[${i}]`, v, findings));
    return;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      // CloudFormation intrinsics (Ref, Fn::GetAtt, ...) name resources, not variables.
      if (!k.startsWith('Fn::') && k !== 'Ref' && SECRET_NAME.test(k)) {
        findings.push({ where, problem: `secret-like name "${k}"` });
      }
      scan(`${where}.${k}`, v, findings);
    }
  }
}

/** ECS `{ Name, Value }` pairs: the name is data, so check it as a name. */
function containerEnvironment(defs: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const def of (defs as { Environment?: unknown[]; Secrets?: unknown[] }[] | undefined) ?? []) {
    for (const pair of [...(def.Environment ?? []), ...(def.Secrets ?? [])] as {
      Name: string;
      Value?: unknown;
      ValueFrom?: unknown;
    }[]) {
      out[pair.Name] = pair.Value ?? pair.ValueFrom;
    }
  }
  return out;
}

/** What each resource type exposes as environment or input. */
const EXPOSED: Record<string, (p: Record<string, unknown>) => unknown> = {
  'AWS::Lambda::Function': (p) => (p.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
  'AWS::ECS::TaskDefinition': (p) => containerEnvironment(p.ContainerDefinitions),
  'AWS::StepFunctions::StateMachine': (p) => ({ definition: p.DefinitionString ?? p.Definition }),
  'AWS::Scheduler::Schedule': (p) => ({ input: (p.Target as { Input?: unknown } | undefined)?.Input }),
};

/** Both stacks in one app, as bin/app.ts builds them. */
function synthesizedResources(): { stack: string; id: string; resource: Resource }[] {
  const config = exampleConfig();
  const app = newApp();
  new ReplicaStack(app, 'RestorableReplica', { config });
  new BackupStack(app, 'RestorableBackup', { config });
  return app.synth().stacks.flatMap((s) =>
    Object.entries((s.template as { Resources: Record<string, Resource> }).Resources).map(
      ([id, resource]) => ({
        stack: s.stackName,
        id,
        resource,
      }),
    ),
  );
}

describe('no secret material in synthesized environments, definitions and inputs (TESTING 9)', () => {
  const exposed = synthesizedResources().filter((r) => r.resource.Type in EXPOSED);

  test('there is something to scan: functions, state machines and schedules of every kind', () => {
    const types = new Set(exposed.map((r) => r.resource.Type));
    expect([...types]).toEqual(
      expect.arrayContaining([
        'AWS::Lambda::Function',
        'AWS::StepFunctions::StateMachine',
        'AWS::Scheduler::Schedule',
      ]),
    );
    // The dump function is among them, and its environment is really read.
    const dump = exposed.find((r) => /BackupDump/.test(r.id))!;
    expect(EXPOSED[dump.resource.Type](dump.resource.Properties!)).toHaveProperty('BACKUP_BUCKET');
  });

  test('no variable, key or value anywhere in them looks like a secret', () => {
    expect(exposed.length).toBeGreaterThan(0);
    const findings: Finding[] = [];
    for (const r of exposed) {
      scan(`${r.stack}/${r.id}`, EXPOSED[r.resource.Type](r.resource.Properties ?? {}), findings);
    }
    expect(findings).toEqual([]);
  });

  test('the scan recognizes what it must refuse', () => {
    const findings: Finding[] = [];
    scan('PGPASSWORD', { PGPASSWORD: 'x' }, findings);
    scan('uri', { DATABASE_URL: 'postgresql://app:s3cr3t@db.internal:5432/app' }, findings);
    scan('libpq', { DSN: 'host=db user=app password=s3cr3t' }, findings);
    scan('ecs', containerEnvironment([{ Secrets: [{ Name: 'DB_PASS', ValueFrom: 'arn:x' }] }]), findings);
    scan('input', { input: JSON.stringify({ databaseId: 'a', password: 'x' }) }, findings);
    scan(
      'sfn',
      {
        definition: { 'Fn::Join': ['', ['{"States":{"Read":{"Parameters":{"SecretString.$":"$.s"', '}}}']] },
      },
      findings,
    );
    expect(findings.map((f) => f.where)).toEqual([
      'PGPASSWORD',
      'uri.DATABASE_URL',
      'libpq.DSN',
      'ecs',
      'input.input (JSON)',
      'sfn.definition.Fn::Join[1][0]',
    ]);
    const references: Finding[] = [];
    scan(
      'refs',
      { secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:x', BACKUP_KMS_KEY_ARN: 'arn:k' },
      references,
    );
    expect(references).toEqual([]);
  });
});
