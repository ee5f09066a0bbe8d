/**
 * The on-call channel of `Monitoring`: the KMS-encrypted SNS topic alarms page (its policy names
 * the AWS services that publish), its subscriptions, and the operational key made when none is
 * given. Called with the Monitoring construct as scope, so the ids (`Topic`, `Key`) are its own.
 */
import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';

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
  // A topic policy replaces SNS's default one, so the publishers that are AWS services are named
  // explicitly, each limited to this account.
  // @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
  const publishers = [
    {
      sid: 'AllowCloudWatchAlarms',
      service: 'cloudwatch.amazonaws.com',
      sourceArn: stack.formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
    {
      sid: 'AllowEventBridgeRules',
      service: 'events.amazonaws.com',
      sourceArn: stack.formatArn({ service: 'events', resource: 'rule', resourceName: '*' }),
    },
  ];
  for (const { sid, service, sourceArn } of publishers) {
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal(service)],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': sourceArn },
        },
      }),
    );
  }
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
  const stack = Stack.of(scope);
  const key = new kms.Key(scope, 'Key', {
    description: 'Restorable operational data: the on-call topic and log groups (never backups)',
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
  });
  // Alarms and rules publish to the encrypted topic as their service, which needs the key.
  // @see https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowAlarmsAndRulesToPublishToTheEncryptedTopic',
      principals: [
        new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
        new iam.ServicePrincipal('events.amazonaws.com'),
      ],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }),
  );
  // CloudWatch Logs encrypts this stack's log groups, and only log groups of this account and region.
  // @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogsForThisAccountsLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
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
