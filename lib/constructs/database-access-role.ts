/**
 * Per-database least privilege at fleet scale, with ONE role: attribute-based access control.
 *
 * The shared runner assumes this role for one run, tagging the session with the run's database id
 * (`restorable:database`). Every permission of the role names that tag as a policy variable, so a
 * session for `orders` can write only `<tier>/orders/*`, read only secrets tagged
 * `restorable:database=orders` (or RDS's own master secret of the resource the session names),
 * and nothing of `billing`, whatever the run's code does. One role serves 300 databases: the IAM
 * role quota, the policy size limit and CloudFormation's resource count no longer grow per database.
 *
 * What this trusts: the runner role that assumes it chooses the tag. The runner validates the id
 * (lambda/core/database-credentials.ts) and holds no data permission itself; the isolation is
 * between runs, which is what the per-database roles of today give too.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { FleetTags } from '../../lambda/core/fleet-settings';
import type { IBackupBucket } from './backup-bucket';

/** Session tag: the database id of the run (required on every session). */
export const SESSION_TAG_DATABASE = FleetTags.database;
/** Session tag: the RDS instance or cluster ARN, for the master secret RDS manages (optional). */
export const SESSION_TAG_RDS_RESOURCE = FleetTags.rdsResource;
/** The only tags a session may carry. */
export const SESSION_TAG_KEYS: readonly string[] = [SESSION_TAG_DATABASE, SESSION_TAG_RDS_RESOURCE];

/** The session's database id, as IAM substitutes it at request time. */
export const PRINCIPAL_DATABASE = `\${aws:PrincipalTag/${SESSION_TAG_DATABASE}}`;
const PRINCIPAL_RDS_RESOURCE = `\${aws:PrincipalTag/${SESSION_TAG_RDS_RESOURCE}}`;

/** Tags RDS puts on the master secret it manages, naming the instance or cluster. */
const RDS_SECRET_OWNER_TAGS = ['aws:rds:primaryDBInstanceArn', 'aws:rds:primaryDBClusterArn'];

/**
 * What the sessions of a role do, so each shared runner gets only its part: the dump writes
 * backups and reads the database's secret; verify reads backups in both buckets and writes
 * verification records; the drill reads backups in both buckets and writes drill reports. None
 * reads another database's anything, and only the dump reads secrets.
 */
export type DataAccessWorkload = 'dump' | 'verify' | 'drill';

export interface DatabaseAccessRoleProps {
  /** The primary bucket: a session writes and reads its database's backups there. */
  readonly bucket: IBackupBucket;
  /**
   * The replica bucket: a session reads its database's backups there (verify, drills).
   * @default - no replica access
   */
  readonly replicaBucket?: IBackupBucket;
  /**
   * The shared runner roles allowed to assume this role (always with a database tag).
   * @default - none by ARN; give `runnerRolePath` instead
   */
  readonly runners?: iam.IRole[];
  /**
   * Also trust every role of this account under this IAM path (e.g. `/restorable/fleet/dump/`):
   * runners in other stacks (a fleet's group stacks) are trusted without a reference back to
   * them. Creating a role under the path needs `iam:CreateRole`, i.e. a deployment. Each such
   * role still needs the identity side: {@link DatabaseAccessRole.grantAssume}.
   * @default - only `runners`
   */
  readonly runnerRolePath?: string;
  /**
   * Which workload's permissions the sessions get.
   * @default - the dump's writes and secrets, and reading the replica (the groundwork's role)
   */
  readonly workload?: DataAccessWorkload;
  /**
   * Longest session. Role chaining (a Lambda role assuming this one) caps sessions at one hour;
   * the credentials provider refreshes before expiry, so longer runs are fine.
   * @default Duration.hours(1)
   */
  readonly maxSessionDuration?: Duration;
}

/** ONE data-access role for every database of a fleet, scoped per session by its database tag. */
export class DatabaseAccessRole extends Construct {
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: DatabaseAccessRoleProps) {
    super(scope, id);
    const runners = props.runners ?? [];
    const path = props.runnerRolePath;
    if (runners.length === 0 && path === undefined) {
      throw new Error(
        'runners must name at least one role (or give runnerRolePath): nobody could assume the data-access role',
      );
    }
    if (path !== undefined && !/^\/([A-Za-z0-9+=,.@_-]+\/)+$/.test(path)) {
      throw new Error(
        `runnerRolePath must be an IAM path below the root such as /restorable/fleet/dump/, got "${path}"`,
      );
    }
    const stack = Stack.of(this);

    // Trust: AssumeRole together with TagSession, only for the runners, only with a database tag,
    // and with no tag besides the two we know.
    const sessionConditions = {
      Null: { [`aws:RequestTag/${SESSION_TAG_DATABASE}`]: 'false' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [...SESSION_TAG_KEYS] },
    };
    this.role = new iam.Role(this, 'Resource', {
      description: 'Restorable: data access of one database per session (session tag restorable:database)',
      assumedBy: new iam.CompositePrincipal(
        ...runners.map(
          (runner) =>
            new iam.SessionTagsPrincipal(
              new iam.PrincipalWithConditions(new iam.ArnPrincipal(runner.roleArn), sessionConditions),
            ),
        ),
        ...(path === undefined
          ? []
          : [
              new iam.SessionTagsPrincipal(
                new iam.PrincipalWithConditions(new iam.AccountPrincipal(stack.account), {
                  ...sessionConditions,
                  ArnLike: {
                    'aws:PrincipalArn': stack.formatArn({
                      service: 'iam',
                      region: '',
                      resource: 'role',
                      resourceName: `${path.slice(1)}*`,
                    }),
                  },
                }),
              ),
            ]),
      ),
      maxSessionDuration: props.maxSessionDuration ?? Duration.hours(1),
    });
    for (const runner of runners) this.grantAssume(runner);

    // Backups: the same grants as a per-database role, with the id replaced by the policy variable.
    const { bucket, replicaBucket } = props;
    switch (props.workload) {
      case 'verify':
        bucket.grants.readBackups(this.role, PRINCIPAL_DATABASE);
        bucket.grants.writeVerificationRecords(this.role, PRINCIPAL_DATABASE);
        replicaBucket?.grants.readBackups(this.role, PRINCIPAL_DATABASE);
        return;
      case 'drill':
        // A drill restores from the replica (default) or the primary, per database.
        bucket.grants.readBackups(this.role, PRINCIPAL_DATABASE);
        replicaBucket?.grants.readBackups(this.role, PRINCIPAL_DATABASE);
        bucket.grants.writeDrillReports(this.role, PRINCIPAL_DATABASE);
        return;
      case 'dump':
        bucket.grants.writeBackups(this.role, PRINCIPAL_DATABASE);
        break;
      default:
        bucket.grants.writeBackups(this.role, PRINCIPAL_DATABASE);
        replicaBucket?.grants.readBackups(this.role, PRINCIPAL_DATABASE);
    }

    const anySecret = stack.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SecretsTaggedForThisDatabase',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [anySecret],
        conditions: {
          StringEquals: { [`secretsmanager:ResourceTag/${SESSION_TAG_DATABASE}`]: PRINCIPAL_DATABASE },
        },
      }),
    );
    for (const [i, ownerTag] of RDS_SECRET_OWNER_TAGS.entries()) {
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `RdsManagedSecretOfThisResource${i}`,
          actions: ['secretsmanager:GetSecretValue'],
          resources: [anySecret],
          conditions: {
            StringEquals: { [`secretsmanager:ResourceTag/${ownerTag}`]: PRINCIPAL_RDS_RESOURCE },
            // A session without the resource tag must not match secrets without the owner tag.
            Null: { [`aws:PrincipalTag/${SESSION_TAG_RDS_RESOURCE}`]: 'false' },
          },
        }),
      );
    }
  }

  /**
   * Lets `runner` assume this role with session tags (its identity-side half; the trust policy
   * is the other).
   */
  public grantAssume(runner: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee: runner,
      actions: ['sts:AssumeRole', 'sts:TagSession'],
      resourceArns: [this.role.roleArn],
    });
  }
}
