import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
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
  /** The row's created_at: tells this row's workflow from another database's `booking-<id>`. */
  rowCreatedAt: Date;
  /** The request that committed the row starts its workflow (see BookingWorkflowInput). */
  createdByApi?: boolean;
}

/**
 * Memo key holding the row's identity. Booking ids come from a per-database sequence, so
 * `booking-42` may already run for another database (a restored backup, two environments on
 * one namespace); the memo is how a conflicting start tells "mine, started earlier" from that.
 */
const ROW_IDENTITY_MEMO_KEY = 'bookingRowCreatedAt';
const rowIdentity = (rowCreatedAt: Date) => rowCreatedAt.toISOString();

/** Whether a workflow's memo says it was started for the row created at `rowCreatedAt`. */
export const startedForRow = (memo: Record<string, unknown> | undefined, rowCreatedAt: Date) =>
  memo?.[ROW_IDENTITY_MEMO_KEY] === rowIdentity(rowCreatedAt);

/**
 * How long a start (or the describe that follows a conflict) may take. Without it the
 * client retries an unreachable server for over a minute while the caller waits.
 */
export const START_DEADLINE_MS = 2_000;

/** `booking-<id>` is held by a running workflow of another booking row: never bind to it. */
export class WorkflowIdTakenError extends Error {
  constructor(
    readonly bookingId: number,
    readonly runId: string,
  ) {
    super(`workflow ${workflowIdFor(bookingId)} (run ${runId}) belongs to another booking row`);
    this.name = 'WorkflowIdTakenError';
  }
}

/**
 * One formatter per time zone, kept: building an Intl.DateTimeFormat costs far more than
 * formatting with it, and it was the hottest function of POST /api/bookings. Restaurants'
 * time zones are few.
 */
const summaryFormats = new Map<string, Intl.DateTimeFormat>();
function summaryFormat(timeZone: string): Intl.DateTimeFormat {
  let format = summaryFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
    summaryFormats.set(timeZone, format);
  }
  return format;
}

/** "Booking #42 · Table 5 · 12 Jan 19:30 · 4 guests" — how operators spot a booking in the Temporal UI. */
export function bookingSummary(b: Pick<StartBooking, 'bookingId' | 'tableName' | 'startsAt' | 'partySize' | 'restaurantTimezone'>): string {
  const when = summaryFormat(b.restaurantTimezone).format(b.startsAt).replace(',', '');
  return `Booking #${b.bookingId} · ${b.tableName} · ${when} · ${b.partySize} ${b.partySize === 1 ? 'guest' : 'guests'}`;
}

/**
 * Starts the booking's workflow, or finds the one an earlier attempt for this very row
 * started ('running'). Throws WorkflowIdTakenError when the id belongs to a stranger, and
 * the client's errors (gRPC UNAVAILABLE / DEADLINE_EXCEEDED) when Temporal is unreachable.
 */
export async function ensureBookingWorkflow(client: Client, taskQueue: string, b: StartBooking): Promise<'started' | 'running'> {
  const input: BookingWorkflowInput = {
    bookingId: b.bookingId,
    createdByApi: b.createdByApi,
    restaurantId: b.restaurantId,
    startsAt: b.startsAt.toISOString(),
    visitEndsAt: b.endsAt.toISOString(),
    claimExpiresAt: b.claimExpiresAt.toISOString(),
    timing: {
      decisionReminderAfterMs: b.timing.decisionReminderAfterMs,
      escalateAfterMs: b.timing.escalateAfterMs,
      decisionTimeoutMs: b.timing.decisionTimeoutMs,
      expireBeforeStartMs: b.timing.expireBeforeStartMs,
      reminderOffsetsMs: b.timing.reminderOffsetsMs,
      guestCancelCutoffMs: b.timing.guestCancelCutoffMs,
      rejectReasonWaitMs: b.timing.rejectReasonWaitMs,
      arrivalCheckAfterMs: b.timing.arrivalCheckAfterMs,
    },
  };
  const deadline = Date.now() + START_DEADLINE_MS;
  try {
    await client.withDeadline(deadline, () =>
      client.workflow.start<typeof bookingWorkflow>(WORKFLOW_TYPE, {
        taskQueue,
        workflowId: workflowIdFor(b.bookingId),
        args: [input],
        // Not USE_EXISTING: that would silently attach this row to whatever runs under the id.
        workflowIdConflictPolicy: 'FAIL',
        memo: { [ROW_IDENTITY_MEMO_KEY]: rowIdentity(b.rowCreatedAt) },
        typedSearchAttributes: new TypedSearchAttributes([
          { key: BookingStatusKey, value: 'DRAFT' },
          { key: RestaurantIdKey, value: String(b.restaurantId) },
          { key: BookingStartsAtKey, value: b.startsAt },
        ]),
        staticSummary: bookingSummary(b),
      }),
    );
    return 'started';
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const running = await client.withDeadline(deadline, () => bookingHandle(client, b.bookingId).describe());
  if (startedForRow(running.memo, b.rowCreatedAt)) return 'running';
  throw new WorkflowIdTakenError(b.bookingId, running.runId);
}

export function bookingHandle(client: Client, bookingId: number): WorkflowHandle<typeof bookingWorkflow> {
  return client.workflow.getHandle<typeof bookingWorkflow>(workflowIdFor(bookingId));
}
