import { classifyMetaError, isWhatsAppSendError, WhatsAppSendError } from '../whatsapp/errors';

describe('classifyMetaError', () => {
  it.each([
    [131047, 'outsideWindow'],
    [131026, 'permanent'],
    [130429, 'retryable'],
    [131056, 'retryable'],
    [80007, 'retryable'],
    [4, 'retryable'],
    [1, 'retryable'],
    [2, 'retryable'],
    [131016, 'retryable'],
    [131000, 'retryable'],
    [131057, 'retryable'],
    [100, 'permanent'],
    [131008, 'permanent'],
    [131009, 'permanent'],
    [190, 'permanent'],
    [368, 'permanent'],
    [131048, 'permanent'],
    [131049, 'permanent'],
    [131050, 'permanent'],
    [130403, 'permanent'],
    [132000, 'permanent'],
    [132001, 'permanent'],
    [132012, 'permanent'],
    [132015, 'permanent'],
  ])('code %i is %s', (code, kind) => {
    expect(classifyMetaError(code).kind).toBe(kind);
  });

  it('gives the delays the reference asks for', () => {
    expect(classifyMetaError(131056).retryAfterMs).toBeGreaterThanOrEqual(4_000);
    expect(classifyMetaError(131057).retryAfterMs).toBe(60_000);
    expect(classifyMetaError(130429).retryAfterMs).toBeUndefined();
  });

  it('bounds retries of server errors', () => {
    for (const code of [1, 2, 131016, 131000]) expect(classifyMetaError(code).maxAttempts).toBeGreaterThan(1);
  });

  it('treats an unknown code as permanent, so nobody is spammed', () => {
    expect(classifyMetaError(999999)).toEqual({ kind: 'permanent', reason: 'unknown' });
  });
});

describe('WhatsAppSendError', () => {
  it('carries the code, title and retry decision', () => {
    const err = new WhatsAppSendError(131056, 'Pair rate limit hit', { details: 'too many', httpStatus: 400 });
    expect(isWhatsAppSendError(err)).toBe(true);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('(#131056) Pair rate limit hit');
    expect(err).toMatchObject({ code: 131056, title: 'Pair rate limit hit', retryable: true, reason: 'pairRateLimit', details: 'too many' });
  });

  it('is retryable without a code (network failure)', () => {
    const err = new WhatsAppSendError(undefined, 'network error: ECONNRESET');
    expect(err).toMatchObject({ retryable: true, reason: 'network', code: undefined });
  });

  it('is not retryable for 131047 or a permanent code', () => {
    expect(new WhatsAppSendError(131047, 'Re-engagement message')).toMatchObject({ retryable: false, kind: 'outsideWindow' });
    expect(new WhatsAppSendError(131026, 'Message undeliverable')).toMatchObject({ retryable: false, kind: 'permanent' });
  });
});
