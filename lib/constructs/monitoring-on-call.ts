/**
 * The on-call channel of `Monitoring`: the KMS-encrypted SNS topic alarms page (its policy names
 * the AWS service that publishes, bound to this account), its subscriptions, and the operational key made when none is
 * given. Called with the Monitoring construct as scope, so the ids (`Topic`, `Key`) are its own.
 */
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { alarmArnPattern, alarmsKeyStatement, logsKeyStatement } from '../service-key-policy';

export interface OnCallSubscriptions {
  /**
   * Email addresses subscribed to the on-call topic (each must confirm the subscription).
   * @default - no email subscriptions
   */
  readonly emails?: string[];

  /**
   * HTTPS endpoints subscribed to the on-call topic (e.g. a PagerDuty or Opsgenie integration URL).
   * @default - no HTTPS subscriptions
   */
  readonly httpsEndpoints?: string[];
}

/** The on-call topic (`Topic` under `scope`), encrypted with `key`, with its subscriptions. */
export function createOnCallTopic(scope: Construct, key: kms.IKey, props: OnCallSubscriptions): sns.Topic {
  validateSubscriptions(props);
  const stack = Stack.of(scope);
  const topic = new sns.Topic(scope, 'Topic', {
    displayName: 'Restorable on-call',
    masterKey: key,
    enforceSSL: true,
  });
  // A topic policy replaces SNS's default one, so the one AWS service that publishes as itself
  // (CloudWatch alarms) is named, limited to this account's alarms. EventBridge rules publish
  // through a role (`eventBridgeRole` in lib/workflows.ts), never as `events.amazonaws.com`.
  // @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarms',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': alarmArnPattern(stack) },
      },
    }),
  );
  for (const email of props.emails ?? []) {
    topic.addSubscription(new subs.EmailSubscription(email));
  }
  for (const url of props.httpsEndpoints ?? []) {
    topic.addSubscription(new subs.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }));
  }
  return topic;
}

/**
 * The operational key (`Key` under `scope`): the on-call topic and the stack's log groups, never
 * backups, so the backup keys' policies stay free of service principals.
 */
export function createOperationalKey(scope: Construct): kms.Key {
  const key = new kms.Key(scope, 'Key', {
    description: 'Restorable operational data: the on-call topic and log groups (never backups)',
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
  });
  // Alarms publish to the encrypted topic as their service, which needs the key.
  key.addToResourcePolicy(alarmsKeyStatement(scope, 'AllowThisAccountsAlarmsToPublishToTheEncryptedTopic'));
  // CloudWatch Logs encrypts this stack's log groups, and only log groups of this account and region.
  key.addToResourcePolicy(logsKeyStatement(scope, 'AllowCloudWatchLogsForThisAccountsLogGroups'));
  return key;
}

function validateSubscriptions(props: OnCallSubscriptions): void {
  for (const email of props.emails ?? []) {
    if (!Token.isUnresolved(email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      throw new Error(`emails: "${email}" is not an email address`);
    }
  }
  for (const url of props.httpsEndpoints ?? []) {
    if (!Token.isUnresolved(url) && !/^https:\/\/[^\s/]+/.test(url)) {
      throw new Error(`httpsEndpoints: "${url}" must be an https:// URL`);
    }
  }
}
