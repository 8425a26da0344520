import { isWhatsAppSendError } from '../whatsapp/errors';
import { createSendLimiter } from '../whatsapp/rateLimit';

/** A limiter on a clock the test moves; sleeping moves it and is recorded. */
function limiter(o: Omit<Parameters<typeof createSendLimiter>[0], 'now' | 'sleep'>) {
  let now = 1_000_000;
  const slept: number[] = [];
  const l = createSendLimiter({
    ...o,
    now: () => now,
    sleep: async (ms) => {
      slept.push(Math.round(ms));
      now += ms;
    },
  });
  return { l, slept, advance: (ms: number) => (now += ms) };
}

describe('per-account send limiter', () => {
  test('a burst goes at once, then one message per interval', async () => {
    const { l, slept } = limiter({ account: { perSecond: 2, burst: 3 } });
    for (let i = 0; i < 5; i++) await l.take(`+7701000000${i}`);
    expect(slept).toEqual([500, 500]);
  });

  test('a quiet spell refills the burst, never beyond it', async () => {
    const { l, slept, advance } = limiter({ account: { perSecond: 1, burst: 2 } });
    await l.take('+77010000001');
    await l.take('+77010000001');
    advance(60_000);
    for (let i = 0; i < 3; i++) await l.take('+77010000001');
    expect(slept).toEqual([1000]);
  });

  test('the pair limit paces one recipient without holding back the others', async () => {
    const { l, slept } = limiter({ account: { perSecond: 80, burst: 80 }, perRecipient: { perSecond: 1 / 6, burst: 2 } });
    await l.take('+77010000001');
    await l.take('+77010000001');
    await l.take('+77010000002');
    expect(slept).toEqual([]);
    await l.take('+77010000001');
    expect(slept).toEqual([6000]);
  });

  test('a wait beyond the bound is a retryable refusal with the delay, and takes nothing', async () => {
    const { l, slept } = limiter({ account: { perSecond: 1 / 60, burst: 1 }, maxWaitMs: 20_000 });
    await l.take('+77010000001');
    const err = await l.take('+77010000002').catch((e: unknown) => e);
    expect(isWhatsAppSendError(err) && { retryable: err.retryable, reason: err.reason, retryAfterMs: err.retryAfterMs }).toEqual({
      retryable: true,
      reason: 'throughput',
      retryAfterMs: 60_000,
    });
    // Refused without taking: still 60 s until the next token, not 120.
    const again = await l.take('+77010000003').catch((e: unknown) => e);
    expect(isWhatsAppSendError(again) && again.retryAfterMs).toBe(60_000);
    expect(slept).toEqual([]);
  });
});
