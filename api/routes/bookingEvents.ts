import type { RequestHandler } from 'express';
import { getBooking } from '../../db/bookings';
import type { BookingStatusFeed, StatusChange } from '../../db/bookingEvents';
import type { Db } from '../../db/knex';
import { isFinal, type BookingStatus } from '../../domain/booking';
import { notFound } from '../errors';
import { openEventStream, type EventStream } from '../sse';
import { parseId } from '../validation';

const HEARTBEAT_MS = 15_000;

/**
 * GET /api/bookings/:id/events: the booking's status as Server-Sent Events (`event: status`,
 * data `{ id, status, final }`), first the current one, then each change, ending after a
 * final status. APPROVED is not final: the booking can still be cancelled.
 *
 * The subscription starts before the status is read, and a change is passed on only when
 * its `from` is the status last sent: changes are announced in commit order, so this drops
 * exactly those the read already reflects, and nothing is missed or sent twice.
 */
export function bookingEventsHandler(deps: { db: Db; feed: BookingStatusFeed; heartbeatMs?: number }): RequestHandler {
  return async (req, res) => {
    const id = parseId(req, 'id', 'booking');
    let stream: EventStream | undefined;
    let current: BookingStatus | undefined;
    // Set while the status is being read: changes arriving meanwhile wait in it.
    let held: StatusChange[] | undefined = [];
    let readAgain = false;

    const send = (status: BookingStatus) => {
      current = status;
      stream?.send('status', { id, status, final: isFinal(status) });
      if (isFinal(status)) stream?.end();
    };
    const apply = (c: StatusChange) => {
      if (c.from === current) send(c.to);
    };
    const release = () => {
      const waiting = held ?? [];
      held = undefined;
      waiting.forEach(apply);
    };
    /** After the feed lost its connection: whatever was missed shows in a fresh read. */
    const reread = async () => {
      if (held) {
        readAgain = true;
        return;
      }
      held = [];
      try {
        do {
          readAgain = false;
          const booking = await getBooking(deps.db, id);
          if (booking && booking.status !== current) send(booking.status);
        } while (readAgain && !stream?.closed);
      } catch (err) {
        req.log.warn({ err, bookingId: id }, 'booking status could not be read; ending the stream');
        stream?.end();
      }
      release();
    };

    const unsubscribe = deps.feed.subscribe(id, {
      change: (c) => (held ? held.push(c) : apply(c)),
      gap: () => void reread(),
    });
    const booking = await getBooking(deps.db, id).catch((err) => {
      unsubscribe();
      throw err;
    });
    if (!booking) {
      unsubscribe();
      throw notFound('booking', id);
    }
    stream = openEventStream(res, deps.heartbeatMs ?? HEARTBEAT_MS);
    stream.onClose(unsubscribe);
    send(booking.status);
    release();
    if (readAgain) void reread();
  };
}
