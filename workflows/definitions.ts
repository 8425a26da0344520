import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ActorType, BookingStatus } from '../domain/booking';

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
/** A message we sent was refused later (failed status webhook), e.g. 131047 outside the 24-hour window. */
export interface DeliveryFailedInput {
  providerMessageId: string;
  idempotencyKey: string;
  errorCode: number;
}

export const claimSignal = defineSignal<[ClaimInput]>('claim');
export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[RejectInput]>('reject');
export const cancelSignal = defineSignal<[CancelInput]>('cancel');
export const deliveryFailedSignal = defineSignal<[DeliveryFailedInput]>('deliveryFailed');

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

export interface BookingState {
  bookingId: number;
  status: BookingStatus;
  guest?: { phone: string; name?: string; clientId: number };
  decision?: { status: BookingStatus; actor: { type: ActorType; id?: number; name?: string }; reason?: string; at: string };
  deadlines: {
    claimBy?: string;
    remindAt?: string;
    escalateAt?: string;
    expireAt?: string;
    visitEndsAt: string;
  };
}
export const statusQuery = defineQuery<BookingState>('status');

/** What the API hands the workflow when it creates the DRAFT; settings already resolved. */
export interface BookingWorkflowInput {
  bookingId: number;
  restaurantId: number;
  startsAt: string;
  visitEndsAt: string;
  claimExpiresAt: string;
  timing: {
    decisionReminderAfterMs: number;
    escalateAfterMs: number;
    decisionTimeoutMs: number;
    expireBeforeStartMs: number;
  };
}
