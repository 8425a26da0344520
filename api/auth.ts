import type { RequestHandler } from 'express';
import type { Db } from '../db/knex';
import { constantTimeEqual } from '../whatsapp/signature';
import { SAFE_METHODS } from './cookies';
import { ADMIN, CONSOLE_CHALLENGE, CONSOLE_REQUEST_HEADER, consoleCookie, sessionPrincipal } from './console/session';
import { unauthorized } from './errors';

/**
 * Lets a request through only with `Authorization: Bearer <token>`; 401 unauthorized (with
 * the RFC 6750 challenge for `realm`) otherwise. `what` names the token in the message.
 */
export function requireBearer(token: string, realm: string, what: string): RequestHandler {
  const challenge = `Bearer realm="${realm}"`;
  return (req, _res, next) => {
    const presented = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
    if (presented === undefined) throw unauthorized(`${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} bearer token is required`, challenge);
    if (!constantTimeEqual(presented, token)) throw unauthorized(`the ${what} token is not valid`, `${challenge}, error="invalid_token"`);
    next();
  };
}

export const requireAdmin = (token: string): RequestHandler => requireBearer(token, 'admin-api', 'admin');

/**
 * The admin API's door: the admin bearer token exactly as before, or, for a request without
 * an Authorization header, the console's session cookie (an admin's or a manager's). A
 * presented bearer token is never second-guessed by a cookie. Sets the request's principal
 * (console/session.ts principalOf); a manager's is confined to their restaurants afterwards.
 */
export function authenticateAdminApi(o: { adminToken: string; consoleKey: Buffer; db: Db }): RequestHandler {
  const bearer = requireAdmin(o.adminToken);
  return async (req, res, next) => {
    const session = req.get('authorization') === undefined ? consoleCookie(req) : undefined;
    if (session === undefined) {
      bearer(req, res, () => {
        res.locals.principal = ADMIN;
        next();
      });
      return;
    }
    const principal = await sessionPrincipal(o.db, o.consoleKey, session);
    if (!principal) throw unauthorized('the console session has expired or is no longer valid: sign in again', `${CONSOLE_CHALLENGE}, error="invalid_token"`);
    // SameSite=Strict still lets a page on another port of the same host send the cookie.
    if (!SAFE_METHODS.has(req.method) && req.get(CONSOLE_REQUEST_HEADER) !== '1') {
      throw unauthorized(`a console session sends the ${CONSOLE_REQUEST_HEADER} header with every change`, CONSOLE_CHALLENGE);
    }
    res.locals.principal = principal;
    // What the read routes of api/viewer.ts scope by.
    res.locals.viewer = principal.kind === 'admin' ? { role: 'admin' } : { role: 'member', userId: principal.userId };
    next();
  };
}
