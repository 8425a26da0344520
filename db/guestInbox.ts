import { BOOKING_STATUSES, canTransition } from '../domain/booking';
import type { Db } from './knex';

/**
 * What the inbox needs to know about a sender beyond one booking: their upcoming bookings,
 * whether they were sent the help lately, and whether a manager's next text is a rejection
 * reason they were asked to type. All of it is read from bookings and whatsapp_messages, so
 * several API processes agree without any state of their own.
 */

/** A booking is upcoming while it may still be cancelled: PENDING or APPROVED. */
const UPCOMING = BOOKING_STATUSES.filter((s) => canTransition(s, 'CANCELLED'));

/**
 * Ids of the sender's upcoming bookings (PENDING or APPROVED, not started yet), soonest first.
 * `limit` bounds what a reply can show.
 */
export async function upcomingBookingIds(db: Db, phone: string, limit: number): Promise<number[]> {
  return db('bookings as b')
    .join('clients as c', 'c.id', 'b.client_id')
    .where('c.phone', phone)
    .whereIn('b.status', UPCOMING)
    .where('b.starts_at', '>', db.fn.now())
    .orderBy([{ column: 'b.starts_at' }, { column: 'b.id' }])
    .limit(limit)
    .pluck('b.id');
}

/**
 * Whether `purpose` went to `phone` within the last `withinMs` (a failed send does not count).
 * `exceptKey` leaves out the reply being decided on, whose row a retried attempt may have written.
 */
export async function sentRecently(db: Db, m: { phone: string; purpose: string; withinMs: number; exceptKey: string }): Promise<boolean> {
  const row = await db('whatsapp_messages')
    .where({ direction: 'out', phone: m.phone, purpose: m.purpose })
    .whereNot('status', 'failed')
    .whereNot('idempotency_key', m.exceptKey)
    .where('created_at', '>', db.raw('now() - make_interval(secs => ?)', [m.withinMs / 1000]))
    .first('id');
  return Boolean(row);
}

/**
 * The booking whose rejection reason `phone` (a manager) was asked to type within the last
 * `withinMs`, when no text of theirs was acted on since that prompt: the next plain text is
 * the reason, and only that one. `currentRowId` is the inbound row being acted on.
 */
export async function awaitedRejectReason(
  db: Db,
  m: { phone: string; withinMs: number; currentRowId: number; promptPurpose: string },
): Promise<number | undefined> {
  const prompt = await db('whatsapp_messages as p')
    .where({ 'p.direction': 'out', 'p.phone': m.phone, 'p.purpose': m.promptPurpose })
    .whereNotNull('p.booking_id')
    .where('p.created_at', '>', db.raw('now() - make_interval(secs => ?)', [m.withinMs / 1000]))
    .whereNotExists(
      db('whatsapp_messages as t')
        .where({ 't.direction': 'in', 't.phone': m.phone, 't.purpose': 'text' })
        .whereNot('t.id', m.currentRowId)
        .whereRaw('t.processed_at > p.created_at'),
    )
    .orderBy('p.id', 'desc')
    .first('p.booking_id as bookingId');
  return prompt?.bookingId;
}

export interface NumberedRequest {
  bookingId: number;
  purpose: string;
  /** The message as rendered (its choices, whatsapp/waha/numbered.ts). */
  payload: unknown;
  status: string;
}

/**
 * The latest message with numbered choices that each of the sender's bookings got through
 * `accountId` within `withinMs` (one per booking: a reminder after the request replaces it),
 * with the booking's status, for reading a bare number that quotes nothing.
 */
export async function latestNumberedRequests(
  db: Db,
  m: { phone: string; accountId: number; purposes: readonly string[]; withinMs: number },
): Promise<NumberedRequest[]> {
  return db('whatsapp_messages as m')
    .join('bookings as b', 'b.id', 'm.booking_id')
    .distinctOn('m.booking_id')
    .where({ 'm.direction': 'out', 'm.phone': m.phone, 'm.account_id': m.accountId })
    .whereIn('m.purpose', m.purposes)
    .whereNotNull('m.provider_message_id')
    .where('m.created_at', '>', db.raw('now() - make_interval(secs => ?)', [m.withinMs / 1000]))
    .orderBy([{ column: 'm.booking_id' }, { column: 'm.id', order: 'desc' }])
    .select('m.booking_id as bookingId', 'm.purpose', 'm.payload', 'b.status');
}
