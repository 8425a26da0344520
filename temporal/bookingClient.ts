import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { BookingTiming } from '../domain/timing';
import { WORKFLOW_TYPE, workflowIdFor, type BookingWorkflowInput } from '../workflows/definitions';
import type { bookingWorkflow } from '../workflows';
import { BookingStartsAtKey, BookingStatusKey, RestaurantIdKey } from './searchAttributes';

export interface StartBooking {
  bookingId: number;
  restaurantId: number;
  restaurantTimezone: string;
  tableName: string;
  partySize: number;
  startsAt: Date;
  endsAt: Date;
  claimExpiresAt: Date;
  timing: BookingTiming;
}

/** "Booking #42 · Table 5 · 12 Jan 19:30 · 4 guests" — how operators spot a booking in the Temporal UI. */
export function bookingSummary(b: Pick<StartBooking, 'bookingId' | 'tableName' | 'startsAt' | 'partySize' | 'restaurantTimezone'>): string {
  const when = new Intl.DateTimeFormat('en-GB', {
    timeZone: b.restaurantTimezone,
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  })
    .format(b.startsAt)
    .replace(',', '');
  return `Booking #${b.bookingId} · ${b.tableName} · ${when} · ${b.partySize} ${b.partySize === 1 ? 'guest' : 'guests'}`;
}

export async function startBookingWorkflow(client: Client, taskQueue: string, b: StartBooking): Promise<void> {
  const input: BookingWorkflowInput = {
    bookingId: b.bookingId,
    restaurantId: b.restaurantId,
    startsAt: b.startsAt.toISOString(),
    visitEndsAt: b.endsAt.toISOString(),
    claimExpiresAt: b.claimExpiresAt.toISOString(),
    timing: {
      decisionReminderAfterMs: b.timing.decisionReminderAfterMs,
      escalateAfterMs: b.timing.escalateAfterMs,
      decisionTimeoutMs: b.timing.decisionTimeoutMs,
      expireBeforeStartMs: b.timing.expireBeforeStartMs,
    },
  };
  await client.workflow.start<typeof bookingWorkflow>(WORKFLOW_TYPE, {
    taskQueue,
    workflowId: workflowIdFor(b.bookingId),
    args: [input],
    // A retried API call after a lost answer finds the workflow it already started.
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: BookingStatusKey, value: 'DRAFT' },
      { key: RestaurantIdKey, value: String(b.restaurantId) },
      { key: BookingStartsAtKey, value: b.startsAt },
    ]),
    staticSummary: bookingSummary(b),
  });
}

export function bookingHandle(client: Client, bookingId: number): WorkflowHandle<typeof bookingWorkflow> {
  return client.workflow.getHandle<typeof bookingWorkflow>(workflowIdFor(bookingId));
}
