import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { claimCode, newClaimSecret } from '../domain/claim';
import { claimDeadline, resolveTiming, type BookingTiming } from '../domain/timing';
import { insertDraftBooking, type BookingRow } from '../db/bookings';
import type { Db } from '../db/knex';
import { getRestaurant, getTable } from '../db/restaurants';
import { workflowIdFor } from '../workflows/definitions';
import { ensureBookingWorkflow, type StartBooking } from './bookingClient';

export interface DraftBooking {
  /** The id findBookingTarget reserved; without it the insert takes the next one. */
  id?: number;
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
  /** Refuse with SlotTakenError when a table-holding booking overlaps (checked in the insert itself). */
  requireFreeSlot?: boolean;
}

/**
 * Commits the DRAFT row with its items and first history row (one statement, so no explicit
 * transaction), then starts its workflow: nothing stays open across the call to Temporal.
 * A failed start leaves a DRAFT row without a workflow and rethrows; ensureWorkflowOf (an
 * Idempotency-Key retry, the reconciler) starts it later, and the workflow resumes from
 * whatever status the row has.
 */
export async function createDraftBooking(db: Db, temporal: Client, taskQueue: string, d: DraftBooking): Promise<BookingRow> {
  const row = await insertDraftBooking(db, {
    id: d.id,
    restaurantId: d.restaurant.id,
    tableId: d.table.id,
    startsAt: d.startsAt,
    endsAt: new Date(d.startsAt.getTime() + d.timing.slotMs),
    partySize: d.partySize,
    guestName: d.guestName,
    specialRequests: d.specialRequests,
    language: d.language,
    claimSecret: (id) => claimCode(id, newClaimSecret(randomBytes)),
    claimExpiresAt: claimDeadline(d.now, d.startsAt, d.timing),
    workflowIdFor,
    idempotencyKey: d.idempotencyKey,
    requestHash: d.requestHash,
    items: d.items,
    requireFreeSlot: d.requireFreeSlot,
  });
  await ensureBookingWorkflow(temporal, taskQueue, { ...workflowStart(row, d.restaurant, d.table, d.timing), createdByApi: true });
  return row;
}

/** Starts the workflow of a committed row that may have none; 'running' when it already has its own. */
export async function ensureWorkflowOf(
  deps: { db: Db; temporal: Client; config: Config },
  row: BookingRow,
): Promise<'started' | 'running'> {
  const [restaurant, table] = await Promise.all([getRestaurant(deps.db, row.restaurantId), getTable(deps.db, row.tableId)]);
  // Both are referenced by foreign keys from the row, which exists.
  const timing = resolveTiming(restaurant!, deps.config);
  return ensureBookingWorkflow(deps.temporal, deps.config.TEMPORAL_TASK_QUEUE, workflowStart(row, restaurant!, table!, timing));
}

/** The one mapping from a row to the workflow's start: the API and the reconciler agree by construction. */
function workflowStart(
  row: BookingRow,
  restaurant: { id: number; timezone: string },
  table: { name: string },
  timing: BookingTiming,
): StartBooking {
  return {
    bookingId: row.id,
    restaurantId: restaurant.id,
    restaurantTimezone: restaurant.timezone,
    tableName: table.name,
    partySize: row.partySize,
    startsAt: row.startsAt,
    endsAt: row.endsAt,
    claimExpiresAt: row.claimExpiresAt,
    timing,
    rowCreatedAt: row.createdAt,
  };
}
