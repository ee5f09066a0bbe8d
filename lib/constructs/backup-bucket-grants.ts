/**
 * The only way roles get access to a backup bucket, in the shape of aws-cdk's `BucketGrants`
 * (aws-s3/lib/bucket-grants.ts): one class, one method per intent, each scoped to one database's
 * key prefixes and to the bucket's KMS key used through S3 in the bucket's region.
 *
 * The L2 `bucket.grantRead(grantee, pattern)` takes one object pattern and grants `s3:ListBucket`
 * on the whole bucket, and `key.grant()` has no `kms:ViaService`; backups need several prefixes, a
 * listing limited to them, and a key that may be known only by alias (the replica's, in another
 * region), so these build the statements directly. The prefixes come from `lambda/core/tiers.ts`,
 * which the handlers write with, so grants and keys cannot disagree.
 */
import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import {
  backupPrefixes,
  DRILL_REPORTS_PREFIX,
  drillReportPrefix,
  EVIDENCE_REPORTS_PREFIX,
  STORED_TIERS,
} from '../../lambda/core/tiers';

/**
 * A bucket's KMS key: the key itself (its ARN is known in this stack) or, for a key in another
 * region, its alias. KMS authorizes against key ARNs, never alias ARNs, so a key named by alias is
 * granted as `key/*` of the bucket's region and account, narrowed with `kms:ResourceAliases`.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-resource-aliases
 */
export interface KeyReference {
  /**
   * The key.
   * @default - the key is named by `alias`
   */
  readonly key?: kms.IKey;
  /**
   * The key's alias, e.g. `alias/restorable/backups`, in the bucket's region and account.
   * @default - the key is given by `key`
   */
  readonly alias?: string;
}

/** Options of {@link keyStatement}. */
export interface KeyStatementOptions {
  /**
   * Allow the actions only through S3 in the bucket's region (`kms:ViaService`), so the role
   * cannot call KMS directly with the key (e.g. to decrypt a data key lifted from elsewhere).
   * @default true
   */
  readonly viaS3?: boolean;
  /**
   * The statement's Sid.
   * @default - none
   */
  readonly sid?: string;
}

/**
 * `actions` on the key of `bucket` (in the bucket's region and account), through S3 there unless
 * `viaS3: false`. Also used by the replication policy, which is not a grant.
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
 */
export function keyStatement(
  bucket: s3.IBucket,
  ref: KeyReference,
  actions: string[],
  options: KeyStatementOptions = {},
): iam.PolicyStatement {
  const { resourceArn, conditions } = keyPermission(bucket, ref, options);
  return new iam.PolicyStatement({ sid: options.sid, actions, resources: [resourceArn], conditions });
}

/** The key's ARN for IAM (`key/*` for a key named by alias) and the conditions that narrow it. */
function keyPermission(
  bucket: s3.IBucket,
  ref: KeyReference,
  options: KeyStatementOptions,
): { resourceArn: string; conditions: Record<string, Record<string, string>> } {
  assertKeyReference(ref);
  const stack = Stack.of(bucket);
  const conditions: Record<string, Record<string, string>> = {};
  if (options.viaS3 ?? true) {
    conditions.StringEquals = { 'kms:ViaService': `s3.${bucket.env.region}.${stack.urlSuffix}` };
  }
  if (ref.alias) conditions['ForAnyValue:StringEquals'] = { 'kms:ResourceAliases': ref.alias };
  const resourceArn = ref.key
    ? ref.key.keyArn
    : stack.formatArn({
        service: 'kms',
        region: bucket.env.region,
        account: bucket.env.account,
        resource: 'key',
        resourceName: '*',
      });
  return { resourceArn, conditions };
}

/** A key id the KMS API accepts (key ARN, or alias ARN in the bucket's region), e.g. for `DescribeKey`. */
export function keyIdentifier(bucket: s3.IBucket, ref: KeyReference): string {
  assertKeyReference(ref);
  if (ref.key) return ref.key.keyArn;
  return Stack.of(bucket).formatArn({
    service: 'kms',
    region: bucket.env.region,
    account: bucket.env.account,
    resource: ref.alias!,
  });
}

/** Checks a {@link KeyReference}: exactly one of key and alias, an alias that looks like one. */
export function assertKeyReference(ref: KeyReference): void {
  if ((ref.key === undefined) === (ref.alias === undefined)) {
    throw new Error('a backup bucket key needs exactly one of key and alias');
  }
  if (
    ref.alias !== undefined &&
    !Token.isUnresolved(ref.alias) &&
    !/^alias\/[A-Za-z0-9/_-]+$/.test(ref.alias)
  ) {
    throw new Error(`a backup bucket key alias must look like alias/<name>, got "${ref.alias}"`);
  }
}

/** Verification records under a database's tier prefix (lambda/core/verification.ts verificationKey). */
const VERIFICATION_RECORD_PATTERN = '*.verify-*.json';
/** The end of a manifest's key (lambda/core/tiers.ts backupKeys). */
const MANIFEST_PATTERN = '.manifest.json';

/**
 * Grant methods of one backup bucket (the owned primary, or the replica imported by name with its
 * key by alias). Every method adds to the grantee's identity policy only (an imported bucket's
 * policy cannot be changed) and returns the combined {@link iam.Grant}.
 *
 * What no method grants, ever: `s3:DeleteObject*`, `s3:BypassGovernanceRetention`, bucket
 * configuration, `kms:Encrypt` (S3 encrypts with the data key), KMS use outside S3 except
 * `DescribeKey`.
 */
export class BackupBucketGrants {
  /** Grants on `bucket`, whose objects are encrypted with the key `key` refers to. */
  public static fromBucket(bucket: s3.IBucket, key: KeyReference): BackupBucketGrants {
    assertKeyReference(key);
    return new BackupBucketGrants(bucket, key);
  }

  private constructor(
    private readonly bucket: s3.IBucket,
    private readonly key: KeyReference,
  ) {}

  /**
   * Write backups of `databaseId` (the dump): PutObject under its tier prefixes (multipart
   * included), the per-object Object Lock retain-until, aborting its failed multipart uploads;
   * reading and listing its own manifests, which decides the tier (first success per period); and
   * listing incomplete uploads, to check none is left for its key.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html
   */
  public writeBackups(grantee: iam.IGrantable, databaseId: string): iam.Grant {
    const prefixes = backupPrefixes(databaseId);
    const grant = this.objects(grantee, prefixes, [
      // CreateMultipartUpload, UploadPart and CompleteMultipartUpload authorize as s3:PutObject.
      's3:PutObject',
      // The per-object retain-until (ObjectLockMode + ObjectLockRetainUntilDate on the upload).
      's3:PutObjectRetention',
      // The archive tag on the upload (`Tagging`), which lifecycle transitions match.
      's3:PutObjectTagging',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      // Reading manifests decides the tier (first success per period).
      's3:GetObject',
    ])
      .combine(this.listUnder(grantee, prefixes))
      // This action has no prefix condition key, so it is bucket-wide; it lists upload keys and
      // ids only, never contents.
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:ListBucketMultipartUploads'],
          resourceArns: [this.bucket.bucketArn],
        }),
      )
      // SSE-KMS writes need a data key; multipart uploads and reading manifests need Decrypt.
      .combine(this.keyGrant(grantee, ['kms:GenerateDataKey', 'kms:Decrypt']));
    this.suppressObjectWildcards(grantee, databaseId, 'tiers');
    return grant;
  }

  /**
   * Read backups of `databaseId` (verify, drills, the freshness check): GetObject under its tier
   * prefixes and Decrypt. ListBucket on the whole bucket, without a prefix condition, on purpose:
   * S3 answers HeadObject of a missing object with 404 only to callers allowed to list the bucket
   * (403 otherwise), and readers must tell "missing" from "access denied". Listing reveals key
   * names (database ids, timestamps), never contents.
   *
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
   */
  public readBackups(grantee: iam.IGrantable, databaseId: string): iam.Grant {
    const grant = this.objects(grantee, backupPrefixes(databaseId), ['s3:GetObject'])
      .combine(this.listBucket(grantee))
      .combine(this.keyGrant(grantee, ['kms:Decrypt']));
    this.suppressObjectWildcards(grantee, databaseId, 'tiers');
    return grant;
  }

  /**
   * Read the evidence of every database (a fleet's monthly report, whose databases come and go by
   * tag): GetObject of manifests and verification records under every tier prefix and of drill
   * reports, never of a dump or a globals file: the key layout puts the database and period in
   * the middle of the key and the kind at its end (`<tier>/<db>/<period>/<backupId>.manifest.json`,
   * `...verify-<time>.json`), so each object ARN is `<tier>/*.manifest.json` and
   * `<tier>/*.verify-*.json` (an S3 ARN's `*` spans `/`). The reader therefore takes each dump's
   * presence and size from the listing (catalog.ts `dumpFromListing`), not HeadObject, which
   * authorizes as GetObject on the dump. ListBucket on the whole bucket, unconditioned as in
   * {@link readBackups}: the bucket-wide listing finds the databases, the clock probe lists its own
   * prefix, and a manifest gone while listing must read as 404, not 403. Decrypt for the manifests.
   */
  public readEvidence(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [
        ...STORED_TIERS.flatMap((tier) => [
          this.bucket.arnForObjects(`${tier}/*${MANIFEST_PATTERN}`),
          this.bucket.arnForObjects(`${tier}/${VERIFICATION_RECORD_PATTERN}`),
        ]),
        this.bucket.arnForObjects(`${DRILL_REPORTS_PREFIX}*`),
      ],
    })
      .combine(this.listBucket(grantee))
      .combine(this.keyGrant(grantee, ['kms:Decrypt']));
    suppress(grantee, {
      id: 'AwsSolutions-IAM5',
      reason:
        'Evidence of every database, never a dump: manifests and verification records under each tier ' +
        "(<tier>/*.manifest.json, <tier>/*.verify-*.json) and drill reports (drills/*); a fleet's databases " +
        'are chosen by tag at run time, so no id can be named.',
      appliesTo: [
        {
          regex: `/^Resource::.*\\/(${STORED_TIERS.join('|')})\\/\\*(\\.manifest\\.json|\\.verify-\\*\\.json)$/`,
        },
        { regex: '/^Resource::.*\\/drills\\/\\*$/' },
      ],
    });
    return grant;
  }

  /**
   * Write verification records of `databaseId` (the verify function): PutObject, with the per-object
   * retain-until, on `<tier>/<databaseId>/*.verify-*.json` only, so the verifier can add evidence
   * next to a backup but never write a dump or a manifest. A data key for SSE-KMS.
   * @see lambda/core/verification.ts
   */
  public writeVerificationRecords(grantee: iam.IGrantable, databaseId: string): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:PutObjectRetention'],
      resourceArns: backupPrefixes(databaseId).map((prefix) =>
        this.bucket.arnForObjects(`${prefix}${VERIFICATION_RECORD_PATTERN}`),
      ),
    }).combine(this.keyGrant(grantee, ['kms:GenerateDataKey']));
    this.suppressObjectWildcards(grantee, databaseId, 'verifications');
    return grant;
  }

  /**
   * Write evidence reports under `reports/` (the monthly report): PutObject with the per-object
   * retain-until, and a data key. Reports cover every database, so the prefix is not per database.
   */
  public writeEvidenceReports(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:PutObjectRetention'],
      resourceArns: [this.bucket.arnForObjects(`${EVIDENCE_REPORTS_PREFIX}*`)],
    }).combine(this.keyGrant(grantee, ['kms:GenerateDataKey']));
    suppress(grantee, {
      id: 'AwsSolutions-IAM5',
      reason: `Evidence reports only (${EVIDENCE_REPORTS_PREFIX}*): object ARNs need the trailing wildcard.`,
      appliesTo: [{ regex: '/^Resource::.*\\/reports\\/\\*$/' }],
    });
    return grant;
  }

  /**
   * Read the retention settings in force (the evidence report states them): the lifecycle rules
   * and the Object Lock configuration. Read only; no method changes bucket configuration.
   */
  public readRetentionSettings(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetLifecycleConfiguration', 's3:GetBucketObjectLockConfiguration'],
      resourceArns: [this.bucket.bucketArn],
    });
  }

  /** Write drill reports of `databaseId` under `drills/<databaseId>/`, and nothing else. */
  public writeDrillReports(grantee: iam.IGrantable, databaseId: string): iam.Grant {
    const grant = this.objects(grantee, [drillReportPrefix(databaseId)], ['s3:PutObject']).combine(
      this.keyGrant(grantee, ['kms:GenerateDataKey']),
    );
    this.suppressObjectWildcards(grantee, databaseId, 'drills');
    return grant;
  }

  /** List and read drill reports of `databaseId` (the age of the newest passing drill). */
  public readDrillReports(grantee: iam.IGrantable, databaseId: string): iam.Grant {
    const prefixes = [drillReportPrefix(databaseId)];
    const grant = this.objects(grantee, prefixes, ['s3:GetObject'])
      .combine(this.listUnder(grantee, prefixes))
      .combine(this.keyGrant(grantee, ['kms:Decrypt']));
    this.suppressObjectWildcards(grantee, databaseId, 'drills');
    return grant;
  }

  /**
   * `kms:DescribeKey` on the bucket's key, to check it is usable (enabled, not pending deletion).
   * The one KMS action not limited to S3: the caller asks KMS itself, and the answer is metadata.
   */
  public describeKey(grantee: iam.IGrantable): iam.Grant {
    return this.keyGrant(grantee, ['kms:DescribeKey'], { viaS3: false });
  }

  private objects(grantee: iam.IGrantable, prefixes: readonly string[], actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: prefixes.map((prefix) => this.bucket.arnForObjects(`${prefix}*`)),
    });
  }

  /**
   * `s3:ListBucket` limited to requests whose `prefix` parameter lies under one of `prefixes`.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html#condition-key-bucket-ops-2
   */
  private listUnder(grantee: iam.IGrantable, prefixes: readonly string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
    });
  }

  private keyGrant(grantee: iam.IGrantable, actions: string[], options: KeyStatementOptions = {}): iam.Grant {
    const { resourceArn, conditions } = keyPermission(this.bucket, this.key, options);
    const grant = iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [resourceArn], conditions });
    this.suppressAliasedKey(grantee);
    return grant;
  }

  /**
   * cdk-nag IAM5 for the object ARNs this grant made: one database's prefixes, with the trailing
   * wildcard every object ARN needs. Added to the grantee's role, where the finding is reported.
   */
  private suppressObjectWildcards(
    grantee: iam.IGrantable,
    databaseId: string,
    what: 'tiers' | 'verifications' | 'drills',
  ): void {
    const prefixes = what === 'drills' ? 'drills' : STORED_TIERS.join('|');
    // `*` for the backups and drill reports; `*.verify-*.json` for verification records.
    const tail = what === 'verifications' ? '\\*\\.verify-\\*\\.json' : '\\*';
    const reasons = {
      tiers: `Backup objects of ${databaseId} only (<tier>/${databaseId}/*): object ARNs need the trailing wildcard.`,
      verifications: `Verification records of ${databaseId} only (<tier>/${databaseId}/${VERIFICATION_RECORD_PATTERN}): one per backup and run.`,
      drills: `Drill reports of ${databaseId} only (drills/${databaseId}/*): object ARNs need the trailing wildcard.`,
    };
    // A fleet's id is the policy variable `${aws:PrincipalTag/restorable:database}`, which cdk-nag
    // shows as `<aws:PrincipalTag/restorable:database>`; the freshness check's is `*`. Both are
    // regex syntax: escaped.
    const id = databaseId.replace(/\$\{([^}]*)\}/g, '<$1>').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    suppress(grantee, {
      id: 'AwsSolutions-IAM5',
      reason: reasons[what],
      appliesTo: [{ regex: `/^Resource::.*\\/(${prefixes})\\/${id}\\/${tail}$/` }],
    });
  }

  /** ListBucket on the whole bucket, unconditioned (see {@link readBackups} for why). */
  private listBucket(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
  }

  private suppressAliasedKey(grantee: iam.IGrantable): void {
    if (!this.key.alias) return;
    suppress(grantee, {
      id: 'AwsSolutions-IAM5',
      reason:
        'The key lives in another region and only its alias is known here: key/* of that region and account, ' +
        'narrowed to the key carrying the alias (kms:ResourceAliases), used through S3 there (kms:ViaService) ' +
        'except DescribeKey.',
      appliesTo: [{ regex: '/^Resource::arn:.*:kms:.*:key\\/\\*$/' }],
    });
  }
}

function suppress(
  grantee: iam.IGrantable,
  suppression: { id: string; reason: string; appliesTo: { regex: string }[] },
): void {
  const principal = grantee.grantPrincipal;
  if (Construct.isConstruct(principal))
    NagSuppressions.addResourceSuppressions(principal, [suppression], true);
}
