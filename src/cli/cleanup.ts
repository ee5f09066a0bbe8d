/**
 * Ctrl-C: asking the running command to stop, and the cleanup that must happen even when the
 * operator insists.
 *
 * Backup, restore and drill hold a PGPASSFILE and temporary files (a drill also an ephemeral
 * cluster), and backup holds an open multipart upload: on the first Ctrl-C they are asked to stop
 * through the signal `interruptible()` gave them, so their own cleanup runs (a process.exit from
 * the signal handler would skip it). A second Ctrl-C exits at once: local clusters are stopped by
 * local-cluster.ts itself; anything else long-lived (the demo's S3 server directory) registers
 * here. Handlers run synchronously because a signal handler ends the process right after.
 */
const handlers = new Set<() => void>();

let interruption: AbortController | undefined;

/** A signal the first Ctrl-C aborts; for a command that can stop cleanly part-way. */
export function interruptible(): AbortSignal {
  interruption = new AbortController();
  return interruption.signal;
}

/** Asks the running command to stop; false when none can (or it was already asked). */
export function requestStop(): boolean {
  if (!interruption || interruption.signal.aborted) return false;
  interruption.abort();
  return true;
}

/** The command ended: a later Ctrl-C has nothing to ask to stop. */
export function endInterruptible(): void {
  interruption = undefined;
}

export function onInterrupt(fn: () => void): () => void {
  handlers.add(fn);
  return () => handlers.delete(fn);
}

export function runInterruptHandlers(): void {
  for (const fn of [...handlers].reverse()) {
    try {
      fn();
    } catch {
      // best effort: keep cleaning the rest
    }
  }
  handlers.clear();
}
