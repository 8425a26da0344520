import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/knex';
import { BOOKING_STATUSES, canTransition, isFinal, type BookingStatus } from '../../domain/booking';
import { getRestaurant } from '../../db/restaurants';
import { constantTimeEqual } from '../../whatsapp/signature';
import { CONSOLE_PATH, LINK_QUERY } from '../console/link';
import {
  CONSOLE_CHALLENGE,
  CONSOLE_REQUEST_HEADER,
  consoleCookie,
  endSession,
  principalFromClaims,
  sessionPrincipal,
  startSession,
  type Principal,
} from '../console/session';
import { verifyConsoleToken } from '../console/tokens';
import { unauthorized } from '../errors';
import { parseBody, parseQuery } from '../validation';

export { CONSOLE_PATH };
const PAGE_DIR = path.join(__dirname, '..', '..', 'console', 'page');

/** Scripts, styles and data only from here; nothing inline, no frames. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's buttons: each admin decision route (its last path segment) and the status it leads to. */
const DECISIONS = [
  { action: 'approve', to: 'APPROVED' },
  { action: 'reject', to: 'REJECTED' },
  { action: 'cancel', to: 'CANCELLED' },
  { action: 'arrived', to: 'SEATED' },
  { action: 'no-show', to: 'NO_SHOW' },
] as const;
const isStatus = (s: string): s is BookingStatus => (BOOKING_STATUSES as readonly string[]).includes(s);
/** Which buttons each status shows, from domain/booking.ts's transitions; the workflow still has the last word. */
const ACTIONS_BY_STATUS = Object.fromEntries(
  BOOKING_STATUSES.map((status) => [status, DECISIONS.filter((d) => isStatus(d.to) && canTransition(status, d.to)).map((d) => d.action)]),
);
const FINAL_STATUSES = BOOKING_STATUSES.filter(isFinal);

/** GET /console/: `link` from the /console command; `signin=refused` is where a refused link lands. */
export const consoleEntryQuery = z.object({ [LINK_QUERY]: z.string().max(2000).optional(), signin: z.string().max(20).optional() });
/** POST /console/api/login. */
export const consoleLoginBody = z.object({ token: z.string().min(1).max(500) }).strict();

export interface ConsoleDeps {
  db: Db;
  adminToken: string;
  /** consoleSigningKey(config, adminToken): the same key createConsoleLinks signs links with. */
  consoleKey: Buffer;
}

/**
 * /console: the restaurant's live board (console/page/, static files) and its sign-in. An
 * admin signs in with the admin token (POST /console/api/login); a manager opens the link the
 * `/console` WhatsApp command sent them, which this route trades for the session cookie and a
 * redirect that drops the link from the address bar. Everything the page shows and does
 * goes through /admin-api, which reads the same cookie and keeps a manager within their
 * restaurants.
 */
export function consoleRouter({ db, adminToken, consoleKey }: ConsoleDeps): Router {
  const router = Router();
  const csp: RequestHandler = (_req, res, next) => {
    // No-referrer too: nothing of the console's addresses reaches a site it links to.
    res.set({ 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Referrer-Policy': 'no-referrer' });
    next();
  };
  router.use(csp);

  router.get('/', async (req, res, next) => {
    const link = parseQuery(req, consoleEntryQuery)[LINK_QUERY];
    if (link === undefined) return next();
    const claims = verifyConsoleToken(consoleKey, link, 'link');
    const principal = claims && (await principalFromClaims(db, claims));
    if (!claims || !principal || principal.kind !== 'manager') {
      req.log.warn({ security: 'console_link_refused' }, 'a console link that is forged, expired or no longer anyone\'s was opened');
      res.redirect(303, `${req.baseUrl}/?signin=refused`);
      return;
    }
    startSession(req, res, consoleKey, { sub: principal.userId, restaurants: principal.restaurants.map((r) => r.id) });
    req.log.info({ userId: principal.userId }, 'console session started from a WhatsApp link');
    res.redirect(303, `${req.baseUrl}/`);
  });
  router.use(express.static(PAGE_DIR, { index: 'index.html' }));

  router.post('/api/login', (req, res) => {
    const { token } = parseBody(req, consoleLoginBody);
    if (!constantTimeEqual(token, adminToken)) throw unauthorized('the admin token is not valid', CONSOLE_CHALLENGE);
    startSession(req, res, consoleKey, { sub: 'admin' });
    res.status(204).end();
  });

  router.post('/api/logout', (req, res) => {
    if (req.get(CONSOLE_REQUEST_HEADER) !== '1') throw unauthorized(`the ${CONSOLE_REQUEST_HEADER} header is missing`, CONSOLE_CHALLENGE);
    endSession(req, res);
    res.status(204).end();
  });

  /** Who is signed in and which restaurants the page offers. */
  router.get('/api/session', async (req, res) => {
    const token = consoleCookie(req);
    const principal: Principal | undefined = token === undefined ? undefined : await sessionPrincipal(db, consoleKey, token);
    if (!principal) throw unauthorized('sign in with the admin token or the link the /console WhatsApp command sends', CONSOLE_CHALLENGE);
    const ids: number[] = principal.kind === 'admin' ? await db('restaurants').orderBy('id').pluck('id') : principal.restaurants.map((r) => r.id);
    const restaurants = (await Promise.all(ids.map((id) => getRestaurant(db, id))))
      .filter((r) => r !== undefined)
      .map((r) => ({ id: r.id, name: r.name, timezone: r.timezone }));
    res.set('Cache-Control', 'no-store').json({
      kind: principal.kind,
      name: principal.kind === 'manager' ? principal.name : 'Admin',
      userId: principal.kind === 'manager' ? principal.userId : undefined,
      restaurants,
      requestHeader: CONSOLE_REQUEST_HEADER,
      actions: ACTIONS_BY_STATUS,
      finalStatuses: FINAL_STATUSES,
    });
  });

  return router;
}
