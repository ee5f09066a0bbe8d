/**
 * What both stacks apply to every function so they deploy into a governed account (AWS Control
 * Tower proactive controls, a new account's Lambda quota): in one place, so no construct has to
 * remember. Called at the end of each stack's constructor, when every function exists (an aspect
 * would run after cdk-nag's, too late for its suppressions).
 */
import type { Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NagSuppressions } from 'cdk-nag';
import { suppressControls } from '../control-tower';

export interface GovernedAccountOptions {
  /**
   * Reserved concurrency for every function.
   *
   * @default - none: a new account's concurrency quota of 10 cannot reserve 1 for each of eight
   *   functions (Lambda keeps 10 unreserved); overlapping backups are kept apart by the workflow
   *   and by conditional creates of unique backup ids, not by a concurrency cap
   */
  readonly reservedConcurrency?: number;
}

export function applyGovernedAccountDefaults(stack: Stack, options: GovernedAccountOptions = {}): void {
  for (const node of stack.node.findAll()) {
    if (!(node instanceof lambda.CfnFunction)) continue;
    if (options.reservedConcurrency !== undefined) {
      node.reservedConcurrentExecutions = options.reservedConcurrency;
    } else if (node.reservedConcurrentExecutions === undefined) {
      NagSuppressions.addResourceSuppressions(node, [
        {
          id: 'NIST.800.53.R5-LambdaConcurrency',
          reason:
            "Reserved concurrency is opt-in (functions.reservedConcurrency): a new account's quota of 10 cannot reserve for every function; overlap is prevented by the workflow and conditional creates.",
        },
      ]);
    }
    // A VPC config is a plain object here (its subnets may be tokens, the object never is).
    const vpc = node.vpcConfig as lambda.CfnFunction.VpcConfigProperty | undefined;
    if (vpc?.subnetIds === undefined) {
      suppressControls(node, {
        lambda_inside_vpc_check:
          'Runs in the database VPC when it reaches the database (dump, drill) and databases[].vpc is set; otherwise (verify, scheduled checks, databases without a VPC) it calls only AWS APIs or an internet-hosted database (e.g. Supabase), and a VPC would add NAT or endpoints without isolating anything.',
      });
    }
  }
}
