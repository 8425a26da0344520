import { Router } from 'express';
import { getBooking } from '../../../db/bookings';
import type { BookingStatusFeed, StatusChange } from '../../../db/bookingEvents';
import type { Db } from '../../../db/knex';
import { getRestaurant } from '../../../db/restaurants';
import { notFound } from '../../errors';
import { openEventStream } from '../../sse';
import { parseId } from '../../validation';

const HEARTBEAT_MS = 15_000;
/** Bookings whose restaurant a stream remembers; past it the memory starts again (one lookup each). */
const REMEMBERED_BOOKINGS = 10_000;

/**
 * GET /admin-api/r/:restaurantId/bookings/events: every status change of the restaurant's
 * bookings as Server-Sent Events (`event: booking`, data `{id, from, to}`), in commit order,
 * and `event: resync` when the server's LISTEN connection was lost for a while (changes may
 * be missing: read the list again). The console re-reads its list on either; it opens with
 * `event: ready`, after which nothing is missed.
 */
export function restaurantEventsRouter(deps: { db: Db; bookingEvents?: BookingStatusFeed; heartbeatMs?: number }): Router {
  const router = Router();
  const { db, bookingEvents: feed } = deps;
  if (!feed) return router;

  router.get('/r/:restaurantId/bookings/events', async (req, res) => {
    const restaurantId = parseId(req, 'restaurantId', 'restaurant');
    if (!(await getRestaurant(db, restaurantId))) throw notFound('restaurant', restaurantId);
    const stream = openEventStream(res, deps.heartbeatMs ?? HEARTBEAT_MS);
    const ours = new Map<number, boolean>();
    const isOurs = async (bookingId: number) => {
      let known = ours.get(bookingId);
      if (known === undefined) {
        if (ours.size >= REMEMBERED_BOOKINGS) ours.clear();
        known = (await getBooking(db, bookingId))?.restaurantId === restaurantId;
        ours.set(bookingId, known);
      }
      return known;
    };
    // One lookup at a time keeps the events in commit order.
    let queue = Promise.resolve();
    const forward = (c: StatusChange) => {
      queue = queue.then(async () => {
        if (await isOurs(c.bookingId)) stream.send('booking', { id: c.bookingId, from: c.from, to: c.to });
      }).catch((err) => {
        req.log.warn({ err, restaurantId }, 'a booking change could not be matched to its restaurant; the console is told to re-read');
        stream.send('resync', {});
      });
    };
    stream.onClose(feed.subscribeAll({ change: forward, gap: () => stream.send('resync', {}) }));
    stream.send('ready', {});
  });
  return router;
}
