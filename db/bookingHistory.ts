import type { Actor, BookingStatus } from '../domain/booking';
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
  try {
    return await db.transaction(async (trx) => {
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
        .onConflict(['booking_id', 'to_status'])
        .ignore();
      await notifyStatusChange(trx, { bookingId: t.bookingId, from: t.from, to: t.to });
      return { applied: true, status: t.to };
    });
  } catch (err) {
    // The exclusion constraint: another booking took this table's slot first.
    if ((err as { code?: string }).code === '23P01') {
      return { applied: false, status: t.from, reason: 'slot_taken' };
    }
    throw err;
  }
}
