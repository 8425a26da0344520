import { performance } from 'node:perf_hooks';

/**
 * Whether this process's event loop has been busy for most of the last moment (its
 * utilization over about `windowMs` at or above `threshold`). Cheap enough to ask on every
 * decision: the utilization is read again at most once per window.
 */
export function eventLoopBusy(threshold = 0.85, windowMs = 100): () => boolean {
  let mark = performance.eventLoopUtilization();
  let markedAt = performance.now();
  let busy = false;
  return () => {
    const now = performance.now();
    if (now - markedAt >= windowMs) {
      const current = performance.eventLoopUtilization();
      busy = performance.eventLoopUtilization(current, mark).utilization >= threshold;
      mark = current;
      markedAt = now;
    }
    return busy;
  };
}
