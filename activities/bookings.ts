import { ApplicationFailure } from '@temporalio/common';
import { getBooking } from '../db/bookings';
import { transitionBooking, type Transition, type TransitionResult } from '../db/bookingHistory';
import { upsertClient } from '../db/clients';
import type { ActivityDeps } from './deps';

/** Thin adapters over db/bookings for the workflow. */
export function bookingActivities({ db }: ActivityDeps) {
  return {
    /**
     * The API inserts the row and starts the workflow in one transaction; the workflow can
     * start running just before that commit is visible. Retried until the row shows up, and
     * a workflow whose row never appears (the commit failed) ends without side effects.
     */
    async awaitBookingRow(bookingId: number): Promise<void> {
      if (!(await getBooking(db, bookingId))) {
        throw ApplicationFailure.retryable(`booking ${bookingId} is not committed yet`, 'BookingRowMissing');
      }
    },

    async upsertGuest(guest: { phone: string; name?: string }): Promise<{ clientId: number }> {
      const client = await upsertClient(db, guest);
      return { clientId: client.id };
    },

    async transition(t: Transition): Promise<TransitionResult> {
      return transitionBooking(db, t);
    },
  };
}
