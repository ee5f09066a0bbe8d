// @ts-nocheck
import { DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface BackupKeyProps {
  /**
   * Alias for the key, e.g. `alias/restorable/backups`. A stable alias lets another region's
   * stack name this key without a cross-region reference.
   *
   * @default - no alias
   */
  readonly alias?: string;

  /**
   * @default 'Restorable backup encryption'
   */
  readonly description?: string;

  /**
   * IAM principal ARNs (wildcards allowed) that, besides the account root and the deployment role,
   * may disable the key, schedule its deletion, change its policy or move its alias.
   *
   * @default - only the account root and the deployment role
   */
  readonly adminPrincipalArns?: string[];

  /**
   * The role CloudFormation deploys with. It must stay able to update the key policy: KMS refuses
   * to create a key whose policy would lock its creator out of `PutKeyPolicy`.
   *
   * @default - the CloudFormation execution role of the stack's `DefaultStackSynthesizer`; none
   *   for other synthesizers (pass it then, or deployments fail the KMS lockout safety check)
   */
  readonly deploymentRoleArn?: string;

  /**
   * Waiting period before a key scheduled for deletion is deleted (7-30 days).
   *
   * @default Duration.days(30)
   */
  readonly pendingWindow?: Duration;

  /**
   * @default RemovalPolicy.RETAIN - deleting the key makes every backup unreadable
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A customer-managed KMS key for backups: rotation on, 30-day deletion window, retained, and a
 * key policy that denies the destructive actions to everyone but named admins.
 *
 * The key policy keeps CDK's default statement (the account root may use the key, which delegates
 * use to IAM), so workload roles granted through IAM (`grantEncryptDecrypt`, the bucket grants)
 * can encrypt and decrypt. On top of it an explicit Deny stops any principal that is not the
 * root, the deployment role or a listed admin from disabling the key, scheduling its deletion,
 * rewriting its policy or pointing its alias elsewhere, even with `kms:*` or AdministratorAccess
 * in IAM: explicit denies in a key policy beat any allow.
 *
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
 */
export class BackupKey extends Construct {
  /** Actions only admins may perform on the key. */
  public static readonly PROTECTED_ACTIONS: readonly string[] = [
    'kms:DisableKey',
    'kms:ScheduleKeyDeletion',
    'kms:PutKeyPolicy',
    'kms:DisableKeyRotation',
    'kms:DeleteAlias',
    'kms:UpdateAlias',
  ];

  public readonly key: kms.Key;
  /** ARNs exempt from the deny on {@link BackupKey.PROTECTED_ACTIONS}. */
  public readonly adminPrincipalArns: string[];

  constructor(scope: Construct, id: string, props: BackupKeyProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);

    const pendingWindow = props.pendingWindow ?? Duration.days(30);
    if (!pendingWindow.isUnresolved()) {
      const windowDays = pendingWindow.toDays();
      if (windowDays < 7 || windowDays > 30) {
        throw new Error(`BackupKey pendingWindow must be 7-30 days (a KMS limit), got ${windowDays} days`);
      }
    }
    for (const arn of props.adminPrincipalArns ?? []) {
      if (!Token.isUnresolved(arn) && !/^arn:[a-z-]+:iam::\d{12}:(root|(role|user)\/.+)$/.test(arn)) {
        throw new Error(`BackupKey adminPrincipalArns must be IAM root, role or user ARNs, got "${arn}"`);
      }
    }

    this.key = new kms.Key(this, 'Resource', {
      description: props.description ?? 'Restorable backup encryption',
      alias: props.alias,
      enableKeyRotation: true,
      pendingWindow,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const deploymentRoleArn = props.deploymentRoleArn ?? defaultDeploymentRoleArn(stack);
    this.adminPrincipalArns = [
      stack.formatArn({ service: 'iam', region: '', resource: 'root' }),
      ...(deploymentRoleArn ? [deploymentRoleArn] : []),
      ...(props.adminPrincipalArns ?? []),
    ];

    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyKeyDestructionExceptAdmins',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...BackupKey.PROTECTED_ACTIONS],
        resources: ['*'],
        conditions: { ArnNotLike: { 'aws:PrincipalArn': this.adminPrincipalArns } },
      }),
    );
  }

  /** Lets the grantee encrypt and decrypt with the key (the statements go to its IAM policy). */
  public grantEncryptDecrypt(grantee: iam.IGrantable): iam.Grant {
    return this.key.grantEncryptDecrypt(grantee);
  }
}

/** The bootstrap CloudFormation execution role, with its `${AWS::Partition}` placeholder resolved. */
function defaultDeploymentRoleArn(stack: Stack): string | undefined {
  const synthesizer = stack.synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) return undefined;
  const arn = synthesizer.cloudFormationExecutionRoleArn;
  return arn.includes('${') ? Fn.sub(arn) : arn;
}
