/**
 * Button ids (interactive reply ids and template quick-reply payloads) that a
 * manager's tap sends back to the webhook. They are a contract with messages
 * already sitting in managers' chats: never rename one.
 */
export const BOOKING_ACTIONS = {
  approve: 'APPROVE_BOOKING',
  reject: 'REJECT_BOOKING',
  contact: 'CONTACT_CLIENT',
} as const;
export type BookingAction = keyof typeof BOOKING_ACTIONS;

export function actionId(action: BookingAction, bookingId: number): string {
  return `${BOOKING_ACTIONS[action]}:${bookingId}`;
}

export function parseActionId(id: string): { action: BookingAction; bookingId: number } | undefined {
  const match = /^\s*(APPROVE_BOOKING|REJECT_BOOKING|CONTACT_CLIENT):(\d{1,15})\s*$/.exec(id);
  if (!match) return undefined;
  const action = (Object.keys(BOOKING_ACTIONS) as BookingAction[]).find((a) => BOOKING_ACTIONS[a] === match[1])!;
  return { action, bookingId: Number(match[2]) };
}
