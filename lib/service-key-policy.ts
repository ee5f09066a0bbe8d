/**
 * Key-policy statements that let an AWS service use a key, each bound to this account (the
 * confused-deputy protection) by the condition the service documents for it.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/**
 * CloudWatch Logs encrypting log groups of this account and region: `logGroupName` only, or all of
 * them when omitted. The binding is the encryption context, whose log-group ARN names the account
 * and region: that is the condition CloudWatch Logs documents for its key policies. It documents no
 * `aws:SourceAccount`/`aws:SourceArn` for this call, and a condition on a key the service does not
 * send fails closed, so the log group could not be created.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
 */
export function logsKeyStatement(scope: Construct, sid: string, logGroupName?: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  const logGroupArn = stack.formatArn({
    service: 'logs',
    resource: 'log-group',
    resourceName: logGroupName ?? '*',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  return new iam.PolicyStatement({
    sid,
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: {
      [logGroupName === undefined ? 'ArnLike' : 'ArnEquals']: {
        'kms:EncryptionContext:aws:logs:arn': logGroupArn,
      },
    },
  });
}

/**
 * CloudWatch alarms of this account and region publishing to a topic encrypted with the key.
 * CloudWatch sends `aws:SourceAccount` and `aws:SourceArn` (the alarm) with these calls.
 * @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
 */
export function alarmsKeyStatement(scope: Construct, sid: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  return new iam.PolicyStatement({
    sid,
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    resources: ['*'],
    conditions: {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': alarmArnPattern(stack) },
    },
  });
}

/** Every CloudWatch alarm of the stack's account and region. */
export function alarmArnPattern(stack: Stack): string {
  return stack.formatArn({
    service: 'cloudwatch',
    resource: 'alarm',
    resourceName: '*',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
