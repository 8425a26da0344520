import type { Knex } from 'knex';
import type { Actor, BookingEvent, BookingStatus } from '../domain/booking';
import { recordTransition } from '../observability/metrics';
import { notifyStatusChange } from './bookingEvents';
import type { Db } from './knex';

/**
 * A booking's status changes and the history they leave: every change writes the row and
 * its `booking_history` row together (the first row, DRAFT, is written by insertDraftBooking).
 */

export type TransitionResult =
  | { applied: true; status: BookingStatus }
  /** The booking is not in `from` (and not already in `to`): nothing changed. */
  | { applied: false; status: BookingStatus; reason: 'wrong_status' | 'slot_taken' };

/**
 * Moves a booking from one status to another, writing the booking row and its history row
 * in one transaction. Safe to repeat: a retry after a lost reply finds the booking already
 * in `to` and reports it applied without a second history row.
 */
export interface Transition {
  bookingId: number;
  from: BookingStatus;
  to: BookingStatus;
  actor: Actor;
  reason?: string;
  /** The guest, set when the claim makes them known. */
  clientId?: number;
  /** Record the actor and reason as the booking's decision. */
  decision?: boolean;
}

export async function transitionBooking(db: Db, t: Transition): Promise<TransitionResult> {
  // Counted once committed, so a rolled-back or repeated transition is never counted.
  let moved: { waitedSeconds?: number } | undefined;
  try {
    const result = await db.transaction(async (trx): Promise<TransitionResult> => {
      const current = await trx('bookings').where('id', t.bookingId).forUpdate().first('status');
      if (!current) throw new Error(`booking ${t.bookingId} does not exist`);
      if (current.status === t.to) return { applied: true, status: t.to };
      if (current.status !== t.from) return { applied: false, status: current.status, reason: 'wrong_status' };
      await trx('bookings')
        .where('id', t.bookingId)
        .update({
          status: t.to,
          updated_at: trx.fn.now(),
          ...(t.clientId !== undefined && { client_id: t.clientId }),
          ...(t.decision && {
            decided_by_type: t.actor.type,
            decided_by_user_id: t.actor.type === 'manager' || t.actor.type === 'owner' ? (t.actor.id ?? null) : null,
            decided_at: trx.fn.now(),
            decision_reason: t.reason ?? null,
          }),
        });
      await trx('booking_history')
        .insert({
          booking_id: t.bookingId,
          from_status: t.from,
          to_status: t.to,
          actor_type: t.actor.type,
          actor_id: t.actor.id ?? null,
          reason: t.reason ?? null,
        })
        .onConflict(trx.raw('(booking_id, to_status) where event is null'))
        .ignore();
      await notifyStatusChange(trx, { bookingId: t.bookingId, from: t.from, to: t.to });
      moved = t.from === 'PENDING' ? { waitedSeconds: await secondsSinceClaim(trx, t.bookingId) } : {};
      return { applied: true, status: t.to };
    });
    if (moved) recordTransition(t.from, t.to, moved.waitedSeconds);
    return result;
  } catch (err) {
    // The exclusion constraint: another booking took this table's slot first.
    if ((err as { code?: string }).code === '23P01') {
      return { applied: false, status: t.from, reason: 'slot_taken' };
    }
    throw err;
  }
}

/** How long the booking has waited for a decision: since its PENDING history row. */
async function secondsSinceClaim(trx: Knex.Transaction, bookingId: number): Promise<number | undefined> {
  const row = await trx('booking_history')
    .where({ booking_id: bookingId, to_status: 'PENDING' })
    .whereNull('event')
    .first(trx.raw('extract(epoch from now() - created_at)::float8 as seconds'));
  return row?.seconds;
}

/**
 * Something that happened to a booking without changing its status (the guest confirmed the
 * visit), once: a repeat changes nothing and returns the time first recorded.
 */
export async function recordGuestConfirmed(db: Db, c: { bookingId: number; clientId?: number }): Promise<{ confirmedAt: Date }> {
  return db.transaction(async (trx) => {
    const [updated] = await trx('bookings')
      .where('id', c.bookingId)
      .whereNull('guest_confirmed_at')
      .update({ guest_confirmed_at: trx.fn.now(), updated_at: trx.fn.now() })
      .returning(['status', 'guest_confirmed_at as confirmedAt']);
    if (!updated) {
      const row = await trx('bookings').where('id', c.bookingId).first('guest_confirmed_at as confirmedAt');
      if (!row?.confirmedAt) throw new Error(`booking ${c.bookingId} does not exist`);
      return { confirmedAt: row.confirmedAt };
    }
    const event: BookingEvent = 'guest_confirmed';
    await trx('booking_history')
      .insert({
        booking_id: c.bookingId,
        from_status: updated.status,
        to_status: updated.status,
        event,
        actor_type: 'guest',
        actor_id: c.clientId ?? null,
      })
      .onConflict(trx.raw('(booking_id, event) where event is not null'))
      .ignore();
    return { confirmedAt: updated.confirmedAt };
  });
}

/** The deciding manager's reason, given after the rejection itself: on the booking and on its REJECTED history row. */
export async function recordRejectReason(db: Db, r: { bookingId: number; reason: string }): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('bookings').where({ id: r.bookingId, status: 'REJECTED' }).update({ decision_reason: r.reason, updated_at: trx.fn.now() });
    await trx('booking_history').where({ booking_id: r.bookingId, to_status: 'REJECTED' }).whereNull('event').update({ reason: r.reason });
  });
}
