/**
 * AWS Control Tower proactive controls over both synthesized stacks: the cfn-guard rules published
 * with @cdklabs/cdk-validator-cfnguard, run by its bundled cfn-guard binary. A failure passes only
 * where the failing resource suppresses that rule (`Metadata.guard.SuppressedRules`) with a reason
 * (`Metadata.guard.Reasons`): the published rules do not read the marker themselves.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { exampleConfig, newApp } from './cdk-support';
import { fleetApp, fleetConfig } from './fleet-support';

const PACKAGE = join(__dirname, '..', '..', 'node_modules', '@cdklabs', 'cdk-validator-cfnguard');
const CFN_GUARD = join(PACKAGE, 'bin', 'ubuntu', 'x86_64', 'cfn-guard');
const RULES = join(PACKAGE, 'rules', 'control-tower', 'cfn-guard');

interface Template {
  Resources: Record<
    string,
    { Metadata?: { guard?: { SuppressedRules?: string[]; Reasons?: Record<string, string> } } }
  >;
}

interface Finding {
  template: string;
  rule: string;
  resource: string;
}

/** Concatenated JSON documents, as cfn-guard prints one per (template, rule file). */
function parseDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)));
  }
  return docs;
}

/** Every (rule, resource) pair that fails, from cfn-guard's JSON report. */
function findings(report: string, templatePaths: Record<string, string>): Finding[] {
  const out: Finding[] = [];
  for (const doc of parseDocuments(report) as { name: string; status: string; not_compliant: unknown[] }[]) {
    if (doc.status !== 'FAIL') continue;
    const template = Object.keys(templatePaths).find((name) => templatePaths[name] === doc.name) ?? doc.name;
    for (const failure of doc.not_compliant as { Rule?: { name: string } }[]) {
      const rule = failure.Rule?.name ?? 'unknown';
      const resources = new Set(
        [...JSON.stringify(failure).matchAll(/\/Resources\/([A-Za-z0-9]+)/g)].map((m) => m[1]),
      );
      for (const resource of resources) out.push({ template, rule, resource });
    }
  }
  return out;
}

function runGuard(stacks: Stack[]): { findings: Finding[]; templates: Record<string, Template> } {
  const app = stacks[0].node.root as unknown as {
    synth(): { getStackByName(n: string): { template: unknown } };
  };
  const assembly = app.synth();
  const dir = mkdtempSync(join(tmpdir(), 'restorable-guard-'));
  try {
    const templates: Record<string, Template> = {};
    const paths: Record<string, string> = {};
    for (const stack of stacks) {
      const template = assembly.getStackByName(stack.stackName).template as Template;
      templates[stack.stackName] = template;
      paths[stack.stackName] = join(dir, `${stack.stackName}.template.json`);
      writeFileSync(paths[stack.stackName], JSON.stringify(template));
    }
    let report: string;
    try {
      report = execFileSync(
        CFN_GUARD,
        [
          'validate',
          ...Object.values(paths).flatMap((p) => ['-d', p]),
          '-r',
          RULES,
          '--show-summary',
          'none',
          '--output-format',
          'json',
        ],
        { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
      );
    } catch (err) {
      // cfn-guard exits 19 when a rule fails; its report is still on stdout.
      const e = err as { status?: number; stdout?: string };
      if (e.status !== 19 || !e.stdout) throw err;
      report = e.stdout;
    }
    return { findings: findings(report, paths), templates };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function bothStacks() {
  const app = newApp();
  // "orders" on the Fargate runner (its task definitions and cluster under the controls too).
  const config = exampleConfig((c) =>
    Object.assign(c.databases[0], {
      runner: 'fargate',
      fargate: { cpu: 4096, ephemeralStorageGiB: 100, layout: 'directory', jobs: 4 },
    }),
  );
  const replica = new ReplicaStack(app, 'RestorableReplica', { config });
  const backup = new BackupStack(app, 'RestorableBackup', { config });
  backup.addStackDependency(replica);
  return [replica, backup];
}

/** Findings the failing resource does not suppress with a reason. */
const unsuppressed = (result: ReturnType<typeof runGuard>) =>
  result.findings.filter((f) => {
    const guard = result.templates[f.template]?.Resources[f.resource]?.Metadata?.guard;
    return !(guard?.SuppressedRules?.includes(f.rule) && (guard.Reasons?.[f.rule]?.length ?? 0) > 40);
  });

describe('AWS Control Tower proactive controls', () => {
  let result: ReturnType<typeof runGuard>;

  // One cfn-guard run (every published rule over both templates) serves every test here.
  beforeAll(() => {
    if (!existsSync(CFN_GUARD)) throw new Error(`cfn-guard not found at ${CFN_GUARD}`);
    result = runGuard(bothStacks());
  }, 10 * 60_000);

  test('both stacks pass every control, except suppressions that give a reason', () => {
    expect(unsuppressed(result)).toEqual([]);
  });

  test('suppresses only controls that cannot apply: access-log buckets and functions outside a VPC', () => {
    const suppressed = result.findings.map((f) => `${f.rule} ${f.resource.replace(/[0-9A-F]{8}$/, '')}`);
    expect([...new Set(suppressed)].sort()).toEqual([
      // The Fargate tasks write dumps and archives to task storage; the image runs as on Lambda
      // (fargate-runner.ts says why, and what is left to do).
      ...['ecs_containers_readonly_access_check', 'ecs_task_definition_nonroot_user_check'].flatMap((rule) =>
        [
          'DatabaseOrdersBackupFargateDump',
          'DatabaseOrdersBackupFargateVerify',
          'DatabaseOrdersDrillFargateDrill',
        ].map((t) => `${rule} ${t}TaskDefinition`),
      ),
      'lambda_inside_vpc_check DatabaseAnalyticsBackupDump',
      'lambda_inside_vpc_check DatabaseAnalyticsBackupVerify',
      'lambda_inside_vpc_check DrillSweeper',
      'lambda_inside_vpc_check EvidenceReport',
      'lambda_inside_vpc_check Freshness',
      's3_bucket_default_encryption_kms_check BackupsAccessLogs',
      's3_bucket_logging_enabled_check BackupsAccessLogs',
    ]);
  });

  test('reports what a resource breaks, so a clean result is not vacuous', () => {
    const withoutSuppressions: typeof result = {
      findings: result.findings,
      templates: structuredClone(result.templates),
    };
    for (const template of Object.values(withoutSuppressions.templates)) {
      for (const resource of Object.values(template.Resources)) delete resource.Metadata?.guard;
    }
    expect(unsuppressed(withoutSuppressions).map((f) => f.rule)).toEqual(
      expect.arrayContaining(['s3_bucket_logging_enabled_check', 'lambda_inside_vpc_check']),
    );
  });
});

describe('AWS Control Tower proactive controls over the fleet shape', () => {
  test(
    'the fleet stack and its group stacks pass every control, except suppressions that give a reason',
    () => {
      const { backup, groups } = fleetApp(fleetConfig(24));
      const result = runGuard([backup, ...groups]);
      // The one suppression of the group stacks hides no unencrypted log group: each names the
      // fleet stack's monitoring key.
      for (const group of groups) {
        const logGroups = Object.values(result.templates[group.stackName].Resources ?? {}).filter(
          (r) => (r as { Type: string }).Type === 'AWS::Logs::LogGroup',
        ) as { Properties: { KmsKeyId?: unknown } }[];
        expect(logGroups.length).toBeGreaterThan(0);
        for (const lg of logGroups)
          expect(JSON.stringify(lg.Properties.KmsKeyId)).toContain('Fn::GetStackOutput');
      }
      expect(result.findings.length).toBeGreaterThan(0);
      expect(unsuppressed(result)).toEqual([]);
    },
    10 * 60_000,
  );
});
