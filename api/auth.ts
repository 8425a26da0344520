import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { unauthorized } from './errors';

const REALM = 'Bearer realm="admin-api"';

// Hashing first gives equal-length inputs, which timingSafeEqual needs, without leaking the token's length.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Lets a request through only with `Authorization: Bearer <token>`; 401 unauthorized otherwise. */
export function requireAdmin(token: string): RequestHandler {
  const expected = digest(token);
  return (req, _res, next) => {
    const presented = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
    if (presented === undefined) {
      throw unauthorized('an admin bearer token is required', REALM);
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      throw unauthorized('the admin token is not valid', `${REALM}, error="invalid_token"`);
    }
    next();
  };
}
