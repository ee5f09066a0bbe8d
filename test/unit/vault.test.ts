/**
 * The vault as deployed: bucket-policy denies on both buckets, conditional creates and bounded
 * retention, the audit trail and the rules that page, the separate backup account, and what a
 * governed account needs (termination protection, grants only for AWS services, no reserved
 * concurrency unless asked).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { ReplicaStack } from '../../lib/stacks/replica-stack';
import { VAULT_DEPLOYABLE_ACTIONS, VAULT_PROTECTED_ACTIONS } from '../../lib/constructs/vault-policy';
import { exampleConfig, newApp } from './cdk-support';

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/restorable-break-glass';
const BACKUP_ACCOUNT = '111122223333';
const REPLICA_KEY_ARN = `arn:aws:kms:eu-central-1:${BACKUP_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

type Config = ReturnType<typeof exampleConfig>;
type Change = Parameters<typeof exampleConfig>[0];

function stacks(change?: Change): {
  config: Config;
  replica: Template;
  backup: Template;
  app: ReturnType<typeof newApp>;
  stacks: [ReplicaStack, BackupStack];
} {
  const app = newApp();
  const config = exampleConfig(change);
  const replica = new ReplicaStack(app, 'RestorableReplica', { config });
  const backup = new BackupStack(app, 'RestorableBackup', { config });
  return {
    config,
    app,
    stacks: [replica, backup],
    replica: Template.fromStack(replica),
    backup: Template.fromStack(backup),
  };
}

/** The policy statements of the backup bucket (the one named `...-backups`) in a template. */
function backupBucketPolicy(template: Template): Record<string, unknown>[] {
  const [bucketId] = Object.keys(
    template.findResources('AWS::S3::Bucket', {
      Properties: { BucketName: Match.stringLikeRegexp('-backups$') },
    }),
  );
  const policies = Object.values(
    template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucketId } } }),
  );
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement as Record<string, unknown>[];
}

const sid = (statements: Record<string, unknown>[], id: string) => {
  const found = statements.find((s) => s.Sid === id);
  if (!found) throw new Error(`no statement ${id}`);
  return found;
};

const bothBuckets = (t: { replica: Template; backup: Template }) =>
  [
    ['primary', backupBucketPolicy(t.backup)],
    ['replica', backupBucketPolicy(t.replica)],
  ] as const;

describe('vault bucket policy, on both buckets', () => {
  const t = stacks();

  test.each(bothBuckets(t))(
    '%s: denies version deletion, bypass and configuration changes to all but break-glass',
    (_name, statements) => {
      const deny = sid(statements, 'DenyVaultChangesExceptBreakGlass');
      expect(deny).toMatchObject({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [BREAK_GLASS] } },
      });
      expect(deny.Action).toEqual(
        expect.arrayContaining([
          's3:DeleteObjectVersion',
          's3:BypassGovernanceRetention',
          's3:DeleteBucketPolicy',
          's3:PutReplicationConfiguration',
          's3:PutBucketObjectLockConfiguration',
          's3:PutBucketVersioning',
        ]),
      );
      expect((deny.Resource as unknown[]).length).toBe(2); // the bucket and its objects
      const deployable = sid(statements, 'DenyPolicyAndLifecycleChangesExceptBreakGlass');
      expect(deployable).toMatchObject({
        Effect: 'Deny',
        Action: ['s3:PutBucketPolicy', 's3:PutLifecycleConfiguration'],
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': [BREAK_GLASS] } },
      });
    },
  );

  test.each(bothBuckets(t))(
    '%s: backup writes must be conditional creates (multipart parts exempt)',
    (_name, statements) => {
      expect(sid(statements, 'DenyBackupWritesWithoutIfNoneMatch')).toMatchObject({
        Effect: 'Deny',
        Action: 's3:PutObject',
        Condition: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      });
      const resources = JSON.stringify(sid(statements, 'DenyBackupWritesWithoutIfNoneMatch').Resource);
      for (const tier of ['yearly', 'monthly', 'weekly', 'daily']) expect(resources).toContain(`/${tier}/*`);
      expect(resources).not.toContain('/drills/');
    },
  );

  test.each(bothBuckets(t))(
    '%s: only the configured lock mode, never locked beyond the tier',
    (_name, statements) => {
      expect(sid(statements, 'DenyOtherObjectLockMode')).toMatchObject({
        Action: ['s3:PutObject', 's3:PutObjectRetention'],
        Condition: {
          StringNotEquals: { 's3:object-lock-mode': 'COMPLIANCE' },
          Null: { 's3:object-lock-mode': 'false' },
        },
      });
      for (const [tier, days] of [
        ['Daily', '30'],
        ['Weekly', '90'],
        ['Monthly', '365'],
        ['Yearly', '2555'],
      ]) {
        const bound = sid(statements, `DenyRetentionBeyond${tier}Expiry`);
        expect(bound).toMatchObject({
          Effect: 'Deny',
          Action: ['s3:PutObject', 's3:PutObjectRetention'],
          Condition: { NumericGreaterThan: { 's3:object-lock-remaining-retention-days': days } },
        });
        expect(JSON.stringify(bound.Resource)).toContain(`/${tier.toLowerCase()}/*`);
      }
    },
  );

  test('the deployment role may update policy and lifecycle only when the config says so', () => {
    const withDeployer = stacks(
      (c) => ((c.vault as Record<string, unknown>).deploymentRoleMayUpdatePolicies = true),
    );
    const statements = backupBucketPolicy(withDeployer.backup);
    const exempt = JSON.stringify(sid(statements, 'DenyPolicyAndLifecycleChangesExceptBreakGlass').Condition);
    expect(exempt).toContain('cfn-exec-role');
    expect(JSON.stringify(sid(statements, 'DenyVaultChangesExceptBreakGlass').Condition)).not.toContain(
      'cfn-exec-role',
    );
  });

  test('without a break-glass role, only the account root user is exempt', () => {
    const noRole = stacks((c) => delete (c.vault as Record<string, unknown>).breakGlassRoleArn);
    expect(sid(backupBucketPolicy(noRole.backup), 'DenyVaultChangesExceptBreakGlass').Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': ['arn:aws:iam::123456789012:root'] },
    });
  });

  test('lists every action the issue names', () => {
    expect([...VAULT_PROTECTED_ACTIONS, ...VAULT_DEPLOYABLE_ACTIONS].sort()).toEqual(
      [
        's3:BypassGovernanceRetention',
        's3:DeleteBucketPolicy',
        's3:DeleteObjectVersion',
        's3:PutBucketObjectLockConfiguration',
        's3:PutBucketPolicy',
        's3:PutBucketVersioning',
        's3:PutLifecycleConfiguration',
        's3:PutObjectLegalHold',
        's3:PutReplicationConfiguration',
      ].sort(),
    );
  });
});

describe('vault audit', () => {
  const t = stacks();

  test('one multi-region trail with validated, encrypted logs and write data events for both buckets', () => {
    t.backup.hasResourceProperties('AWS::CloudTrail::Trail', {
      IsMultiRegionTrail: true,
      EnableLogFileValidation: true,
      KMSKeyId: Match.anyValue(),
      CloudWatchLogsLogGroupArn: Match.anyValue(),
      EventSelectors: Match.arrayWith([
        { ReadWriteType: 'WriteOnly', IncludeManagementEvents: true },
        Match.objectLike({
          ReadWriteType: 'WriteOnly',
          IncludeManagementEvents: false,
          DataResources: [
            Match.objectLike({
              Type: 'AWS::S3::Object',
              Values: Match.arrayWith([
                Match.stringLikeRegexp('restorable-123456789012-eu-central-1-backups/$'),
              ]),
            }),
          ],
        }),
      ]),
    });
    t.replica.resourceCountIs('AWS::CloudTrail::Trail', 0);
  });

  test('pages on-call for deletes, bypass and configuration changes of the buckets, and key disable/deletion', () => {
    t.backup.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.s3'],
        detail: Match.objectLike({
          eventName: Match.arrayWith([
            'DeleteObject',
            'PutObjectRetention',
            'PutBucketPolicy',
            'DeleteBucketPolicy',
            'PutBucketLifecycle',
            'PutBucketReplication',
            'PutBucketVersioning',
            'PutObjectLockConfiguration',
          ]),
        }),
      }),
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^MonitoringTopic') } })],
    });
    t.backup.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.kms'],
        detail: Match.objectLike({ eventName: Match.arrayWith(['DisableKey', 'ScheduleKeyDeletion']) }),
      }),
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^MonitoringTopic') } })],
    });
    t.backup.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        account: ['123456789012'],
        region: ['eu-central-1'],
        source: ['aws.s3', 'aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
      },
    });
  });

  test('the replica region forwards its matches to the primary region bus', () => {
    t.replica.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.kms'] }),
      Targets: [
        Match.objectLike({
          Arn: 'arn:aws:events:eu-west-1:123456789012:event-bus/default',
        }),
      ],
    });
  });
});

describe('replica in a separate backup account', () => {
  const t = stacks((c) => (c.replica = { account: BACKUP_ACCOUNT, keyArn: REPLICA_KEY_ARN }));

  test('replicates with ownership override into the backup account, encrypted with its key', () => {
    t.backup.hasResourceProperties('AWS::S3::Bucket', {
      ReplicationConfiguration: {
        Role: Match.anyValue(),
        Rules: [
          Match.objectLike({
            Destination: Match.objectLike({
              Account: BACKUP_ACCOUNT,
              AccessControlTranslation: { Owner: 'Destination' },
              Bucket: Match.stringLikeRegexp(`restorable-${BACKUP_ACCOUNT}-eu-central-1-backups`),
              EncryptionConfiguration: { ReplicaKmsKeyID: REPLICA_KEY_ARN },
            }),
          }),
        ],
      },
    });
    t.backup.hasResourceProperties('AWS::IAM::Role', { RoleName: 'restorable-replication-eu-west-1' });
    const [policy] = Object.values(t.backup.findResources('AWS::IAM::ManagedPolicy'));
    const destination = (
      policy.Properties.PolicyDocument.Statement as { Sid: string; Action: string[] }[]
    ).find((st) => st.Sid === 'DestinationObjects');
    expect([...destination!.Action].sort()).toEqual([
      's3:ObjectOwnerOverrideToBucketOwner',
      's3:ReplicateObject',
      's3:ReplicateTags',
    ]);
    t.backup.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Principal: BACKUP_ACCOUNT,
      Action: 'events:PutEvents',
    });
  });

  test('the replica stack deploys to the backup account and lets only the source replication role in', () => {
    const [replica] = t.stacks;
    expect(replica.account).toBe(BACKUP_ACCOUNT);
    const roleArn = 'arn:aws:iam::123456789012:role/restorable-replication-eu-west-1';
    const statements = backupBucketPolicy(t.replica);
    const replicate = sid(statements, 'SourceAccountReplicatesObjects');
    expect(replicate).toMatchObject({ Effect: 'Allow', Principal: { AWS: roleArn } });
    expect([...(replicate.Action as string[])].sort()).toEqual([
      's3:ObjectOwnerOverrideToBucketOwner',
      's3:ReplicateObject',
      's3:ReplicateTags',
    ]);
    t.replica.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowSourceReplicationRoleToEncryptReplicas',
            Principal: { AWS: roleArn },
            Condition: { StringEquals: { 'kms:ViaService': Match.anyValue() } },
          }),
        ]),
      },
    });
    // Its own trail: the primary account's trail cannot see this account.
    t.replica.resourceCountIs('AWS::CloudTrail::Trail', 1);
  });
});

describe('governed accounts', () => {
  const t = stacks();

  test('both stacks have termination protection', () => {
    for (const stack of t.stacks) expect(stack.terminationProtection).toBe(true);
  });

  test('every key limits grant creation to AWS services (CT.KMS.PR.3)', () => {
    for (const template of [t.backup, t.replica]) {
      for (const key of Object.values(template.findResources('AWS::KMS::Key'))) {
        expect(key.Properties.KeyPolicy.Statement).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              Effect: 'Deny',
              Action: 'kms:CreateGrant',
              Condition: {
                BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
              },
            }),
          ]),
        );
      }
    }
  });

  test('service principals in the trail key policy are tied to this trail and log group', () => {
    const trailKey = Object.entries(t.backup.findResources('AWS::KMS::Key')).find(([id]) =>
      id.startsWith('VaultAudit'),
    );
    const statements = trailKey![1].Properties.KeyPolicy.Statement as Record<string, unknown>[];
    expect(sid(statements, 'CloudTrailEncryptsThisTrail').Condition).toEqual({
      StringEquals: {
        'aws:SourceArn': 'arn:aws:cloudtrail:eu-west-1:123456789012:trail/restorable-vault-eu-west-1',
        'aws:SourceAccount': '123456789012',
      },
    });
    expect(sid(statements, 'CloudWatchLogsEncryptsTheTrailCopy').Condition).toEqual({
      ArnEquals: {
        'kms:EncryptionContext:aws:logs:arn':
          'arn:aws:logs:eu-west-1:123456789012:log-group:/restorable/vault-trail-eu-west-1',
      },
    });
  });

  test('no function reserves concurrency unless the config asks, then all do', () => {
    for (const fn of Object.values(t.backup.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
    const reserved = stacks((c) => (c.functions = { reservedConcurrency: 2 }));
    const functions = Object.values(reserved.backup.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(4);
    for (const fn of functions) expect(fn.Properties.ReservedConcurrentExecutions).toBe(2);
  });
});

/**
 * Every Allow to an AWS service in a key, topic or bucket policy is bound to this account (the
 * confused-deputy protection): by `aws:SourceAccount`/`aws:SourceArn`, by an encryption context ARN
 * that names the account, or by a Deny in the same policy for any other source.
 */
describe('service principals in resource policies (confused deputy)', () => {
  type Statement = {
    Sid?: string;
    Effect: string;
    Principal?: { Service?: unknown };
    Condition?: Record<string, Record<string, unknown>>;
  };
  const POLICY_PROPERTY: Record<string, string> = {
    'AWS::KMS::Key': 'KeyPolicy',
    'AWS::SNS::TopicPolicy': 'PolicyDocument',
    'AWS::S3::BucketPolicy': 'PolicyDocument',
  };
  const BINDING_KEYS = ['aws:SourceAccount', 'aws:SourceArn', 'kms:EncryptionContext:aws:logs:arn'];

  /** The condition values under the binding keys, resolved to strings, of one statement. */
  function bindings(condition: Statement['Condition']): string[] {
    return Object.values(condition ?? {}).flatMap((block) =>
      Object.entries(block)
        .filter(([key]) => BINDING_KEYS.includes(key))
        .map(([, value]) => JSON.stringify(value)),
    );
  }

  function unbound(template: Template, account: string): string[] {
    const problems: string[] = [];
    for (const [type, property] of Object.entries(POLICY_PROPERTY)) {
      for (const [id, resource] of Object.entries(template.findResources(type))) {
        const statements = resource.Properties[property].Statement as Statement[];
        const services = (s: Statement) => [s.Principal?.Service ?? []].flat().map((x) => JSON.stringify(x));
        const deniedOtherSources = new Set(
          statements
            .filter((s) => s.Effect === 'Deny' && s.Condition?.StringNotEquals?.['aws:SourceArn'])
            .flatMap(services),
        );
        for (const statement of statements.filter((s) => s.Effect === 'Allow' && s.Principal?.Service)) {
          for (const service of services(statement)) {
            const bound = bindings(statement.Condition).some(
              (v) => v.includes(account) || v.includes('GetAtt'),
            );
            if (!bound && !deniedOtherSources.has(service))
              problems.push(`${id} ${statement.Sid ?? ''} ${service}`);
          }
        }
      }
    }
    return problems;
  }

  test.each([
    ['a same-account replica', undefined],
    [
      'a replica in a backup account',
      (c: Parameters<NonNullable<Change>>[0]) =>
        (c.replica = { account: BACKUP_ACCOUNT, keyArn: REPLICA_KEY_ARN }),
    ],
  ])('every Allow to a service is bound to its account, with %s', (_name, change) => {
    const t = stacks(change);
    expect(unbound(t.backup, '123456789012')).toEqual([]);
    expect(unbound(t.replica, change ? BACKUP_ACCOUNT : '123456789012')).toEqual([]);
  });

  test('the check fails on a statement without a binding', () => {
    const template = Template.fromJSON({
      Resources: {
        Key: {
          Type: 'AWS::KMS::Key',
          Properties: {
            KeyPolicy: {
              Statement: [
                { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'kms:Decrypt' },
                {
                  Effect: 'Allow',
                  Principal: { Service: 'cloudwatch.amazonaws.com' },
                  Condition: { StringEquals: { 'aws:SourceAccount': '999999999999' } },
                },
              ],
            },
          },
        },
      },
    });
    expect(unbound(template, '123456789012')).toEqual([
      'Key  "events.amazonaws.com"',
      'Key  "cloudwatch.amazonaws.com"',
    ]);
  });

  test('EventBridge is never a principal of the on-call key or topic: rules page through a bound role', () => {
    const t = stacks();
    for (const type of ['AWS::KMS::Key', 'AWS::SNS::TopicPolicy']) {
      expect(JSON.stringify(t.backup.findResources(type))).not.toContain('events.amazonaws.com');
    }
    const [roleId] = Object.keys(
      t.backup.findResources('AWS::IAM::Role', {
        Properties: { Description: 'Pages on-call for Restorable vault events' },
      }),
    );
    t.backup.hasResourceProperties('AWS::IAM::Role', {
      Description: 'Pages on-call for Restorable vault events',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'events.amazonaws.com' },
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: { 'aws:SourceArn': 'arn:aws:events:eu-west-1:123456789012:rule/*' },
            },
          }),
        ],
      },
    });
    t.backup.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: { Ref: Match.stringLikeRegexp('^MonitoringTopic') },
          RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
        }),
      ],
    });
  });

  test('CloudTrail may use the trail bucket for the vault trail only', () => {
    const t = stacks();
    const policies = Object.values(t.backup.findResources('AWS::S3::BucketPolicy'));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    expect(sid(statements as Record<string, unknown>[], 'CloudTrailOnlyForTheVaultTrail')).toMatchObject({
      Effect: 'Deny',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: ['s3:GetBucketAcl', 's3:PutObject'],
      Condition: {
        StringNotEquals: {
          'aws:SourceArn': 'arn:aws:cloudtrail:eu-west-1:123456789012:trail/restorable-vault-eu-west-1',
        },
      },
    });
  });
});
