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

/**
 * Counts arrivals and says whether a burst is on: at least `threshold` of them in the window
 * under way or the last full one. Unlike eventLoopBusy it reads the traffic, not this
 * process's CPU, which the work being held back would itself keep high (or, on a fast path
 * that leaves the loop idle between answers, low).
 */
export function burstMeter(threshold: number, windowMs = 100, now = () => performance.now()): { arrived(): void; bursting(): boolean } {
  let windowStart = now();
  let current = 0;
  let last = 0;
  const roll = () => {
    const at = now();
    if (at - windowStart < windowMs) return;
    // A window with no arrivals in between leaves nothing to remember.
    last = at - windowStart < 2 * windowMs ? current : 0;
    current = 0;
    windowStart = at;
  };
  return {
    arrived() {
      roll();
      current++;
    },
    bursting() {
      roll();
      return current >= threshold || last >= threshold;
    },
  };
}
