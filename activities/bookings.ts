import { ApplicationFailure } from '@temporalio/common';
import type { ActorType, BookingStatus } from '../domain/booking';
import { getBooking } from '../db/bookings';
import { recordGuestConfirmed, recordRejectReason, transitionBooking, type Transition, type TransitionResult } from '../db/bookingHistory';
import { getGuestContact, upsertClient } from '../db/clients';
import type { ActivityDeps } from './deps';

/** What the workflow resumes from: the row's status, and the guest and decision it records. */
export interface LoadedBooking {
  status: BookingStatus;
  guest?: { phone: string; name?: string; clientId: number };
  decision?: { status: BookingStatus; actor: { type: ActorType; id?: number }; reason?: string; at: string };
  guestConfirmedAt?: string;
}

/** Thin adapters over db/bookings for the workflow. */
export function bookingActivities({ db }: ActivityDeps) {
  return {
    /**
     * The workflow's first step. The API commits the row before it starts the workflow, and
     * a reconciler starts missing workflows for rows in any status, so the row says where the
     * booking stands; undefined when there is no row (the workflow then ends at once).
     */
    async loadBooking(bookingId: number): Promise<LoadedBooking | undefined> {
      const row = await getBooking(db, bookingId);
      if (!row) return undefined;
      const guest = row.clientId === null ? undefined : await getGuestContact(db, bookingId);
      return {
        status: row.status,
        guest: guest && { phone: guest.phone, name: guest.name ?? undefined, clientId: guest.clientId },
        decision:
          row.decidedByType && row.decidedAt
            ? {
                status: row.status,
                actor: { type: row.decidedByType as ActorType, id: row.decidedByUserId ?? undefined },
                reason: row.decisionReason ?? undefined,
                at: row.decidedAt.toISOString(),
              }
            : undefined,
        guestConfirmedAt: row.guestConfirmedAt?.toISOString(),
      };
    },

    /**
     * The guest's claim in one transaction: the guest is created or updated by phone and the
     * booking moves DRAFT → PENDING with its history row, so a retry repeats nothing and a
     * lost table (another claim took the slot) leaves only the guest record behind.
     */
    async claimForGuest(c: { bookingId: number; phone: string; name?: string }): Promise<TransitionResult & { clientId: number }> {
      return db.transaction(async (trx) => {
        const client = await upsertClient(trx, { phone: c.phone, name: c.name });
        const moved = await transitionBooking(trx, {
          bookingId: c.bookingId,
          from: 'DRAFT',
          to: 'PENDING',
          actor: { type: 'guest', id: client.id },
          clientId: client.id,
        });
        return { ...moved, clientId: client.id };
      });
    },

    async transition(t: Transition): Promise<TransitionResult> {
      return transitionBooking(db, t);
    },

    /** guest_confirmed_at and its history row, once; the ISO time first recorded. */
    async recordGuestConfirmed(c: { bookingId: number; clientId?: number }): Promise<string> {
      return (await recordGuestConfirmed(db, c)).confirmedAt.toISOString();
    },

    async recordRejectReason(r: { bookingId: number; reason: string }): Promise<void> {
      await recordRejectReason(db, r);
    },

    // The two steps below are only scheduled by workflows that began before LOCAL_STEPS_PATCH
    // (workflows/booking.ts); they stay registered until no such workflow runs.

    async awaitBookingRow(bookingId: number): Promise<void> {
      if (!(await getBooking(db, bookingId))) {
        throw ApplicationFailure.retryable(`booking ${bookingId} is not committed yet`, 'BookingRowMissing');
      }
    },

    async upsertGuest(guest: { phone: string; name?: string }): Promise<{ clientId: number }> {
      const client = await upsertClient(db, guest);
      return { clientId: client.id };
    },
  };
}
