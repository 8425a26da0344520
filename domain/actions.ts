/**
 * Button ids (interactive reply ids, list row ids and template quick-reply payloads)
 * that a tap sends back to the webhook. They are a contract with messages already
 * sitting in chats: never rename one.
 */
export const BOOKING_ACTIONS = {
  approve: 'APPROVE_BOOKING',
  reject: 'REJECT_BOOKING',
  contact: 'CONTACT_CLIENT',
  confirmVisit: 'CONFIRM_VISIT',
  cancelBooking: 'CANCEL_BOOKING',
  cancelYes: 'CANCEL_YES',
  cancelNo: 'CANCEL_NO',
  arrived: 'ARRIVED',
  noShow: 'NO_SHOW',
} as const;
export type BookingAction = keyof typeof BOOKING_ACTIONS;

/** Taps only the booking's guest may make; every other action is a manager's. */
export const GUEST_ACTIONS: ReadonlySet<BookingAction> = new Set(['confirmVisit', 'cancelBooking', 'cancelYes', 'cancelNo']);

/** Rows of the reasons list a deciding manager gets after Reject; `other` asks them to type the reason. */
export const REJECT_REASON_CODES = ['fully_booked', 'closed', 'private_event', 'table_unavailable', 'other'] as const;
export type RejectReasonCode = (typeof REJECT_REASON_CODES)[number];
const REJECT_REASON = 'REJECT_REASON';

export type ParsedAction =
  | { action: BookingAction; bookingId: number }
  | { action: 'rejectReason'; bookingId: number; code: RejectReasonCode };

export function actionId(action: BookingAction, bookingId: number): string {
  return `${BOOKING_ACTIONS[action]}:${bookingId}`;
}

export function rejectReasonId(bookingId: number, code: RejectReasonCode): string {
  return `${REJECT_REASON}:${bookingId}:${code}`;
}

const ACTION_BY_ID = new Map(Object.entries(BOOKING_ACTIONS).map(([action, id]) => [id as string, action as BookingAction]));
const ACTION_PATTERN = new RegExp(`^\\s*(${[...ACTION_BY_ID.keys()].join('|')}):(\\d{1,15})\\s*$`);
const REJECT_REASON_PATTERN = new RegExp(`^\\s*${REJECT_REASON}:(\\d{1,15}):(${REJECT_REASON_CODES.join('|')})\\s*$`);

export function parseActionId(id: string): ParsedAction | undefined {
  const reason = REJECT_REASON_PATTERN.exec(id);
  if (reason) return { action: 'rejectReason', bookingId: Number(reason[1]), code: reason[2] as RejectReasonCode };
  const match = ACTION_PATTERN.exec(id);
  if (!match) return undefined;
  return { action: ACTION_BY_ID.get(match[1])!, bookingId: Number(match[2]) };
}
