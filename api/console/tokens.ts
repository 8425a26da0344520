import { createHash, createHmac } from 'node:crypto';
import type { Config } from '../../config';
import { constantTimeEqual } from '../../whatsapp/signature';

/**
 * A link opens one session and is short-lived, because it travels through WhatsApp; the
 * session it is traded for lives in an HttpOnly cookie. Each kind is refused where the other
 * is expected, so a leaked link is never a session and a session never mints another.
 */
export type ConsoleTokenKind = 'link' | 'session';

export interface ConsoleClaims {
  kind: ConsoleTokenKind;
  /** `admin`, or the users.id of a manager or owner. */
  sub: 'admin' | number;
  /** The restaurants a manager's token was issued for; the memberships at use time narrow it further. */
  restaurants?: number[];
  /** Expiry, epoch milliseconds. */
  exp: number;
}

/** The HMAC key: CONSOLE_LINK_SECRET, or one derived from the admin token (so rotating it ends every session). */
export function consoleSigningKey(config: Pick<Config, 'CONSOLE_LINK_SECRET'>, adminToken: string): Buffer {
  return config.CONSOLE_LINK_SECRET
    ? createHash('sha256').update(config.CONSOLE_LINK_SECRET).digest()
    : createHmac('sha256', adminToken).update('wa-booking console tokens v1').digest();
}

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest('base64url');

/** `<claims as base64url JSON>.<HMAC-SHA256 of that part>`: URL- and cookie-safe as it is. */
export function signConsoleToken(key: Buffer, claims: ConsoleClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${body}.${mac(key, body)}`;
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** The claims of a token of this kind that we signed and that has not expired; undefined otherwise. */
export function verifyConsoleToken(key: Buffer, token: string, kind: ConsoleTokenKind, now = Date.now()): ConsoleClaims | undefined {
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined || !constantTimeEqual(signature, mac(key, body))) return undefined;
  let claims: Partial<ConsoleClaims>;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  } catch {
    return undefined;
  }
  // Signed by us, so the shape is ours; checked anyway, since a key shared across versions may sign another shape.
  const subject = claims.sub === 'admin' || isId(claims.sub);
  const restaurants = claims.restaurants === undefined || (Array.isArray(claims.restaurants) && claims.restaurants.every(isId));
  if (claims.kind !== kind || !subject || !restaurants || typeof claims.exp !== 'number' || claims.exp <= now) return undefined;
  return claims as ConsoleClaims;
}
