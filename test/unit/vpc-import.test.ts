/**
 * An imported VPC cannot be inspected at synth, so the stack warns with the exact endpoints the
 * VPC functions (dump, drill) need.
 */
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { importNetwork, VPC_FUNCTION_ENDPOINTS } from '../../lib/vpc-import';

test('importing a VPC warns with every endpoint the VPC functions need', () => {
  const stack = new Stack();
  importNetwork(stack, { vpcId: 'vpc-0abc', subnetIds: ['subnet-1'], securityGroupIds: [] });
  const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('vpc-0abc'));
  expect(warnings).toHaveLength(1);
  const text = String(warnings[0].entry.data);
  for (const e of VPC_FUNCTION_ENDPOINTS.interface) expect(text).toContain(`com.amazonaws.<region>.${e}`);
  expect(text).toContain('gateway com.amazonaws.<region>.s3');
  expect(VPC_FUNCTION_ENDPOINTS.interface).toEqual([
    'secretsmanager',
    'rds',
    'kms',
    'sts',
    'logs',
    'monitoring',
  ]);
});
