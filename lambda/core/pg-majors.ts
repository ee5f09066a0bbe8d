/**
 * Which PostgreSQL majors the runner image carries, as data both sides import: the image build
 * (lib/constructs/runner-image.ts passes it as PG_MAJORS) and the runtime (pg-bin.ts). No imports
 * on purpose: `cdk synth` loads this module.
 */

/**
 * The PostgreSQL majors whose clients the runner image carries (lambda/Dockerfile's PG_MAJORS,
 * passed as a build argument by lib/constructs/runner-image.ts): a server of any of these majors
 * or older (down to 10) can be dumped. Amazon Linux 2023 packages these as `postgresql<major>`;
 * add 18 here when AL2023 ships a `postgresql18` package (the image build fails on a major it
 * cannot download, so this list never claims more than the image holds). PostgreSQL 18 servers are
 * already accepted wherever a pg_dump 18 is installed (a laptop, CI): nothing here caps the major.
 */
export const RUNNER_PG_MAJORS: readonly number[] = [15, 16, 17];
