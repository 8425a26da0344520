import type { Request, Response } from 'express';
import type { Db } from '../../db/knex';
import { listMembershipsOf } from '../../db/restaurants';
import type { MembershipRole } from '../../domain/booking';
import type { DeciderActor } from '../../workflows/definitions';
import { readCookie } from '../cookies';
import { signConsoleToken, verifyConsoleToken, type ConsoleClaims } from './tokens';

/** Who a request to the admin API comes from: the admin token's holder, or one manager within their restaurants. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'manager'; userId: number; name: string; restaurants: { id: number; name: string; role: MembershipRole }[] };

export const ADMIN: Principal = { kind: 'admin' };

/** Cookie-authenticated writes need this header: a browser sends it cross-origin only after a CORS preflight we never grant. */
export const CONSOLE_REQUEST_HEADER = 'X-Console-Request';
export const CONSOLE_COOKIE = 'wa_console';
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
export const CONSOLE_CHALLENGE = 'ConsoleSession realm="console"';

/** Set by the admin API's authentication; every admin route runs after it. */
export function principalOf(res: Response): Principal {
  return (res.locals.principal as Principal | undefined) ?? ADMIN;
}

/** Who a decision is recorded as: a manager's console session decides as that manager (or owner), anything else as the admin. */
export function deciderOf(res: Response, restaurantId: number): DeciderActor {
  const principal = principalOf(res);
  const membership = principal.kind === 'manager' ? principal.restaurants.find((r) => r.id === restaurantId) : undefined;
  if (principal.kind === 'admin' || !membership) return { type: 'admin' };
  return { type: membership.role, id: principal.userId, name: principal.name };
}

export const consoleCookie = (req: Request): string | undefined => readCookie(req, CONSOLE_COOKIE);

/**
 * A manager's restaurants are those the token names AND those they still belong to, read at
 * every request: removing a manager ends their sessions and links at once.
 */
export async function principalFromClaims(db: Db, claims: ConsoleClaims): Promise<Principal | undefined> {
  if (claims.sub === 'admin') return ADMIN;
  const memberships = await listMembershipsOf(db, { userId: claims.sub });
  const restaurants = memberships
    .filter((m) => claims.restaurants?.includes(m.restaurantId))
    .map((m) => ({ id: m.restaurantId, name: m.restaurantName, role: m.role }));
  if (!restaurants.length) return undefined;
  return { kind: 'manager', userId: claims.sub, name: memberships[0].name, restaurants };
}

export async function sessionPrincipal(db: Db, key: Buffer, token: string): Promise<Principal | undefined> {
  const claims = verifyConsoleToken(key, token, 'session');
  return claims && principalFromClaims(db, claims);
}

/** Starts a session as the cookie the console's requests carry. */
export function startSession(req: Request, res: Response, key: Buffer, claims: Omit<ConsoleClaims, 'kind' | 'exp'>): void {
  const token = signConsoleToken(key, { ...claims, kind: 'session', exp: Date.now() + SESSION_TTL_MS });
  res.cookie(CONSOLE_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/', maxAge: SESSION_TTL_MS });
}

export function endSession(req: Request, res: Response): void {
  res.clearCookie(CONSOLE_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
}
