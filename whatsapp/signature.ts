import { createHmac, timingSafeEqual } from 'node:crypto';

/** The `X-Hub-Signature-256` value Meta sends: `sha256=` and the lowercase hex HMAC-SHA256 of the raw body. */
export function sign(body: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/**
 * Checks the header against the raw bytes as received; re-serialised JSON would differ
 * in whitespace and escapes. The compare is constant-time so timing leaks nothing.
 */
export function verifySignature(body: Buffer | string, header: string | undefined, appSecret: string): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(body, appSecret));
  const given = Buffer.from(header.trim().toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
