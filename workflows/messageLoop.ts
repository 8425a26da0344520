import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import { canTransition } from '../domain/booking';
import {
  approveSignal,
  approveUpdate,
  arrivedSignal,
  arrivedUpdate,
  cancelSignal,
  cancelUpdate,
  claimSignal,
  claimUpdate,
  confirmVisitSignal,
  deliveryFailedSignal,
  fireReminderSignal,
  noShowSignal,
  noShowUpdate,
  rejectReasonSignal,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  type ApproveInput,
  type ArrivalInput,
  type BookingState,
  type CancelInput,
  type ClaimInput,
  type ConfirmVisitInput,
  type DeliveryFailedInput,
  type RejectInput,
  type RejectReasonInput,
  type UpdateOutcome,
} from './definitions';

export type Message =
  | { kind: 'claim'; input: ClaimInput }
  | { kind: 'approve'; input: ApproveInput }
  | { kind: 'reject'; input: RejectInput }
  | { kind: 'cancel'; input: CancelInput }
  | { kind: 'deliveryFailed'; input: DeliveryFailedInput }
  | { kind: 'confirmVisit'; input: ConfirmVisitInput }
  | { kind: 'rejectReason'; input: RejectReasonInput }
  | { kind: 'arrived'; input: ArrivalInput }
  | { kind: 'noShow'; input: ArrivalInput }
  | { kind: 'fireReminder'; input: Record<string, never> };

/** Update messages: the ones an admin route may send and wait for. */
type Settled = Extract<Message, { kind: 'claim' | 'approve' | 'reject' | 'cancel' | 'arrived' | 'noShow' }>;

/** Acts on one message; true when the requested transition (or claim) is the one that took effect. */
export type MessageHandler = (message: Message) => Promise<boolean>;

export interface MessageLoop {
  /** Handles messages in arrival order until `done()` holds or the deadline (epoch ms) passes. */
  serveUntil(deadline: number, done: () => boolean): Promise<void>;
  /** The visit is over: updates still waiting, or arriving now, are refused instead of left hanging. */
  close(): void;
}

type Queued = { message: Message; settle?: (applied: boolean) => void };

/**
 * Signals (the webhook) and Updates (admin routes) carry the same requests into one queue,
 * handled one at a time in arrival order, so the first decision wins whichever way it came.
 */
export function startMessageLoop(state: BookingState, handle: MessageHandler, rules: { mayMarkNoShow: () => boolean }): MessageLoop {
  const inbox: Queued[] = [];
  // Meta redelivers and people tap twice: a message id is acted on once.
  const seenMessageIds = new Set<string>();
  let closed = false;

  setHandler(statusQuery, () => state);
  const enqueue = (message: Message) => void inbox.push({ message });
  setHandler(claimSignal, (input) => enqueue({ kind: 'claim', input }));
  setHandler(approveSignal, (input) => enqueue({ kind: 'approve', input }));
  setHandler(rejectSignal, (input) => enqueue({ kind: 'reject', input }));
  setHandler(cancelSignal, (input) => enqueue({ kind: 'cancel', input }));
  setHandler(deliveryFailedSignal, (input) => enqueue({ kind: 'deliveryFailed', input }));
  setHandler(confirmVisitSignal, (input) => enqueue({ kind: 'confirmVisit', input }));
  setHandler(rejectReasonSignal, (input) => enqueue({ kind: 'rejectReason', input }));
  setHandler(arrivedSignal, (input) => enqueue({ kind: 'arrived', input }));
  setHandler(noShowSignal, (input) => enqueue({ kind: 'noShow', input }));
  setHandler(fireReminderSignal, () => enqueue({ kind: 'fireReminder', input: {} }));

  // A validator refuses what the status forbids now; a request accepted here can still be
  // overtaken by one queued before it, which the outcome's `applied` reports.
  const settle = async (message: Settled): Promise<UpdateOutcome> => {
    let applied: boolean | undefined;
    inbox.push({ message, settle: (a) => (applied = a) });
    await condition(() => applied !== undefined || closed);
    return { status: state.status, applied: applied ?? false };
  };
  const refuseUnless = (allowed: boolean, what: string) => {
    if (!allowed || closed) throw ApplicationFailure.nonRetryable(`cannot ${what} a ${state.status} booking`, 'NotAllowedInStatus');
  };
  setHandler(claimUpdate, (input) => settle({ kind: 'claim', input }), {
    validator: (m) => refuseUnless(state.status === 'DRAFT' || state.guest?.phone === m.phone, 'claim'),
  });
  setHandler(approveUpdate, (input) => settle({ kind: 'approve', input }), {
    validator: (_m: ApproveInput) => refuseUnless(state.status === 'PENDING', 'approve'),
  });
  setHandler(rejectUpdate, (input) => settle({ kind: 'reject', input }), {
    validator: (_m: RejectInput) => refuseUnless(state.status === 'PENDING', 'reject'),
  });
  setHandler(cancelUpdate, (input) => settle({ kind: 'cancel', input }), {
    validator: (_m: CancelInput) => refuseUnless(canTransition(state.status, 'CANCELLED'), 'cancel'),
  });
  setHandler(arrivedUpdate, (input) => settle({ kind: 'arrived', input }), {
    validator: (_m: ArrivalInput) => refuseUnless(state.status === 'APPROVED', 'mark as arrived'),
  });
  setHandler(noShowUpdate, (input) => settle({ kind: 'noShow', input }), {
    validator: (_m: ArrivalInput) => refuseUnless(state.status === 'APPROVED' && rules.mayMarkNoShow(), 'mark as no-show'),
  });

  async function take({ message, settle }: Queued): Promise<void> {
    const id = 'messageId' in message.input ? (message.input.messageId as string | undefined) : undefined;
    if (id && seenMessageIds.has(id)) return settle?.(false);
    if (id) seenMessageIds.add(id);
    const applied = await handle(message);
    settle?.(applied);
  }

  return {
    async serveUntil(deadline, done) {
      while (!done()) {
        while (inbox.length > 0) {
          await take(inbox.shift()!);
          if (done()) return;
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) return;
        await condition(() => inbox.length > 0 || done(), remaining);
      }
    },
    close() {
      closed = true;
    },
  };
}
