/**
 * What `cdk synth` loads: the CDK app's module graph (bin/app.ts and everything it imports, as
 * esbuild resolves it) must not reach the runtime's AWS SDK clients, `pg` or Powertools. Synth
 * shares constants with the runtime only through dependency-free core modules (drill naming,
 * settings, metric names), so a CDK change never needs the Lambda's dependencies, and a runtime
 * import slipped into lib/ (as drill-iam.ts once imported the RDS provider) fails here.
 */
import { build } from 'esbuild';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const RUNTIME_ONLY = /^(@aws-sdk\/|@smithy\/|@aws-lambda-powertools\/|pg$|pg\/)/;

/** Every package and repository file the app's module graph loads. */
async function synthGraph(): Promise<{
  packages: string[];
  files: string[];
  /** The packages each lambda/ module in the graph imports. */
  lambdaImports: Record<string, string[]>;
}> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['bin/app.ts'],
    bundle: true,
    platform: 'node',
    packages: 'external',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const inputs = Object.values(result.metafile.inputs);
  const packages = new Set(inputs.flatMap((i) => i.imports.filter((m) => m.external).map((m) => m.path)));
  const lambdaImports = Object.fromEntries(
    Object.entries(result.metafile.inputs)
      .filter(([file]) => file.startsWith('lambda/'))
      .map(([file, input]) => [file, input.imports.filter((m) => m.external).map((m) => m.path)]),
  );
  return { packages: [...packages].sort(), files: Object.keys(result.metafile.inputs).sort(), lambdaImports };
}

describe('the cdk synth module graph', () => {
  test('loads no AWS SDK client, pg or Powertools', async () => {
    const { packages, files } = await synthGraph();
    // The graph really is the app's: the stacks and the CDK are in it.
    expect(files).toEqual(expect.arrayContaining(['lib/stacks/backup-stack.ts', 'lib/drill-iam.ts']));
    expect(packages).toContain('aws-cdk-lib');
    expect(packages.filter((p) => RUNTIME_ONLY.test(p))).toEqual([]);
  });

  test('reaches lambda/ only through modules that need nothing but zod', async () => {
    const { lambdaImports } = await synthGraph();
    expect(Object.keys(lambdaImports)).toContain('lambda/core/drill-naming.ts');
    expect(Object.keys(lambdaImports)).not.toContain('lambda/core/providers/rds.ts');
    for (const [file, packages] of Object.entries(lambdaImports)) {
      expect({ file, packages: packages.filter((p) => p !== 'zod') }).toEqual({ file, packages: [] });
    }
  });
});
