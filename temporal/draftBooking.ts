import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { claimCode, newClaimSecret } from '../domain/claim';
import { claimDeadline, type BookingTiming } from '../domain/timing';
import { insertDraftBooking, type BookingRow } from '../db/bookings';
import type { Db } from '../db/knex';
import { workflowIdFor } from '../workflows/definitions';
import { startBookingWorkflow } from './bookingClient';

export interface DraftBooking {
  restaurant: { id: number; timezone: string };
  table: { id: number; name: string };
  startsAt: Date;
  partySize: number;
  guestName?: string;
  specialRequests?: string;
  language?: string;
  items: { menuItemId: number; quantity: number; notes?: string }[];
  timing: BookingTiming;
  /** The clock the claim deadline counts from (a time-skipping test server runs ahead of the wall clock). */
  now: Date;
  idempotencyKey?: string;
  requestHash?: string;
}

/**
 * The DRAFT row and its workflow, together or not at all: the workflow is started inside the
 * transaction that inserts the row. A failed start rolls the row back; a commit that fails
 * after the start leaves a workflow whose first step never finds its row, so it ends without
 * side effects (README: "A DRAFT row never lives without its workflow").
 */
export function createDraftBooking(db: Db, temporal: Client, taskQueue: string, d: DraftBooking): Promise<BookingRow> {
  const endsAt = new Date(d.startsAt.getTime() + d.timing.slotMs);
  const claimExpiresAt = claimDeadline(d.now, d.startsAt, d.timing);
  return db.transaction(async (trx) => {
    const row = await insertDraftBooking(trx, {
      restaurantId: d.restaurant.id,
      tableId: d.table.id,
      startsAt: d.startsAt,
      endsAt,
      partySize: d.partySize,
      guestName: d.guestName,
      specialRequests: d.specialRequests,
      language: d.language,
      claimSecret: (id) => claimCode(id, newClaimSecret(randomBytes)),
      claimExpiresAt,
      workflowIdFor,
      idempotencyKey: d.idempotencyKey,
      requestHash: d.requestHash,
      items: d.items,
    });
    await startBookingWorkflow(temporal, taskQueue, {
      bookingId: row.id,
      restaurantId: d.restaurant.id,
      restaurantTimezone: d.restaurant.timezone,
      tableName: d.table.name,
      partySize: d.partySize,
      startsAt: d.startsAt,
      endsAt,
      claimExpiresAt,
      timing: d.timing,
    });
    return row;
  });
}
