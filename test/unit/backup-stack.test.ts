import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupStack } from '../../lib/stacks/backup-stack';
import { exampleConfig, newApp, synthBackupStack as synth } from './cdk-support';
import { aliasViaS3, permissionsOf, tierObjects, viaS3 } from './iam-support';

function replicationPolicyStatements(template: Template): Record<string, unknown>[] {
  const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy'));
  expect(policies).toHaveLength(1);
  return policies[0].Properties.PolicyDocument.Statement as Record<string, unknown>[];
}

function statement(template: Template, sid: string): Record<string, unknown> {
  const found = replicationPolicyStatements(template).find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

describe('BackupStack', () => {
  test('deploys to the configured account and primary region', () => {
    const { stack } = synth();
    expect(stack.account).toBe('123456789012');
    expect(stack.region).toBe('eu-west-1');
    expect(stack.replicaRegion).toBe('eu-central-1');
  });

  test("passes a database's lockWaitTimeoutSeconds to its dump function only, and leaves the others the default", () => {
    const { template } = synth(exampleConfig((c) => (c.databases[0].lockWaitTimeoutSeconds = 5)));
    const dumps = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { ImageConfig: { Command: ['dump.handler'] } },
      }),
    ).map((r) => (r as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties);
    expect(dumps.map((p) => p.Environment.Variables.LOCK_WAIT_TIMEOUT_SECONDS).sort()).toEqual([
      '5',
      undefined,
    ]);
    expect(() => exampleConfig((c) => (c.databases[0].lockWaitTimeoutSeconds = 0))).toThrow(
      /databases\[0\]\.lockWaitTimeoutSeconds/,
    );
  });

  test("grants a database's dump kms:Decrypt on its secret's customer managed key, for that secret only", () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555';
    const { template } = synth(exampleConfig((c) => (c.databases[0].secretKmsKeyArn = key)));
    const decrypts = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as { Resource?: unknown }[]).filter((s) => s.Resource === key),
    );
    expect(decrypts).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: key,
        Condition: {
          StringEquals: {
            'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
            'kms:EncryptionContext:SecretARN':
              'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/orders-AbC123',
          },
        },
      },
    ]);
  });

  test("passes a database's preset to its dump function only, and refuses an unknown one", () => {
    const { template } = synth(exampleConfig((c) => (c.databases[0].preset = 'supabase')));
    const dumps = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { ImageConfig: { Command: ['dump.handler'] } },
      }),
    ).map((r) => (r as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties);
    expect(dumps.map((p) => p.Environment.Variables.DATABASE_PRESET).sort()).toEqual(['supabase', undefined]);
    expect(() => exampleConfig((c) => (c.databases[0].preset = 'neon'))).toThrow(/databases\[0\]\.preset/);
  });

  test("places the dump and the drill in the database's VPC and verify outside any VPC", () => {
    const { template } = synth();
    const vpcOf = (command: string, database: string) =>
      Object.entries(
        template.findResources('AWS::Lambda::Function', {
          Properties: { ImageConfig: { Command: [command] } },
        }),
      )
        .filter(([id]) => id.startsWith(`Database${database}`))
        .map(([, fn]) => (fn as { Properties: { VpcConfig?: unknown } }).Properties.VpcConfig);
    // orders has a VPC: its dump and drill run there.
    expect(vpcOf('dump.handler', 'Orders')).toEqual([
      expect.objectContaining({ SubnetIds: expect.any(Array) }),
    ]);
    expect(vpcOf('drill.handler', 'Orders')).toEqual([
      expect.objectContaining({ SubnetIds: expect.any(Array) }),
    ]);
    // Verify of every database runs outside any VPC.
    expect(vpcOf('verify.handler', 'Orders')).toEqual([undefined]);
    expect(vpcOf('verify.handler', 'Analytics')).toEqual([undefined]);
  });

  test("passes a database's dumpFrom to its dump function with read access to the replica's secret", () => {
    const replicaSecret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:restorable/replica-XyZ789';
    const { template } = synth(
      exampleConfig(
        (c) => (c.databases[0].dumpFrom = { host: 'replica.example.internal', secretArn: replicaSecret }),
      ),
    );
    const dumps = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { ImageConfig: { Command: ['dump.handler'] } },
      }),
    ).map((r) => (r as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties);
    const values = dumps.map((p) => p.Environment.Variables.DUMP_FROM).filter((v) => v !== undefined);
    expect(values.map((v) => JSON.parse(v as string))).toEqual([
      { host: 'replica.example.internal', secretArn: replicaSecret },
    ]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).toContain('restorable/replica-XyZ789');
    expect(() => exampleConfig((c) => (c.databases[0].dumpFrom = { port: 5433 }))).toThrow(
      /databases\[0\]\.dumpFrom.*needs a host or a secretArn/s,
    );
  });

  test('creates the VPC endpoints the dump and drill need when the config asks, and then does not warn', () => {
    const { stack, template } = synth(
      exampleConfig((c) => {
        const vpc = c.databases[0].vpc as Record<string, unknown>;
        vpc.provisionEndpoints = true;
        vpc.routeTableIds = ['rtb-0123456789abcdef0'];
      }),
    );
    for (const service of ['secretsmanager', 'rds', 'kms', 'sts', 'logs', 'monitoring']) {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        ServiceName: `com.amazonaws.eu-west-1.${service}`,
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        VpcId: 'vpc-0123456789abcdef0',
        SubnetIds: Match.anyValue(),
        SecurityGroupIds: [
          { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseOrdersEndpointsSecurityGroup'), 'GroupId'] },
        ],
      });
    }
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      ServiceName: 'com.amazonaws.eu-west-1.s3',
      VpcEndpointType: 'Gateway',
      RouteTableIds: ['rtb-0123456789abcdef0'],
    });
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 7);
    // HTTPS in from the dump's security group and the drill function's, nothing else.
    const [endpointGroupId] = Object.keys(
      template.findResources('AWS::EC2::SecurityGroup', {
        Properties: { GroupDescription: Match.stringLikeRegexp('^Restorable VPC endpoints') },
      }),
    );
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map((r) => r.Properties as Record<string, unknown>)
      .filter((p) => JSON.stringify(p.GroupId).includes(endpointGroupId));
    expect(
      ingress.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, JSON.stringify(p.SourceSecurityGroupId)]),
    ).toEqual([
      ['tcp', 443, 443, '"sg-0123456789abcdef0"'],
      ['tcp', 443, 443, expect.stringMatching(/DatabaseOrdersDrillFunctionSecurityGroup/)],
    ]);
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('need, from their subnets'),
    );
    expect(warnings.map((w) => w.id)).toEqual(['/RestorableBackup/DatabaseAnalytics/DrillNetwork/Network']);
  });

  test('creates no endpoints by default and warns with the list for every VPC it places a function in', () => {
    const { stack, template } = synth();
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('need, from their subnets'),
    );
    expect(warnings.map((w) => w.id).sort()).toEqual([
      '/RestorableBackup/DatabaseAnalytics/DrillNetwork/Network',
      '/RestorableBackup/DatabaseOrders/Network',
    ]);
    expect(() =>
      exampleConfig((c) => ((c.databases[0].vpc as Record<string, unknown>).provisionEndpoints = true)),
    ).toThrow(/databases\[0\]\.vpc\.routeTableIds is required with provisionEndpoints/);
  });

  test("passes a database's drill.parameters to its drill parameter groups", () => {
    const { template } = synth(
      exampleConfig((c) => {
        c.databases[0].drill = {
          ...(c.databases[0].drill as Record<string, unknown> | undefined),
          parameters: { shared_preload_libraries: 'pg_cron' },
        };
      }),
    );
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Parameters: {
        shared_preload_libraries: 'pg_cron',
        max_locks_per_transaction: '256',
        'rds.force_ssl': '1',
      },
    });
  });

  test('names the primary bucket after account and region and aliases the key', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'restorable-123456789012-eu-west-1-backups',
      ObjectLockEnabled: true,
    });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/restorable/backups' });
  });

  test('replicates every object to the replica bucket with RTC, metrics and the replica key, without delete markers', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::S3::Bucket', {
      ReplicationConfiguration: {
        Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsReplicationRole'), 'Arn'] },
        Rules: [
          {
            Id: 'all-objects-to-replica',
            Status: 'Enabled',
            Priority: 1,
            Filter: { Prefix: '' },
            DeleteMarkerReplication: { Status: 'Disabled' },
            SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
            Destination: {
              Bucket: 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups',
              EncryptionConfiguration: {
                ReplicaKmsKeyID: 'arn:aws:kms:eu-central-1:123456789012:alias/restorable/backups',
              },
              ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
              Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
            },
          },
        ],
      },
    });
  });

  test('lets only S3 assume the replication role', () => {
    synth().template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' } },
        ],
      },
    });
  });

  test('gives the replication role read access to the source bucket configuration', () => {
    const { template } = synth();
    expect(statement(template, 'SourceBucket')).toEqual({
      Sid: 'SourceBucket',
      Effect: 'Allow',
      Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Backups/), 'Arn'] },
    });
  });

  test('lets the replication role read source versions, ACLs, tags, retention and legal holds', () => {
    const source = statement(synth().template, 'SourceObjects');
    expect(source.Action).toEqual([
      's3:GetObjectLegalHold',
      's3:GetObjectRetention',
      's3:GetObjectVersionAcl',
      's3:GetObjectVersionForReplication',
      's3:GetObjectVersionTagging',
    ]);
    expect(JSON.stringify(source.Resource)).toMatch(/"\/\*"/);
  });

  test('lets the replication role replicate objects and tags but never deletes', () => {
    const { template } = synth();
    expect(statement(template, 'DestinationObjects')).toEqual({
      Sid: 'DestinationObjects',
      Effect: 'Allow',
      Action: ['s3:ReplicateObject', 's3:ReplicateTags'],
      Resource: 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups/*',
    });
    const everyPolicy = JSON.stringify({
      ...template.findResources('AWS::IAM::ManagedPolicy'),
      ...template.findResources('AWS::IAM::Policy'),
      ...template.findResources('AWS::IAM::Role'),
    });
    expect(everyPolicy).not.toMatch(/s3:ReplicateDelete|s3:\*|s3:Delete/);
  });

  test('limits the role to decrypting the source key through S3 in the primary region', () => {
    const { template } = synth();
    expect(statement(template, 'DecryptSource')).toMatchObject({
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'] },
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
        },
      },
    });
  });

  test('limits the role to encrypting with the aliased replica key through S3 in the replica region', () => {
    expect(statement(synth().template, 'EncryptReplica')).toEqual({
      Sid: 'EncryptReplica',
      Effect: 'Allow',
      Action: 'kms:Encrypt',
      Resource: 'arn:aws:kms:eu-central-1:123456789012:key/*',
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-central-1.', { Ref: 'AWS::URLSuffix' }]] },
        },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/restorable/backups' },
      },
    });
  });

  test('attaches the replication permissions as a managed policy, with no inline policies', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^BackupsReplicationRole') }],
    });
    // No inline policy on the replication role (the workflows' roles have their own).
    const inline = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes('BackupsReplicationRole'),
    );
    expect(inline).toEqual([]);
  });

  test('needs no cross-region references, custom resources or lookups', () => {
    const { template } = synth();
    const json = JSON.stringify(template.toJSON().Resources);
    expect(json).not.toMatch(
      /Fn::ImportValue|Custom::|AWS::CloudFormation::CustomResource|AWS::SSM::Parameter/,
    );
  });

  test('protects the key against destruction by anyone but root, the deployment role and configured admins', () => {
    const config = exampleConfig((c) => (c.keyAdmins = ['arn:aws:iam::123456789012:role/BreakGlass']));
    synth(config).template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      PendingWindowInDays: 30,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyKeyDestructionExceptAdmins',
            Effect: 'Deny',
            Action: Match.arrayWith(['kms:DisableKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion']),
            Condition: {
              ArnNotLike: {
                'aws:PrincipalArn': Match.arrayWith([
                  'arn:aws:iam::123456789012:root',
                  'arn:aws:iam::123456789012:role/BreakGlass',
                ]),
              },
            },
          }),
        ]),
      },
    });
  });

  test('applies the configured retention and Object Lock to the primary bucket', () => {
    const config = exampleConfig((c) => {
      c.retention = {
        dailyDays: 14,
        weeklyDays: 60,
        monthlyDays: 400,
        yearlyDays: 3650,
        drillReportDays: 500,
      };
      c.objectLock = { mode: 'COMPLIANCE', defaultRetentionDays: 14 };
    });
    const { template } = synth(config);
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 14 } } },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'daily-tier', ExpirationInDays: 14 }),
          Match.objectLike({ Id: 'weekly-tier', ExpirationInDays: 60 }),
          Match.objectLike({ Id: 'monthly-tier', ExpirationInDays: 400 }),
          Match.objectLike({ Id: 'yearly-tier', ExpirationInDays: 3650 }),
          Match.objectLike({ Id: 'drill-reports', ExpirationInDays: 500 }),
        ]),
      },
    });
  });

  test('outputs the bucket names and key ARN for the CLI', () => {
    const { stack, template } = synth();
    template.hasOutput('BackupBucketName', { Value: { Ref: Match.stringLikeRegexp('^Backups') } });
    // The key's own ARN (what the CLI encrypts and decrypts with), not just any output by that name.
    template.hasOutput('BackupKeyArn', { Value: stack.resolve(stack.key.key.keyArn) });
    expect(stack.resolve(stack.key.key.keyArn)).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^BackupKey/), 'Arn'],
    });
    template.hasOutput('ReplicaBucketName', { Value: 'restorable-123456789012-eu-central-1-backups' });
  });

  test('gives the replication role exactly: read source versions and their lock, replicate (no deletes), keys through S3', () => {
    const { stack, template } = synth();
    const bucket = `\${${stack.getLogicalId(stack.backups.bucket.node.defaultChild as s3.CfnBucket)}.Arn}`;
    const key = `\${${stack.getLogicalId(stack.key.key.node.defaultChild as kms.CfnKey)}.Arn}`;
    const replicaObjects = 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups/*';
    expect(permissionsOf(template, stack, stack.backups.replicationRole!)).toEqual({
      's3:GetReplicationConfiguration': [bucket],
      's3:ListBucket': [bucket],
      's3:GetObjectVersionForReplication': [`${bucket}/*`],
      's3:GetObjectVersionAcl': [`${bucket}/*`],
      's3:GetObjectVersionTagging': [`${bucket}/*`],
      's3:GetObjectRetention': [`${bucket}/*`],
      's3:GetObjectLegalHold': [`${bucket}/*`],
      's3:ReplicateObject': [replicaObjects],
      's3:ReplicateTags': [replicaObjects],
      'kms:Decrypt': [key + viaS3('eu-west-1')],
      'kms:Encrypt': [
        'arn:aws:kms:eu-central-1:123456789012:key/*' +
          aliasViaS3('eu-central-1', 'alias/restorable/backups'),
      ],
    });
  });

  test('imports the replica by name with its key by alias, granted through its BackupBucketGrants', () => {
    const stack = new BackupStack(newApp(), 'RestorableBackup', { config: exampleConfig() });
    const role = new iam.Role(stack, 'Reader', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    stack.replica.grants.readBackups(role, 'orders');
    const replica = 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups';
    expect(permissionsOf(Template.fromStack(stack), stack, role)).toEqual({
      's3:GetObject': tierObjects(replica, 'orders'),
      's3:ListBucket': [replica],
      'kms:Decrypt': [
        'arn:aws:kms:eu-central-1:123456789012:key/*' +
          aliasViaS3('eu-central-1', 'alias/restorable/backups'),
      ],
    });
    expect(stack.replica.keyId).toBe('arn:aws:kms:eu-central-1:123456789012:alias/restorable/backups');
  });
});
