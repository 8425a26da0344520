/**
 * The claim code a guest sends from WhatsApp: `BOOKING:<id>-<secret>`.
 * The secret is 10 base32 characters (50 random bits), so a guessed or
 * mistyped code never claims someone else's booking.
 */
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // 32 symbols without look-alikes (l, o, 0, 1)
export const CLAIM_SECRET_LENGTH = 10;

export function newClaimSecret(randomBytes: (n: number) => Uint8Array): string {
  return Array.from(randomBytes(CLAIM_SECRET_LENGTH), (b) => ALPHABET[b & 31]).join('');
}

export function claimCode(bookingId: number, secret: string): string {
  return `${bookingId}-${secret}`;
}

export function claimText(code: string): string {
  return `BOOKING:${code}`;
}

/** Finds `BOOKING:<code>` anywhere in a message, in any case, with stray spaces. */
export function findClaimCode(text: string): { bookingId: number; code: string } | undefined {
  const match = /booking\s*:\s*(\d{1,15})\s*-\s*([a-z0-9]{4,32})/i.exec(text);
  if (!match) return undefined;
  const bookingId = Number(match[1]);
  return { bookingId, code: claimCode(bookingId, match[2].toLowerCase()) };
}

/** Whether the text mentions BOOKING: at all, so a malformed code gets a helpful answer. */
export function mentionsClaim(text: string): boolean {
  return /booking\s*:/i.test(text);
}
