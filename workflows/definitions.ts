import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RejectReasonCode } from '../domain/actions';
import type { ActorType, BookingStatus } from '../domain/booking';
import type { VisitTiming } from '../domain/timing';

/**
 * The booking workflow's public surface: signal, query and update names are a contract
 * with the API, the webhook and operators' tooling. Defined once, imported everywhere.
 */
export const WORKFLOW_TYPE = 'bookingWorkflow';
export const workflowIdFor = (bookingId: number): string => `booking-${bookingId}`;

export interface DeciderActor {
  type: Extract<ActorType, 'manager' | 'owner' | 'admin'>;
  /** users.id of a manager/owner. */
  id?: number;
  /** The WhatsApp sender; the workflow checks it belongs to the restaurant. */
  phone?: string;
  name?: string;
}

export interface CancelActor {
  type: Extract<ActorType, 'guest' | 'manager' | 'owner' | 'admin'>;
  id?: number;
  phone?: string;
  name?: string;
}

export interface ClaimInput {
  phone: string; // E.164
  name?: string;
  messageId?: string;
}
export interface ApproveInput {
  actor: DeciderActor;
  messageId?: string;
}
export interface RejectInput {
  actor: DeciderActor;
  reason?: string;
  messageId?: string;
}
export interface CancelInput {
  actor: CancelActor;
  reason?: string;
  messageId?: string;
}
/** The guest tapped Confirm on a reminder; only the booking's own guest counts. */
export interface ConfirmVisitInput {
  phone: string; // E.164
  messageId?: string;
}
/** The deciding manager's reason for a Reject: a code from the list, or typed text (code 'other'). */
export interface RejectReasonInput {
  actor: DeciderActor;
  code?: RejectReasonCode;
  text?: string;
  messageId?: string;
}
/** A manager's answer to "Has the guest arrived?" (or the admin routes). */
export interface ArrivalInput {
  actor: DeciderActor;
  messageId?: string;
}
/** A message we sent was refused later (failed status webhook), e.g. 131047 outside the 24-hour window. */
export interface DeliveryFailedInput {
  providerMessageId: string;
  idempotencyKey: string;
  errorCode: number;
  /** The refused message's purpose; absent from signals sent before guest reminders had a template. */
  purpose?: string;
}

export const claimSignal = defineSignal<[ClaimInput]>('claim');
export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[RejectInput]>('reject');
export const cancelSignal = defineSignal<[CancelInput]>('cancel');
export const deliveryFailedSignal = defineSignal<[DeliveryFailedInput]>('deliveryFailed');
export const confirmVisitSignal = defineSignal<[ConfirmVisitInput]>('confirmVisit');
export const rejectReasonSignal = defineSignal<[RejectReasonInput]>('rejectReason');
export const arrivedSignal = defineSignal<[ArrivalInput]>('arrived');
export const noShowSignal = defineSignal<[ArrivalInput]>('noShow');
/** The sandbox: send the guest's reminder now instead of at its time. */
export const fireReminderSignal = defineSignal<[]>('fireReminder');

/**
 * Updates for callers that need the real outcome (admin routes): refused by a validator when
 * the status forbids the request, or accepted and then overtaken by a message queued earlier
 * (a WhatsApp approve just before an admin reject): `applied` tells the two outcomes apart.
 */
export interface UpdateOutcome {
  /** The status after the request was handled. */
  status: BookingStatus;
  /** Whether the requested transition (or claim) is the one that took effect. */
  applied: boolean;
}
export const claimUpdate = defineUpdate<UpdateOutcome, [ClaimInput]>('claimBooking');
export const approveUpdate = defineUpdate<UpdateOutcome, [ApproveInput]>('approveBooking');
export const rejectUpdate = defineUpdate<UpdateOutcome, [RejectInput]>('rejectBooking');
export const cancelUpdate = defineUpdate<UpdateOutcome, [CancelInput]>('cancelBooking');
export const arrivedUpdate = defineUpdate<UpdateOutcome, [ArrivalInput]>('markArrived');
export const noShowUpdate = defineUpdate<UpdateOutcome, [ArrivalInput]>('markNoShow');

export interface BookingState {
  bookingId: number;
  status: BookingStatus;
  guest?: { phone: string; name?: string; clientId: number };
  decision?: { status: BookingStatus; actor: { type: ActorType; id?: number; name?: string }; reason?: string; at: string };
  /** When the guest tapped Confirm on a reminder. */
  guestConfirmedAt?: string;
  /** Who answered the arrival check (Arrived or No-show). */
  arrival?: { status: BookingStatus; actor: { type: ActorType; id?: number; name?: string }; at: string };
  deadlines: {
    claimBy?: string;
    remindAt?: string;
    escalateAt?: string;
    expireAt?: string;
    /** Guest reminders: the ones still ahead when the visit phase began. */
    reminders?: string[];
    arrivalCheckAt?: string;
    visitEndsAt: string;
  };
}
export const statusQuery = defineQuery<BookingState>('status');

/**
 * What the API hands the workflow when it creates the DRAFT; settings already resolved.
 * The visit settings are absent from inputs written before they existed (VISIT_TIMING_DEFAULTS).
 */
export interface BookingWorkflowInput {
  bookingId: number;
  /** Started by the request that committed the DRAFT row just before: the workflow need not read it. */
  createdByApi?: boolean;
  restaurantId: number;
  startsAt: string;
  visitEndsAt: string;
  claimExpiresAt: string;
  timing: {
    decisionReminderAfterMs: number;
    escalateAfterMs: number;
    decisionTimeoutMs: number;
    expireBeforeStartMs: number;
  } & Partial<VisitTiming>;
}
