/**
 * `DrillParameterGroups`: one RDS DB parameter group per PostgreSQL major for a database's drill
 * instances, with `max_locks_per_transaction` raised. The default (64) shares a lock table of
 * 64 × max_connections entries; a database with thousands of tables (each count or operator check
 * locks the table and its indexes) can exhaust it in one transaction. The drill's row counts and
 * fingerprints already commit as they go; the parameter group covers pg_restore's own sessions and
 * operator checks. It is a static parameter, so it must be set when the instance is created — which
 * is what the drill provider does with `DBParameterGroupName` (DRILL_PARAMETER_GROUPS).
 * @see https://www.postgresql.org/docs/current/runtime-config-locks.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.html
 */
import { RemovalPolicy, Token } from 'aws-cdk-lib';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { DRILL_INSTANCE_PREFIX } from '../../lambda/core/drill-naming';
import { DRILL_TARGET_MAJORS } from '../../lambda/core/drill-settings';

/** The majors a drill may restore into (a backup's own, or `drill.targetMajor`). */
export const DEFAULT_DRILL_MAJORS: readonly number[] = [13, 14, 15, 16, 17];
export const DEFAULT_DRILL_MAX_LOCKS_PER_TRANSACTION = 256;

export interface DrillParameterGroupsProps {
  /** Lowercase-hyphen database id: part of each group's name. */
  readonly databaseId: string;
  /**
   * PostgreSQL majors to create a group for.
   * @default DEFAULT_DRILL_MAJORS - a major without a group is drilled with the RDS default group
   */
  readonly majors?: readonly number[];
  /**
   * `max_locks_per_transaction` of drill instances. Memory: about 270 bytes × this × max_connections.
   * @default 256
   */
  readonly maxLocksPerTransaction?: number;
  /**
   * Further parameters of drill instances, e.g. `shared_preload_libraries` for extensions that
   * must be preloaded (pg_cron, pg_stat_statements, timescaledb). `max_locks_per_transaction` here
   * overrides `maxLocksPerTransaction`; `rds.force_ssl` cannot be changed (the drill connects with TLS).
   * @default - none
   */
  readonly parameters?: Readonly<Record<string, string | number>>;
}

const PARAMETER_NAME = /^[a-z][a-z0-9_.]*$/;

export class DrillParameterGroups extends Construct {
  /** Group name by major, as the drill handler reads it (`DRILL_PARAMETER_GROUPS`). */
  public readonly namesByMajor: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: DrillParameterGroupsProps) {
    super(scope, id);
    const majors = props.majors ?? DEFAULT_DRILL_MAJORS;
    const extra = props.parameters ?? {};
    const badNames = Object.keys(extra).filter((k) => !PARAMETER_NAME.test(k) || k === 'rds.force_ssl');
    if (badNames.length > 0) {
      throw new Error(
        `drill parameters ${badNames.join(', ')}: names are lowercase PostgreSQL/RDS parameter names, and rds.force_ssl stays 1 (the drill connects with TLS)`,
      );
    }
    const fromParameters = extra.max_locks_per_transaction;
    const locks =
      fromParameters !== undefined
        ? Number(fromParameters)
        : (props.maxLocksPerTransaction ?? DEFAULT_DRILL_MAX_LOCKS_PER_TRANSACTION);
    const bad = majors.filter(
      (m) => !Number.isInteger(m) || m < DRILL_TARGET_MAJORS.min || m > DRILL_TARGET_MAJORS.max,
    );
    if (bad.length > 0) {
      throw new Error(
        `DrillParameterGroups majors ${bad.join(', ')}: each must be a PostgreSQL major from ${DRILL_TARGET_MAJORS.min} to ${DRILL_TARGET_MAJORS.max}`,
      );
    }
    if (!Token.isUnresolved(locks) && (!Number.isInteger(locks) || locks < 64 || locks > 65536)) {
      throw new Error(
        `maxLocksPerTransaction ${locks} must be a whole number from 64 (the PostgreSQL default) to 65536`,
      );
    }
    const names: Record<string, string> = {};
    for (const major of new Set(majors)) {
      const version = rds.PostgresEngineVersion.of(String(major), String(major));
      const group = new rds.ParameterGroup(this, `Postgres${major}`, {
        engine: rds.DatabaseInstanceEngine.postgres({ version }),
        // A fixed name: the drill role's CreateDBInstance permission names it in an ARN.
        name: `${DRILL_INSTANCE_PREFIX}${props.databaseId}-pg${major}`,
        description: `Restorable drill instances of ${props.databaseId}, PostgreSQL ${major}`,
        // TLS only (the drill connects with verify-full): AWS Control Tower's proactive control
        // for RDS parameter groups (rds_db_parameter_group_tls_check) requires rds.force_ssl.
        parameters: {
          ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
          max_locks_per_transaction: String(locks),
          'rds.force_ssl': '1',
        },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // The L2 group creates its resource only when bound; the drill binds it by name at run time.
      names[String(major)] = group.bindToInstance({}).parameterGroupName;
    }
    this.namesByMajor = names;
  }
}
