import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The `X-Hub-Signature-256` value Meta sends: `sha256=` and the lowercase hex HMAC-SHA256 of the raw body. */
export function sign(body: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** Compares secrets without leaking, through timing, how much of them matched or how long they are. */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Checks the header against the raw bytes as received: re-serialised JSON would differ in
 * whitespace and escapes.
 */
export function verifySignature(body: Buffer | string, header: string | undefined, appSecret: string): boolean {
  return header !== undefined && constantTimeEqual(header.trim().toLowerCase(), sign(body, appSecret));
}
