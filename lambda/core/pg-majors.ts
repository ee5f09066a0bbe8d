/**
 * Which PostgreSQL majors the runner image carries, as data both sides import: the image build
 * (lib/constructs/runner-image.ts passes it as PG_MAJORS) and the runtime (pg-bin.ts). No imports
 * on purpose: `cdk synth` loads this module.
 */

/**
 * The PostgreSQL majors whose clients the runner image carries (lambda/Dockerfile's PG_MAJORS,
 * passed as a build argument by lib/constructs/runner-image.ts): a server of any of these majors
 * or older (down to 10) can be dumped, and a drill or restore into any of them has a pg_restore.
 * Amazon Linux 2023 packages these as `postgresql<major>` (postgresql18 since its 2025 releases);
 * the image build fails on a major it cannot download, so this list never claims more than the
 * image holds. Nothing else caps the major: a laptop or CI with a newer pg_dump dumps newer servers.
 */
export const RUNNER_PG_MAJORS: readonly number[] = [15, 16, 17, 18];
