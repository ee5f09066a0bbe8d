/**
 * Cleanup that must also happen on Ctrl-C: local clusters are stopped by local-cluster.ts itself;
 * anything else long-lived (the demo's S3 server directory) registers here. Handlers run
 * synchronously because a signal handler ends the process right after.
 */
// @ts-nocheck

const handlers = new Set<() => void>();

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
