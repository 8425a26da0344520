import type { RequestHandler } from 'express';
import { constantTimeEqual } from '../whatsapp/signature';
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
