/**
 * How an ephemeral drill database is named and tagged: the one definition shared by the code that
 * creates drill instances (providers/rds.ts), the sweeper that deletes expired ones (sweeper.ts)
 * and the IAM policies that let only those be created and deleted (lib/drill-iam.ts).
 *
 * No imports on purpose: `cdk synth` loads this module, and must not load the AWS SDK or the
 * secrets code the RDS provider needs at run time.
 */

/** Every drill instance (and the drill's DB subnet group) is named with this prefix. */
export const DRILL_INSTANCE_PREFIX = 'restorable-drill-';

/** `true` on every drill instance: the only instances the drill and the sweeper may delete. */
export const TAG_DRILL = 'restorable:drill';
/** ISO time after which the sweeper deletes the instance. */
export const TAG_EXPIRES_AT = 'restorable:expires-at';
/** The database id the drill restores. */
export const TAG_DATABASE = 'restorable:database';
/** The drill id, to find the drill's report. */
export const TAG_DRILL_ID = 'restorable:drill-id';

/** Every tag key a drill instance is created with; creating it with any other tag is denied. */
export const DRILL_TAG_KEYS: readonly string[] = [TAG_DRILL, TAG_EXPIRES_AT, TAG_DATABASE, TAG_DRILL_ID];
