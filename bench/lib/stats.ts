import { performance } from 'node:perf_hooks';

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(ms: number[]): Percentiles {
  if (ms.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
  return { n: s.length, p50: at(50), p99: at(99), max: s[s.length - 1] };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Polls until read() yields a value; the poll interval is short because latencies are the measurement. */
export async function until<T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, everyMs = 2): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs `total` jobs with at most `concurrency` in flight (a closed loop); returns each job's latency and the rate. */
export async function closedLoop(total: number, concurrency: number, job: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      for (let i = next++; i < total; i = next++) latencies.push((await timed(() => job(i))).ms);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { latencies, perSecond: total / seconds, seconds };
}

/**
 * Offers `rate` jobs per second for `seconds` whatever the answers (an open loop), so a slow
 * server shows up as latency instead of silently lowering the offered load.
 */
export async function openLoop(rate: number, seconds: number, job: (i: number) => Promise<unknown>) {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    // Latency from the scheduled time: a late send is the server's (or the machine's) delay too.
    pending.push(job(i).then(() => void latencies.push(performance.now() - due)));
  }
  await Promise.all(pending);
  return { latencies, offered: rate };
}
