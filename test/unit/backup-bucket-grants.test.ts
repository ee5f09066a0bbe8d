/**
 * The grant methods of a backup bucket (lib/constructs/backup-bucket-grants.ts), each compared
 * whole on a small stack: a plain bucket with its own key (what BackupBucket passes in;
 * backup-bucket.test.ts checks that it does) or the replica imported by name with its key by
 * alias. Also the key helpers and the cdk-nag suppressions each grant adds. No BackupBucket is
 * built here, so the mutation run (jest.stryker.config.js) can run these for every mutant.
 */
import { Aspects, Lazy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackupBucket } from '../../lib/constructs/backup-bucket';
import {
  assertKeyReference,
  BackupBucketGrants,
  keyIdentifier,
  keyStatement,
} from '../../lib/constructs/backup-bucket-grants';
import { newStack } from './cdk-support';
import { aliasViaS3, permissionsOf, tierObjects, viaS3 } from './iam-support';
import { flatten } from './workflow-support';

/** A bucket with its own KMS key, and its grants: what BackupBucket builds, without the rest of it. */
function ownBucket(stack: Stack) {
  const key = new kms.Key(stack, 'Key');
  const bucket = new s3.Bucket(stack, 'Backups', { encryption: s3.BucketEncryption.KMS, encryptionKey: key });
  return {
    bucket,
    key,
    grants: BackupBucketGrants.fromBucket(bucket, { key }),
    ids: {
      bucket: stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket),
      key: stack.getLogicalId(key.node.defaultChild as kms.CfnKey),
    },
  };
}

describe('BackupBucketGrants', () => {
  /** The permissions `grant` gives a fresh role on an owned BackupBucket (`own`) or the imported replica. */
  function granted(
    grant: (grants: BackupBucketGrants, role: iam.Role) => void,
    which: 'own' | 'replica' = 'own',
  ) {
    const stack = newStack();
    const own = which === 'own' ? ownBucket(stack) : undefined;
    const target = own ?? replicaBucket(stack);
    const role = new iam.Role(stack, 'Worker', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    grant(target.grants, role);
    const template = Template.fromStack(stack);
    return { permissions: permissionsOf(template, stack, role), ids: own?.ids };
  }
  const replicaBucket = (stack: Stack) =>
    BackupBucket.fromBucketAttributes(stack, 'Replica', {
      bucketName: 'restorable-123456789012-eu-central-1-backups',
      region: 'eu-central-1',
      encryptionKeyAlias: 'alias/restorable/backups',
    });
  const ownKey = (key: string) => `\${${key}.Arn}${viaS3('eu-west-1')}`;
  const REPLICA = 'arn:aws:s3:::restorable-123456789012-eu-central-1-backups';
  const REPLICA_KEYS = 'arn:aws:kms:eu-central-1:123456789012:key/*';

  test('writeBackups: put, retain, abort and read under the tier prefixes of one database, list only there, the key through S3', () => {
    const { permissions, ids } = granted((g, role) => g.writeBackups(role, 'orders'));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:PutObject': tierObjects(bucket, 'orders'),
      's3:PutObjectRetention': tierObjects(bucket, 'orders'),
      's3:PutObjectTagging': tierObjects(bucket, 'orders'),
      's3:AbortMultipartUpload': tierObjects(bucket, 'orders'),
      's3:ListMultipartUploadParts': tierObjects(bucket, 'orders'),
      's3:GetObject': tierObjects(bucket, 'orders'),
      's3:ListBucket': [
        `${bucket} if {"StringLike":{"s3:prefix":["yearly/orders/*","monthly/orders/*","weekly/orders/*","daily/orders/*","adhoc/orders/*"]}}`,
      ],
      's3:ListBucketMultipartUploads': [bucket],
      'kms:GenerateDataKey': [ownKey(ids!.key)],
      'kms:Decrypt': [ownKey(ids!.key)],
    });
  });

  test('readBackups: get under the tier prefixes of one database, list the bucket, decrypt through S3', () => {
    const { permissions, ids } = granted((g, role) => g.readBackups(role, 'orders'));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:GetObject': tierObjects(bucket, 'orders'),
      's3:ListBucket': [bucket],
      'kms:Decrypt': [ownKey(ids!.key)],
    });
  });

  test('readBackups on the replica imported by name: its key by alias, through S3 in its region', () => {
    const { permissions } = granted((g, role) => g.readBackups(role, 'orders'), 'replica');
    expect(permissions).toEqual({
      's3:GetObject': tierObjects(REPLICA, 'orders'),
      's3:ListBucket': [REPLICA],
      'kms:Decrypt': [REPLICA_KEYS + aliasViaS3('eu-central-1', 'alias/restorable/backups')],
    });
  });

  test("readEvidence: every database's manifests, verification records and drill reports, never a dump; list the bucket; decrypt through S3", () => {
    const { permissions, ids } = granted((g, role) => g.readEvidence(role));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:GetObject': [
        ...['adhoc', 'daily', 'monthly', 'weekly', 'yearly'].flatMap((tier) => [
          `${bucket}/${tier}/*.manifest.json`,
          `${bucket}/${tier}/*.verify-*.json`,
        ]),
        `${bucket}/drills/*`,
      ].sort(),
      's3:ListBucket': [bucket],
      'kms:Decrypt': [ownKey(ids!.key)],
    });
  });

  test('writeDrillReports: put under drills/<db>/ only, a data key through S3', () => {
    const { permissions, ids } = granted((g, role) => g.writeDrillReports(role, 'orders'));
    expect(permissions).toEqual({
      's3:PutObject': [`\${${ids!.bucket}.Arn}/drills/orders/*`],
      'kms:GenerateDataKey': [ownKey(ids!.key)],
    });
  });

  test('writeVerificationRecords: put and retain only <tier>/<db>/*.verify-*.json, a data key through S3', () => {
    const { permissions, ids } = granted((g, role) => g.writeVerificationRecords(role, 'orders'));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:PutObject': tierObjects(bucket, 'orders', '*.verify-*.json'),
      's3:PutObjectRetention': tierObjects(bucket, 'orders', '*.verify-*.json'),
      'kms:GenerateDataKey': [ownKey(ids!.key)],
    });
  });

  test('writeEvidenceReports: put and retain under reports/ only, a data key through S3', () => {
    const { permissions, ids } = granted((g, role) => g.writeEvidenceReports(role));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:PutObject': [`${bucket}/reports/*`],
      's3:PutObjectRetention': [`${bucket}/reports/*`],
      'kms:GenerateDataKey': [ownKey(ids!.key)],
    });
  });

  test('readRetentionSettings: the lifecycle and Object Lock configuration of the bucket, read only', () => {
    const { permissions, ids } = granted((g, role) => g.readRetentionSettings(role));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:GetLifecycleConfiguration': [bucket],
      's3:GetBucketObjectLockConfiguration': [bucket],
    });
  });

  test('readDrillReports: get and list under drills/<db>/ only, decrypt through S3', () => {
    const { permissions, ids } = granted((g, role) => g.readDrillReports(role, 'orders'));
    const bucket = `\${${ids!.bucket}.Arn}`;
    expect(permissions).toEqual({
      's3:GetObject': [`${bucket}/drills/orders/*`],
      's3:ListBucket': [`${bucket} if {"StringLike":{"s3:prefix":["drills/orders/*"]}}`],
      'kms:Decrypt': [ownKey(ids!.key)],
    });
  });

  test('describeKey: DescribeKey only, asked of KMS directly, on the key or the aliased key', () => {
    const own = granted((g, role) => g.describeKey(role));
    expect(own.permissions).toEqual({ 'kms:DescribeKey': [`\${${own.ids!.key}.Arn}`] });
    expect(granted((g, role) => g.describeKey(role), 'replica').permissions).toEqual({
      'kms:DescribeKey': [
        `${REPLICA_KEYS} if {"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/restorable/backups"}}`,
      ],
    });
  });

  describe('cdk-nag suppressions', () => {
    type Grant = (g: BackupBucketGrants, role: iam.Role) => void;
    /**
     * The AwsSolutions IAM5 findings on a role given `grant` (and `extra` object ARNs under the
     * bucket, as another grant might add), and the reasons of the suppressions on it.
     */
    function iam5(grant: Grant, which: 'own' | 'replica' = 'own', extra: string[] = []) {
      const stack = newStack();
      const target = which === 'own' ? ownBucket(stack) : replicaBucket(stack);
      const role = new iam.Role(stack, 'Worker', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      grant(target.grants, role);
      for (const suffix of extra) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['s3:GetObject'],
            resources: [target.bucket.arnForObjects(suffix)],
          }),
        );
      }
      Aspects.of(stack).add(new AwsSolutionsChecks());
      // Synthesis fails on unsuppressed nag errors; the findings are then in the error message.
      let findings: string[];
      try {
        findings = Annotations.fromStack(stack)
          .findError('*', Match.stringLikeRegexp('AwsSolutions-IAM5'))
          .map((f) => String(f.entry.data));
      } catch (e) {
        findings = String((e as Error).message).split('\n');
      }
      findings = findings
        .flatMap((f) => /AwsSolutions-IAM5\[([^\]]*)\]/.exec(f)?.[1] ?? [])
        .map((f) => f.replace(/<\w+\.Arn>/, '<BUCKET>'));
      const reasons = role.node
        .findAll()
        .map((c) => (c as { cfnOptions?: { metadata?: Record<string, unknown> } }).cfnOptions?.metadata)
        .flatMap((m) => (m?.cdk_nag as { rules_to_suppress?: { reason: string }[] })?.rules_to_suppress ?? [])
        .map((r) => r.reason);
      return { findings, reasons: [...new Set(reasons)] };
    }

    const TIERS_REASON =
      'Backup objects of orders only (<tier>/orders/*): object ARNs need the trailing wildcard.';
    const DRILLS_REASON =
      'Drill reports of orders only (drills/orders/*): object ARNs need the trailing wildcard.';
    const ALIAS_REASON =
      'The key lives in another region and only its alias is known here: key/* of that region and account, ' +
      'narrowed to the key carrying the alias (kms:ResourceAliases), used through S3 there (kms:ViaService) ' +
      'except DescribeKey.';
    // A fleet's data-access role names the database by policy variable, the freshness check by `*`:
    // both are regex syntax in the suppression, and each must still match its own resources only.
    const FLEET_ID = '${aws:PrincipalTag/restorable:database}';

    // One test per grant, so that a mutant in one grant method runs only its own nag check.
    test.each<[string, Grant, 'own' | 'replica', unknown[]]>([
      ['writeBackups', (g, r) => g.writeBackups(r, 'orders'), 'own', [TIERS_REASON]],
      ['readBackups', (g, r) => g.readBackups(r, 'orders'), 'own', [TIERS_REASON]],
      [
        "readBackups of the session tag's database",
        (g, r) => g.readBackups(r, FLEET_ID),
        'own',
        [
          `Backup objects of ${FLEET_ID} only (<tier>/${FLEET_ID}/*): object ARNs need the trailing wildcard.`,
        ],
      ],
      [
        'readBackups of every database',
        (g, r) => g.readBackups(r, '*'),
        'own',
        ['Backup objects of * only (<tier>/*/*): object ARNs need the trailing wildcard.'],
      ],
      [
        'readBackups on the replica',
        (g, r) => g.readBackups(r, 'orders'),
        'replica',
        [ALIAS_REASON, TIERS_REASON],
      ],
      [
        'writeVerificationRecords',
        (g, r) => g.writeVerificationRecords(r, 'orders'),
        'own',
        ['Verification records of orders only (<tier>/orders/*.verify-*.json): one per backup and run.'],
      ],
      [
        'writeEvidenceReports',
        (g, r) => g.writeEvidenceReports(r),
        'own',
        ['Evidence reports only (reports/*): object ARNs need the trailing wildcard.'],
      ],
      ['writeDrillReports', (g, r) => g.writeDrillReports(r, 'orders'), 'own', [DRILLS_REASON]],
      ['readDrillReports', (g, r) => g.readDrillReports(r, 'orders'), 'own', [DRILLS_REASON]],
      [
        'readEvidence',
        (g, r) => g.readEvidence(r),
        'own',
        [
          'Evidence of every database, never a dump: manifests and verification records under each tier ' +
            "(<tier>/*.manifest.json, <tier>/*.verify-*.json) and drill reports (drills/*); a fleet's databases " +
            'are chosen by tag at run time, so no id can be named.',
        ],
      ],
      ['describeKey', (g, r) => g.describeKey(r), 'own', []],
      ['describeKey on the replica', (g, r) => g.describeKey(r), 'replica', [ALIAS_REASON]],
      ['readRetentionSettings', (g, r) => g.readRetentionSettings(r), 'own', []],
    ])(
      '%s suppresses IAM5 for exactly its own resources, with a reason naming them',
      (_, grant, which, reasons) => {
        expect(iam5(grant, which)).toEqual({ findings: [], reasons });
      },
    );

    test('a wildcard outside what the grant covers is still reported', () => {
      // Another database, another tier-like prefix, a backup object where only verification
      // records were granted, a drill prefix under a tier grant and the reverse.
      const other = iam5((g, r) => g.readBackups(r, 'orders'), 'own', [
        'daily/orderz/*',
        'daily/orders-2/*',
        'daily/orders/x/*',
        'backups/orders/*',
        'drills/orders/*',
        'reports/*',
      ]);
      expect(other.findings.sort()).toEqual(
        [
          'backups/orders',
          'daily/orders-2',
          'daily/orders/x',
          'daily/orderz',
          'drills/orders',
          'reports',
        ].map((p) => `Resource::<BUCKET>/${p}/*`),
      );
      expect(
        iam5((g, r) => g.writeVerificationRecords(r, 'orders'), 'own', ['daily/orders/*']).findings,
      ).toHaveLength(1);
      expect(
        iam5((g, r) => g.writeDrillReports(r, 'orders'), 'own', ['daily/orders/*']).findings,
      ).toHaveLength(1);
      expect(iam5((g, r) => g.writeEvidenceReports(r), 'own', ['reports/2026-11/*']).findings).toHaveLength(
        1,
      );
      // The evidence reader's suppression covers manifests, verification records and drill
      // reports of any database, not a tier's objects at large, a dump or another prefix.
      expect(
        iam5((g, r) => g.readEvidence(r), 'own', [
          'daily/*',
          'daily/*.dump',
          'daily/orders/*.manifest.json',
          'backups/*.manifest.json',
          'reports/*',
        ]).findings.sort(),
      ).toEqual(
        [
          'backups/*.manifest.json',
          'daily/*',
          'daily/*.dump',
          'daily/orders/*.manifest.json',
          'reports/*',
        ].map((p) => `Resource::<BUCKET>/${p}`),
      );
    });

    test('a grantee that is not a construct gets no suppression and no error', () => {
      const stack = newStack();
      const bucket = ownBucket(stack);
      const principal = new iam.AccountPrincipal('123456789012');
      expect(() => bucket.grants.readBackups(principal, 'orders')).not.toThrow();
      expect(() => bucket.grants.writeEvidenceReports(principal)).not.toThrow();
    });
  });

  test('keyStatement: a Sid, through S3 unless told otherwise, the key or key/* narrowed by alias', () => {
    const stack = newStack();
    const own = ownBucket(stack);
    const replica = BackupBucket.fromBucketAttributes(stack, 'Replica', {
      bucketName: 'replica',
      region: 'eu-central-1',
      account: '210987654321',
      encryptionKeyAlias: 'alias/restorable/backups',
    });
    const byAlias = stack.resolve(
      keyStatement(replica.bucket, { alias: 'alias/restorable/backups' }, ['kms:Decrypt'], {
        sid: 'DecryptSource',
      }).toStatementJson(),
    );
    expect(byAlias.Sid).toBe('DecryptSource');
    expect(byAlias.Action).toBe('kms:Decrypt');
    expect(flatten(byAlias.Resource)).toBe('arn:aws:kms:eu-central-1:210987654321:key/*');
    expect(Object.keys(byAlias.Condition).sort()).toEqual(['ForAnyValue:StringEquals', 'StringEquals']);
    expect(byAlias.Condition['ForAnyValue:StringEquals']).toEqual({
      'kms:ResourceAliases': 'alias/restorable/backups',
    });
    expect(flatten(byAlias.Condition.StringEquals['kms:ViaService'])).toBe(
      's3.eu-central-1.${AWS::URLSuffix}',
    );

    const direct = stack.resolve(
      keyStatement(own.bucket, { key: own.key }, ['kms:DescribeKey'], {
        viaS3: false,
      }).toStatementJson(),
    );
    expect(direct.Sid).toBeUndefined();
    expect(direct.Condition).toBeUndefined();
    expect(flatten(direct.Resource)).toMatch(/^\$\{Key\w+\.Arn\}$/);
    expect(() => keyStatement(own.bucket, {}, ['kms:Decrypt'])).toThrow(/exactly one of key and alias/);
  });

  test('keyIdentifier and assertKeyReference: exactly one of key and alias, an alias that looks like one', () => {
    const stack = newStack();
    const own = ownBucket(stack);
    expect(keyIdentifier(own.bucket, { key: own.key })).toBe(own.key.keyArn);
    expect(flatten(stack.resolve(keyIdentifier(own.bucket, { alias: 'alias/a_b-c/D9' })))).toBe(
      'arn:aws:kms:eu-west-1:123456789012:alias/a_b-c/D9',
    );
    expect(() => keyIdentifier(own.bucket, {})).toThrow(
      'a backup bucket key needs exactly one of key and alias',
    );
    const both = { key: own.key, alias: 'alias/x' };
    expect(() => assertKeyReference(both)).toThrow('a backup bucket key needs exactly one of key and alias');
    expect(() => BackupBucketGrants.fromBucket(own.bucket, both)).toThrow(/exactly one of key and alias/);
    for (const bad of [
      'alias/',
      'alias/a b',
      'xalias/a',
      'alias/a\nalias/b',
      'alias/a.b',
      'restorable/alias/a',
    ]) {
      expect(() => assertKeyReference({ alias: bad })).toThrow(
        `a backup bucket key alias must look like alias/<name>, got "${bad}"`,
      );
    }
    expect(() => assertKeyReference({ alias: 'alias/restorable/backups' })).not.toThrow();
    // An alias only known at deploy time (a parameter) is not judged at synth.
    expect(() => assertKeyReference({ alias: Lazy.string({ produce: () => 'not an alias' }) })).not.toThrow();
  });
});
