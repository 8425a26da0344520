import { WhatsAppSendError } from './errors';

/** Waits until an account may send one more message to `recipient`. */
export interface SendLimiter {
  take(recipient: string): Promise<void>;
}

export interface Rate {
  /** Messages per second, sustained. */
  perSecond: number;
  /** Messages that may go at once after a quiet spell. */
  burst: number;
}

/** Meta's per-number throughput (80 messages/s by default, inbound counted too: we leave room). */
export const CLOUD_API_NUMBER_RATE: Rate = { perSecond: 80, burst: 80 };
/** Meta's pair limit: about one message every 6 s to one person, bursts borrowed from later (131056 beyond). */
export const CLOUD_API_PAIR_RATE: Rate = { perSecond: 1 / 6, burst: 10 };
/** Past this, a send is not kept waiting in the activity: it fails as retryable, to come back when there is room. */
const MAX_WAIT_MS = 20_000;
// Recipients whose bucket is full again are forgotten past this many, so the map stays small.
const MAX_TRACKED_RECIPIENTS = 10_000;

/**
 * A token bucket that hands out future tokens: `reserve` returns how long the caller must wait
 * for its token (0 when one is there), or undefined when that is longer than `maxWaitMs` (no
 * token taken then).
 */
function bucket(rate: Rate, now: () => number) {
  let tokens = rate.burst;
  let at = now();
  const refill = () => {
    const t = now();
    tokens = Math.min(rate.burst, tokens + ((t - at) / 1000) * rate.perSecond);
    at = t;
  };
  return {
    waitMs(): number {
      refill();
      return tokens >= 1 ? 0 : ((1 - tokens) / rate.perSecond) * 1000;
    },
    take(): void {
      tokens -= 1;
    },
    full(): boolean {
      refill();
      return tokens >= rate.burst;
    },
  };
}

/**
 * One account's limits, in this process: the account's own rate and, optionally, a rate per
 * recipient. Several processes sending for one account each keep their own buckets, so the
 * limits hold per process (run one worker per account's volume, or lower the rate). A send
 * that would wait longer than MAX_WAIT_MS fails as retryable (`throughput`) instead, with
 * the time until its turn as the retry delay: Temporal's retry keeps it, nothing is lost.
 */
export function createSendLimiter(o: {
  account: Rate;
  perRecipient?: Rate;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  maxWaitMs?: number;
}): SendLimiter {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxWaitMs = o.maxWaitMs ?? MAX_WAIT_MS;
  const account = bucket(o.account, now);
  const recipients = new Map<string, ReturnType<typeof bucket>>();

  function recipientBucket(recipient: string) {
    let b = recipients.get(recipient);
    if (!b && o.perRecipient) {
      if (recipients.size >= MAX_TRACKED_RECIPIENTS) for (const [key, old] of recipients) if (old.full()) recipients.delete(key);
      b = bucket(o.perRecipient, now);
      recipients.set(recipient, b);
    }
    return b;
  }

  return {
    async take(recipient) {
      const pair = recipientBucket(recipient);
      const waitMs = Math.max(account.waitMs(), pair?.waitMs() ?? 0);
      if (waitMs > maxWaitMs) {
        throw new WhatsAppSendError(undefined, `rate limit of the account: next send in ${Math.ceil(waitMs / 1000)} s`, {
          classification: { kind: 'retryable', reason: pair && pair.waitMs() >= waitMs ? 'pairRateLimit' : 'throughput', retryAfterMs: Math.ceil(waitMs) },
        });
      }
      account.take();
      pair?.take();
      if (waitMs > 0) await sleep(waitMs);
    },
  };
}
