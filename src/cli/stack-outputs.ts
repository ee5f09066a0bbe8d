/**
 * What the report, status, cost and remote backup commands read from a deployed BackupStack: its
 * CloudFormation outputs (bucket names, the per-database backup state machines or the fleet's
 * backup orchestrator).
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { Failure, scrub, UsageError } from './errors';
import type { Io } from './output';

export async function readStackOutputs(
  stack: string,
  region?: string,
  client?: CloudFormationClient,
): Promise<Map<string, string>> {
  // Loaded on use: most runs name --bucket, and this client costs start-up time.
  const { CloudFormationClient: Cfn, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cfn = client ?? new Cfn(region ? { region } : {});
  let out;
  try {
    out = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
  } catch (e) {
    throw new Failure(`cannot read stack ${stack}: ${(e as Error).name}: ${(e as Error).message}`);
  }
  return new Map(
    (out.Stacks?.[0]?.Outputs ?? [])
      .filter((o) => o.OutputKey && o.OutputValue)
      .map((o) => [o.OutputKey!, o.OutputValue!]),
  );
}

/** The primary bucket from `--bucket`, else from the stack's BackupBucketName output. */
export async function bucketFrom(o: { bucket?: string; stack?: string; region?: string }): Promise<string> {
  if (o.bucket) return o.bucket;
  if (!o.stack) throw new UsageError('give --bucket <name> or --stack <name>');
  const bucket = (await readStackOutputs(o.stack, o.region)).get('BackupBucketName');
  if (!bucket) throw new Failure(`stack ${o.stack} has no BackupBucketName output`);
  return bucket;
}

/**
 * Prints a usage error as main() prints a thrown UsageError and returns its exit code (2): for
 * commands that report every command-line problem at once before doing anything.
 */
export function usageError(io: Io, message: string): number {
  io.err(`restorable: error: ${scrub(message)} (see --help)`);
  return 2;
}
