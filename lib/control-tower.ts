/**
 * Suppressions of AWS Control Tower proactive controls (the cfn-guard rules bundled with
 * `@cdklabs/cdk-validator-cfnguard`), for the few resources a control cannot apply to.
 *
 * The marker is cfn-guard's convention, resource `Metadata.guard.SuppressedRules` (rule names as
 * in the guard files, e.g. `s3_bucket_logging_enabled_check`), with the reason for each beside it
 * in `Metadata.guard.Reasons`. The published Control Tower rules do not read the marker, so the
 * check in test/unit/control-tower.test.ts honours it and requires a reason; in an account that
 * enforces one of these controls as a CloudFormation hook, the resource needs an exemption there.
 *
 * @see https://github.com/aws-cloudformation/cloudformation-guard
 */
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Rule name → why the control cannot apply. */
export type ControlSuppressions = Readonly<Record<string, string>>;

interface GuardMetadata {
  SuppressedRules: string[];
  Reasons: Record<string, string>;
}

/** Marks the CloudFormation resource of `construct` (its default child, or itself) as exempt. */
export function suppressControls(construct: IConstruct, suppressions: ControlSuppressions): void {
  const resource = CfnResource.isCfnResource(construct) ? construct : construct.node.defaultChild;
  if (!resource || !CfnResource.isCfnResource(resource)) {
    throw new Error(`suppressControls: ${construct.node.path} has no CloudFormation resource`);
  }
  for (const [rule, reason] of Object.entries(suppressions)) {
    if (reason.trim().length < 20) {
      throw new Error(`suppressControls: ${rule} on ${construct.node.path} needs a reason, got "${reason}"`);
    }
  }
  const existing = resource.getMetadata('guard') as GuardMetadata | undefined;
  const merged: GuardMetadata = {
    SuppressedRules: [...new Set([...(existing?.SuppressedRules ?? []), ...Object.keys(suppressions)])],
    Reasons: { ...(existing?.Reasons ?? {}), ...suppressions },
  };
  resource.addMetadata('guard', merged);
}
