import type { Request, RequestHandler } from 'express';
import { getBooking } from '../../db/bookings';
import type { Db } from '../../db/knex';
import { ApiError, notFound } from '../errors';
import { principalOf } from './session';

type Resolve = (req: Request, m: RegExpExecArray, db: Db) => Promise<number | 'unknown' | undefined>;

const digits = (v: unknown) => (typeof v === 'string' && /^[1-9]\d{0,9}$/.test(v) ? Number(v) : undefined);

/** The booking's restaurant; 'unknown' lets the route answer its own 404 for a booking that does not exist. */
async function bookingRestaurant(db: Db, id: number | undefined): Promise<number | 'unknown' | undefined> {
  if (id === undefined) return undefined;
  return (await getBooking(db, id))?.restaurantId ?? 'unknown';
}

/**
 * What a manager's console session may call, each with the restaurant it touches. Anything
 * not listed (creating restaurants, the inbox, ...) is the admin's alone: a route added later
 * stays closed to managers until it is listed here.
 */
const MANAGER_ROUTES: { methods: string[]; path: RegExp; restaurant: Resolve }[] = [
  // Lists, the live stream and every decision of one restaurant.
  { methods: ['GET', 'POST'], path: /^\/r\/([^/]+)\//, restaurant: async (_req, m) => digits(m[1]) },
  { methods: ['GET'], path: /^\/restaurants\/([^/]+)$/, restaurant: async (_req, m) => digits(m[1]) },
  { methods: ['GET'], path: /^\/bookings\/([^/]+)$/, restaurant: (_req, m, db) => bookingRestaurant(db, digits(m[1])) },
  { methods: ['GET'], path: /^\/stats$/, restaurant: async (req) => digits(req.query.restaurantId) },
  // One booking's messages; the whole log (by phone, purpose, ...) stays the admin's.
  { methods: ['GET'], path: /^\/messages$/, restaurant: (req, _m, db) => bookingRestaurant(db, digits(req.query.bookingId)) },
];

const refuse = (message: string) => new ApiError('forbidden', message);

/**
 * Keeps a manager's console session within their restaurants on the admin API; the admin
 * passes untouched. A booking of another restaurant is answered 404, like one that does not
 * exist. A manager's Approve is taken on their own behalf (managerId), never someone else's.
 */
export function confineManagers(db: Db): RequestHandler {
  return async (req, res, next) => {
    const principal = principalOf(res);
    if (principal.kind === 'admin') return next();
    const route = MANAGER_ROUTES.find((r) => r.methods.includes(req.method) && r.path.test(req.path));
    if (!route) throw refuse('a manager\'s console session cannot call this route');
    const restaurantId = await route.restaurant(req, route.path.exec(req.path)!, db);
    if (restaurantId === undefined) throw refuse('a manager\'s console session must name one of its restaurants');
    if (restaurantId !== 'unknown' && !principal.restaurants.some((r) => r.id === restaurantId)) {
      const bookingId = /^\/bookings\/(\d+)$/.exec(req.path)?.[1] ?? req.query.bookingId;
      if (typeof bookingId === 'string') throw notFound('booking', bookingId);
      throw refuse(`restaurant ${restaurantId} is not one of this session's`);
    }
    if (req.method === 'POST' && /\/approve$/.test(req.path)) {
      const body: unknown = req.body ?? {};
      // Anything else is the route's 400 to give.
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
        const asked = (body as { managerId?: unknown }).managerId;
        if (asked !== undefined && asked !== principal.userId) throw refuse('a manager approves on their own behalf only');
        req.body = { ...body, managerId: principal.userId };
      }
    }
    next();
  };
}
