/**
 * The seam between a restore drill and where its throwaway database lives: an RDS instance on
 * AWS (rds.ts), or a local `initdb` cluster for the CLI's `drill --local`, the demo and the tests
 * (local.ts).
 *
 * Handles are plain JSON (no secrets), because the Step Functions workflow carries them from the
 * provision step to the status, restore and cleanup steps, each a separate Lambda invocation.
 * Credentials are only ever resolved on demand by `connection()`.
 */
import type { RestoreTarget } from '../restore';

export type ProviderName = 'local' | 'rds';

export type EphemeralStatus = 'creating' | 'available' | 'failed' | 'deleted';

export interface ProvisionRequest {
  readonly drillId: string;
  readonly databaseId: string;
  /**
   * PostgreSQL major of the ephemeral database: the backup's source major, or the drill's
   * `targetMajor`.
   */
  readonly engineMajor: number;
  /**
   * The drill asked for this major explicitly (`targetMajor`): a provider that cannot offer it
   * fails with a clear reason instead of picking another. @default false - the nearest newer one will do
   */
  readonly exactMajor?: boolean;
  readonly allocatedStorageGb: number;
  /**
   * The database may run on paid extended support of its major (RDS Extended Support). A provider
   * with such a tier refuses a major in it without this, and otherwise opts out of it.
   * @default false
   */
  readonly allowExtendedSupport?: boolean;
  /** When the sweeper may delete the database if the drill never released it. */
  readonly expiresAt: Date;
  /** Drill start (names the RDS instance). @default - now */
  readonly startedAt?: Date;
}

export interface EphemeralHandle {
  readonly provider: ProviderName;
  /** RDS DBInstanceIdentifier, or the local cluster's id. */
  readonly id: string;
  readonly region?: string;
  /** Provider details that let another process find the database again (never credentials). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface StatusResult {
  readonly status: EphemeralStatus;
  /** The provider's own status word (`backing-up`, `storage-full`, ...). */
  readonly detail?: string;
}

/** What a report says about the ephemeral database. */
export interface EphemeralDescription {
  readonly provider: ProviderName;
  readonly id: string;
  readonly engineVersion?: string;
  readonly instanceClass?: string;
  readonly allocatedStorageGb?: number;
  readonly region?: string;
  readonly availabilityZone?: string;
  readonly encrypted?: boolean;
  readonly status?: string;
}

export interface ReleaseResult {
  /** True once the database is deleted or being deleted. */
  readonly released: boolean;
  /** True when it was already gone (or already being deleted) before this call. */
  readonly alreadyGone: boolean;
}

export interface EphemeralDatabaseProvider {
  readonly name: ProviderName;
  /** Starts creating the database; returns as soon as the provider accepted the request. */
  provision(request: ProvisionRequest): Promise<EphemeralHandle>;
  status(handle: EphemeralHandle): Promise<StatusResult>;
  /** Connection parameters with credentials, resolved now (RDS: from the managed master secret). */
  connection(handle: EphemeralHandle): Promise<RestoreTarget>;
  /** Deletes the database. Idempotent: releasing twice, or something already gone, is fine. */
  release(handle: EphemeralHandle): Promise<ReleaseResult>;
  describe(handle: EphemeralHandle): Promise<EphemeralDescription>;
}

const GIB = 1024 ** 3;

/**
 * Storage for a restore of a dump of `dumpBytes`: compressed custom-format archives typically
 * expand 3-6x on restore (plus indexes), so 6x the archive, at least 20 GiB (the gp3 minimum),
 * at most 65,536 GiB (the RDS maximum).
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html
 */
export function allocatedStorageFor(dumpBytes: number): number {
  return Math.min(65_536, Math.max(20, Math.ceil((Math.max(0, dumpBytes) * 6) / GIB)));
}

export interface WaitOptions {
  /** @default 45 minutes */
  readonly timeoutMs?: number;
  /** @default 30 seconds */
  readonly intervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onStatus?: (status: StatusResult) => void;
}

/** Polls `status` until available; throws when the database failed, vanished, or the time ran out. */
export async function waitUntilAvailable(
  provider: EphemeralDatabaseProvider,
  handle: EphemeralHandle,
  options: WaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 45 * 60_000;
  const intervalMs = options.intervalMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await provider.status(handle);
    options.onStatus?.(s);
    if (s.status === 'available') return;
    if (s.status === 'failed' || s.status === 'deleted') {
      throw new Error(`ephemeral database ${handle.id} is ${s.status}${s.detail ? ` (${s.detail})` : ''}`);
    }
    if (Date.now() + intervalMs > deadline) {
      throw new Error(
        `ephemeral database ${handle.id} not available after ${Math.round(timeoutMs / 1000)}s (${s.detail ?? s.status})`,
      );
    }
    await sleep(intervalMs);
  }
}
