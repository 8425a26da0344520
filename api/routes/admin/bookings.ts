import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { BOOKING_STATUSES } from '../../../domain/booking';
import { normalizePhone } from '../../../domain/phone';
import { getBooking, listBookings, type BookingRow } from '../../../db/bookings';
import { getBookingRecord } from '../../../db/bookingViews';
import { findMembershipByUserId, getRestaurant } from '../../../db/restaurants';
import { bookingHandle } from '../../../temporal/bookingClient';
import {
  approveUpdate,
  arrivedUpdate,
  cancelUpdate,
  claimUpdate,
  noShowUpdate,
  rejectUpdate,
  type DeciderActor,
  type UpdateOutcome,
} from '../../../workflows/definitions';
import type { AppDeps } from '../../app';
import { deciderOf } from '../../console/session';
import { notAllowedInStatus, notFound, validationFailed } from '../../errors';
import { dateTime, idSchema, parseBody, parseId, parseQuery, PG_INT_MAX, text } from '../../validation';

export const confirmBody = z.object({ phone: text({ min: 3, max: 40 }), name: text({ min: 1, max: 100 }).optional() }).strict();
export const approveBody = z.object({ managerId: idSchema.optional() }).strict();
export const reasonBody = z.object({ reason: text({ min: 1, max: 500 }).optional() }).strict();
/** Arrived and no-show take no fields: the body is `{}`. */
export const arrivalBody = z.object({}).strict();

export const listQuery = z
  .object({
    status: z.enum(BOOKING_STATUSES).optional(),
    from: dateTime().optional(),
    to: dateTime().optional(),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

/** Keyset cursor: the (starts_at, id) of the last row of the page, opaque to clients. */
const encodeCursor = (b: BookingRow) => Buffer.from(`${b.startsAt.toISOString()}|${b.id}`).toString('base64url');
/** Exactly what encodeCursor writes (a 4-digit year, an id that fits the column), or a 400. */
const CURSOR = /^([1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([1-9]\d{0,9})$/;
function decodeCursor(cursor: string) {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString());
  const startsAt = new Date(match?.[1] ?? NaN);
  const id = Number(match?.[2]);
  // toISOString round-trips only a real calendar date (not 2030-02-31).
  if (!match || Number.isNaN(startsAt.getTime()) || startsAt.toISOString() !== match[1] || id > PG_INT_MAX) {
    throw validationFailed([{ in: 'query', path: 'cursor', message: 'not a cursor this API returned' }]);
  }
  return { startsAt, id };
}

/** Under the 5 s within which an API answers 503 when a dependency is away. */
const DECISION_DEADLINE_MS = 4_000;

/**
 * Decisions taken outside WhatsApp (the restaurant's back office) and the booking views.
 * Each decision is a workflow Update: the answer is the status the workflow really reached.
 */
export function adminBookingsRouter({ db, temporal }: AppDeps): Router {
  const router = Router();

  /** The booking, checked to belong to the restaurant in the path. */
  async function restaurantBooking(req: Request) {
    const restaurantId = parseId(req, 'restaurantId', 'restaurant');
    const bookingId = parseId(req, 'bookingId', 'booking');
    const booking = await getBooking(db, bookingId);
    if (!booking || booking.restaurantId !== restaurantId) throw notFound('booking', bookingId);
    return booking;
  }

  /**
   * Runs an Update and answers the status reached. The request may be refused by the
   * workflow's validator (or the workflow is gone), or accepted and then overtaken by a
   * decision queued just before it (a WhatsApp tap): both are 409 not_allowed_in_status.
   */
  async function decide(req: Request, booking: BookingRow, run: (updateId: string) => Promise<UpdateOutcome>) {
    // A client retrying with the same Idempotency-Key gets the first attempt's outcome.
    const updateId = req.get('idempotency-key') ?? randomUUID();
    let outcome: UpdateOutcome;
    try {
      // An Update waits for a worker to run it: with the workers or Temporal away the client
      // hears 503 in seconds, and a retry with the same Idempotency-Key joins the same Update.
      outcome = await temporal.withDeadline(Date.now() + DECISION_DEADLINE_MS, () => run(updateId));
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        throw notAllowedInStatus((await getBooking(db, booking.id))?.status ?? booking.status);
      }
      throw err;
    }
    if (!outcome.applied) throw notAllowedInStatus(outcome.status);
    return { status: outcome.status };
  }

  router.post('/booking/:id/confirm', async (req, res) => {
    const bookingId = parseId(req, 'id', 'booking');
    const booking = await getBooking(db, bookingId);
    if (!booking) throw notFound('booking', bookingId);
    const body = parseBody(req, confirmBody);
    const phone = normalizePhone(body.phone);
    if (!phone) throw validationFailed([{ in: 'body', path: 'phone', message: 'not a valid international phone number' }]);
    const outcome = await decide(req, booking, (updateId) =>
      bookingHandle(temporal, booking.id).executeUpdate(claimUpdate, { args: [{ phone, name: body.name }], updateId }),
    );
    res.json(outcome);
  });

  router.post('/r/:restaurantId/booking/:bookingId/approve', async (req, res) => {
    const booking = await restaurantBooking(req);
    const { managerId } = parseBody(req, approveBody);
    let actor: DeciderActor = { type: 'admin' };
    if (managerId !== undefined) {
      const member = await findMembershipByUserId(db, booking.restaurantId, managerId);
      if (!member) throw validationFailed([{ in: 'body', path: 'managerId', message: 'not a manager or owner of this restaurant' }]);
      actor = { type: member.role, id: member.userId, name: member.name };
    }
    const outcome = await decide(req, booking, (updateId) =>
      bookingHandle(temporal, booking.id).executeUpdate(approveUpdate, { args: [{ actor }], updateId }),
    );
    res.json(outcome);
  });

  // The back office acts as an admin (a manager's console session as that manager): a reject
  // or cancel with an optional reason for the guest; after the start, whether the guest came.
  for (const [action, update, body] of [
    ['reject', rejectUpdate, reasonBody],
    ['cancel', cancelUpdate, reasonBody],
    ['arrived', arrivedUpdate, arrivalBody],
    ['no-show', noShowUpdate, arrivalBody],
  ] as const) {
    router.post(`/r/:restaurantId/booking/:bookingId/${action}`, async (req, res) => {
      const booking = await restaurantBooking(req);
      const input = parseBody(req, body);
      const actor = deciderOf(res, booking.restaurantId);
      const outcome = await decide(req, booking, (updateId) =>
        bookingHandle(temporal, booking.id).executeUpdate(update, { args: [{ actor, ...input }], updateId }),
      );
      res.json(outcome);
    });
  }

  router.get('/r/:restaurantId/bookings', async (req, res) => {
    const restaurantId = parseId(req, 'restaurantId', 'restaurant');
    if (!(await getRestaurant(db, restaurantId))) throw notFound('restaurant', restaurantId);
    const q = parseQuery(req, listQuery);
    const rows = await listBookings(db, {
      restaurantId,
      status: q.status,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      limit: q.limit + 1, // one more than asked tells whether another page exists
      after: q.cursor ? decodeCursor(q.cursor) : undefined,
    });
    const page = rows.slice(0, q.limit);
    res.json({
      items: page.map(({ claimCode: _secret, idempotencyKey: _key, requestHash: _hash, ...b }) => b),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]) : null,
    });
  });

  router.get('/bookings/:id', async (req, res) => {
    const bookingId = parseId(req, 'id', 'booking');
    const record = await getBookingRecord(db, bookingId);
    if (!record) throw notFound('booking', bookingId);
    const { claimCode: _secret, idempotencyKey: _key, requestHash: _hash, ...booking } = record.booking;
    res.json({ ...record, booking });
  });

  return router;
}
