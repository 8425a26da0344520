import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { ConsoleLinks } from '../api/console/link';
import { PG_INT_MAX } from '../api/validation';
import type { Config } from '../config';
import { findBookingByClaimCode, getBooking, latestBookingForPhone, type BookingRow } from '../db/bookings';
import { getBookingDetails } from '../db/bookingViews';
import { getGuestContact } from '../db/clients';
import { awaitedRejectReason, latestNumberedRequests, sentRecently, upcomingBookingIds } from '../db/guestInbox';
import { getAccount } from '../db/whatsappAccounts';
import type { Db } from '../db/knex';
import type { WhatsAppMessageRow } from '../db/messages';
import { findMembershipByPhone, getRestaurant } from '../db/restaurants';
import { GUEST_ACTIONS, parseActionId, type BookingAction, type ParsedAction } from '../domain/actions';
import { canTransition, type BookingStatus, type Language } from '../domain/booking';
import { findClaimCode, mentionsClaim } from '../domain/claim';
import { asLanguage, guestLanguage } from '../domain/language';
import { idempotencyKey, type BookingDetails, type Notification, type NotificationChannel, type NotificationPurpose, type Recipient } from '../domain/notifications';
import { maskPhone, phoneFromWaId } from '../domain/phone';
import type { Logger } from '../observability/logger';
import {
  approveSignal,
  arrivedSignal,
  cancelSignal,
  claimSignal,
  confirmVisitSignal,
  deliveryFailedSignal,
  noShowSignal,
  rejectReasonSignal,
  rejectSignal,
  type DeciderActor,
} from '../workflows/definitions';
import { isWhatsAppSendError, OUTSIDE_WINDOW } from './errors';
import { TEMPLATE_PURPOSES } from './render';
import { choiceOfReply, numberedChoices, replyNumber } from './waha/numbered';
import type { InboundMessageEvent } from './webhookPayload';

/** The part of a Temporal Client the webhook uses: signals to booking workflows, each with a deadline. */
export type WorkflowSignaller = Pick<Client, 'workflow' | 'withDeadline'>;

// A signal is one quick write on a healthy server. Past this, Temporal counts as down
// (DEADLINE_EXCEEDED, an outage): the row is retried later and its inbox slot is free again.
const SIGNAL_TIMEOUT_MS = 10_000;

export interface InboundDeps {
  config: Pick<Config, 'DEFAULT_LANGUAGE' | 'REJECT_REASON_WAIT'>;
  db: Db;
  temporal: WorkflowSignaller;
  logger: Logger;
  channel: NotificationChannel;
  /** Sign-in links for `/console`; without them the command is answered like any other text. */
  consoleLinks?: ConsoleLinks;
}

// gRPC DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE: Temporal is down or overloaded.
const TEMPORAL_OUTAGE_CODES = new Set([4, 8, 14]);
// The database is unreachable, restarting, or refused the connection.
const DATABASE_OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '08001', '08006']);

/**
 * Whether a processing failure says "the world is down" rather than "this row cannot be
 * done": the inbox retries those without spending the row's attempts, so an outage of
 * Temporal, Postgres or WhatsApp longer than the backoff schedule never dead-letters the
 * rows that arrived meanwhile.
 */
export function isOutage(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isWhatsAppSendError(e)) return e.retryable;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number' && TEMPORAL_OUTAGE_CODES.has(code)) return true;
    if (typeof code === 'string' && DATABASE_OUTAGE_CODES.has(code)) return true;
    if (e.name === 'KnexTimeoutError') return true;
  }
  return false;
}

/** What processing found out; the booking is written on the inbound row for the booking's record. */
export interface ProcessOutcome {
  bookingId?: number;
}

interface Sender {
  phone: string;
  name?: string;
  messageId: string;
  /** The WhatsApp account the message arrived on (null: the default account); answers go out through it. */
  account: number | null;
}

const COMMANDS = {
  status: /^\s*\/status\b/i,
  cancel: /^\s*\/cancel\b/i,
  help: /^\s*\/(help|start)\b/i,
  console: /^\s*\/console\b/i,
} as const;
// Unknown text gets the help at most this often per sender; /help always gets it.
const HELP_INTERVAL_MS = 24 * 60 * 60_000;
// Bookings a /status or /cancel reply shows: a list message holds ten rows.
const UPCOMING_SHOWN = 10;
// Ids are Postgres `integer`s: a larger number in a code or a button id names no booking,
// and looking it up would fail with "out of range" on every retry.
const MAX_ROW_ID = PG_INT_MAX;
const FLOOD_WINDOW_MS = 60_000;

/**
 * WhatsApp Web (WAHA) has no buttons: the messages whose numbered choices a bare number may
 * answer without quoting, and the booking statuses in which they still await that answer.
 */
const NUMBERED_REQUESTS: Partial<Record<NotificationPurpose, readonly BookingStatus[]>> = {
  managerRequest: ['PENDING'],
  managerReminder: ['PENDING'],
  escalation: ['PENDING'],
  rejectReasonRequest: ['REJECTED'],
  arrivalCheck: ['APPROVED'],
  guestReminder: ['APPROVED'],
  guestCancelQuestion: ['PENDING', 'APPROVED'],
};
const MANAGER_REQUESTS: ReadonlySet<string> = new Set(['managerRequest', 'managerReminder', 'escalation', 'rejectReasonRequest', 'arrivalCheck']);
// Longer than any request stays open (a reminder goes out a day or so before the visit); it only bounds the look.
const NUMBERED_REPLY_WINDOW_MS = 14 * 24 * 60 * 60_000;

/** Manager taps that are one signal each, with the tapper as the actor. */
const MANAGER_SIGNALS = { approve: approveSignal, reject: rejectSignal, arrived: arrivedSignal, noShow: noShowSignal } as const;
type ManagerSignalAction = keyof typeof MANAGER_SIGNALS & BookingAction;

/**
 * Acts on one stored webhook row: an inbound message (claim code, manager button, command or
 * anything else) or an outbound message that failed after Meta accepted it. Throws only when
 * the work must be retried later (database or Temporal unreachable); everything else,
 * including messages nobody can act on, ends here so the row is marked processed.
 */
export function createInboundProcessor(deps: InboundDeps): (row: WhatsAppMessageRow) => Promise<ProcessOutcome> {
  const { db, channel } = deps;
  const logger = deps.logger.child({ component: 'whatsapp-inbound' });

  /** false when the workflow is gone (finished long ago): the booking is past deciding. */
  async function signal<T>(workflowId: string, def: SignalDefinition<[T]>, input: T): Promise<boolean> {
    try {
      await deps.temporal.withDeadline(Date.now() + SIGNAL_TIMEOUT_MS, () => deps.temporal.workflow.getHandle(workflowId).signal(def, input));
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  async function guestSituation(phone: string): Promise<{ language: Language; latest?: BookingRow }> {
    const latest = await latestBookingForPhone(db, phone);
    const contact = latest && (await getGuestContact(db, latest.id));
    const language = guestLanguage({
      bookingLanguage: latest?.language,
      clientLanguage: contact?.clientLanguage,
      phone,
      fallback: deps.config.DEFAULT_LANGUAGE,
    });
    return { language, latest };
  }

  type Reply = Partial<Pick<Notification, 'booking' | 'bookings' | 'facts' | 'round'>> & { recipient?: Omit<Recipient, 'phone'> };

  /**
   * Answers the sender; without a recipient they are addressed as a guest in their language.
   * A refusal by Meta is logged and ends the matter; a retryable failure retries the whole row.
   */
  async function reply(to: Sender, purpose: NotificationPurpose, { recipient: who, ...rest }: Reply = {}): Promise<void> {
    const recipient: Recipient = who
      ? { ...who, phone: to.phone }
      : { role: 'guest', phone: to.phone, name: to.name, language: (await guestSituation(to.phone)).language };
    try {
      await channel.send({ purpose, recipient, ...rest, replyTo: to.messageId, account: to.account });
    } catch (err) {
      if (!isWhatsAppSendError(err) || err.retryable) throw err;
      logger.warn({ purpose, to: maskPhone(to.phone), code: err.code }, 'reply refused by WhatsApp');
    }
  }

  async function claim(from: Sender, { bookingId, code }: { bookingId: number; code: string }): Promise<ProcessOutcome> {
    const booking = bookingId <= MAX_ROW_ID ? await findBookingByClaimCode(db, code) : undefined;
    const open =
      booking &&
      ((booking.status === 'DRAFT' && booking.claimExpiresAt.getTime() > Date.now()) ||
        booking.status === 'PENDING' ||
        booking.status === 'APPROVED');
    // The workflow decides between a repeat by the same phone and someone else's attempt.
    if (open && (await signal(booking.workflowId, claimSignal, { phone: from.phone, name: from.name, messageId: from.messageId }))) {
      logger.info({ bookingId: booking.id, from: maskPhone(from.phone) }, 'claim signalled');
      return { bookingId: booking.id };
    }
    logger.info({ bookingId: booking?.id, from: maskPhone(from.phone) }, 'claim code unknown, malformed or expired');
    await reply(from, 'claimInvalid');
    return { bookingId: booking?.id };
  }

  function unauthorized(from: Sender, a: ParsedAction, why: string): Promise<void> {
    logger.warn({ security: 'unauthorized_action', action: a.action, bookingId: a.bookingId, from: maskPhone(from.phone) }, why);
    return reply(from, 'notAuthorized');
  }

  /**
   * Whether a tap came through the booking's restaurant's own number. A tap on another
   * number's webhook (a forged or misrouted delivery) is not the restaurant's conversation:
   * nothing is done and nobody is answered, so no number speaks for another's bookings.
   */
  async function viaBookingsNumber(from: Sender, booking: BookingRow, a: ParsedAction): Promise<boolean> {
    const account = (await getRestaurant(db, booking.restaurantId))?.whatsappAccountId ?? null;
    if (account === from.account) return true;
    logger.warn(
      { security: 'wrong_number', action: a.action, bookingId: booking.id, account: from.account, restaurantAccount: account, from: maskPhone(from.phone) },
      "tap on another number than the booking's restaurant's: ignored",
    );
    return false;
  }

  /** A tap on a manager's button (a decision, the guest's chat, a rejection reason, arrival): only the restaurant's members. */
  async function managerAction(from: Sender, a: ParsedAction): Promise<ProcessOutcome> {
    const booking = a.bookingId <= MAX_ROW_ID ? await getBooking(db, a.bookingId) : undefined;
    // Both checks at once: a tap's round trips are most of what acting on it costs.
    const [onItsNumber, member] = booking
      ? await Promise.all([viaBookingsNumber(from, booking, a), findMembershipByPhone(db, booking.restaurantId, from.phone)])
      : [false, undefined];
    if (booking && !onItsNumber) return { bookingId: booking.id };
    if (!booking || !member) {
      await unauthorized(from, a, "manager button tapped by someone who is not a manager or owner of the booking's restaurant");
      return { bookingId: booking?.id };
    }
    // Only an answer needs the restaurant's language: a decision that reaches its workflow has none.
    const recipient = async () => ({
      role: member.role,
      name: member.name,
      id: member.userId,
      language: asLanguage((await getRestaurant(db, booking.restaurantId))?.managerLanguageCode) ?? deps.config.DEFAULT_LANGUAGE,
    });
    const answer = async (purpose: NotificationPurpose, facts?: Notification['facts']) =>
      reply(from, purpose, { recipient: await recipient(), booking: await getBookingDetails(db, booking.id), facts });
    if (a.action === 'contact') {
      await answer('contactGuest');
      return { bookingId: booking.id };
    }
    if (a.action === 'rejectReason' && a.code === 'other') {
      // The reason comes as the manager's next text (typedRejectReason); the workflow keeps waiting for it.
      await answer('rejectReasonTypePrompt');
      return { bookingId: booking.id };
    }
    const actor: DeciderActor = { type: member.role, id: member.userId, name: member.name, phone: from.phone };
    const input = { actor, messageId: from.messageId };
    const delivered =
      a.action === 'rejectReason'
        ? await signal(booking.workflowId, rejectReasonSignal, { ...input, code: a.code })
        : await signal(booking.workflowId, MANAGER_SIGNALS[a.action as ManagerSignalAction], input);
    if (delivered) {
      logger.info({ bookingId: booking.id, action: a.action, role: member.role, userId: member.userId }, 'manager action signalled');
    } else {
      await answer('alreadyDecided', { decision: booking.status });
    }
    return { bookingId: booking.id };
  }

  /** A tap on the guest's buttons (a reminder's Confirm / Cancel, the cancel question's Yes / No): only the booking's guest. */
  async function guestAction(from: Sender, a: ParsedAction): Promise<ProcessOutcome> {
    const booking = a.bookingId <= MAX_ROW_ID ? await getBooking(db, a.bookingId) : undefined;
    const [onItsNumber, contact] = booking ? await Promise.all([viaBookingsNumber(from, booking, a), getGuestContact(db, booking.id)]) : [false, undefined];
    if (booking && !onItsNumber) return { bookingId: booking.id };
    if (!booking || contact?.phone !== from.phone) {
      await unauthorized(from, a, "guest button tapped by someone who is not the booking's guest");
      return { bookingId: booking?.id };
    }
    const recipient: Omit<Recipient, 'phone'> = {
      role: 'guest',
      id: contact.clientId,
      name: contact.name ?? from.name,
      language: guestLanguage({ bookingLanguage: booking.language, clientLanguage: contact.clientLanguage, phone: from.phone, fallback: deps.config.DEFAULT_LANGUAGE }),
    };
    const answer = async (purpose: NotificationPurpose, facts?: Notification['facts']) =>
      reply(from, purpose, { recipient, booking: await getBookingDetails(db, booking.id), facts });
    const gone = () => answer('guestCancelRefused', { decision: booking.status });
    switch (a.action) {
      case 'confirmVisit':
        if (!(await signal(booking.workflowId, confirmVisitSignal, { phone: from.phone, messageId: from.messageId }))) await answer('guestStatus');
        break;
      case 'cancelBooking':
        // The question is asked whatever the time: the workflow applies the cutoff to the answer.
        if (canTransition(booking.status, 'CANCELLED') && booking.startsAt.getTime() > Date.now()) await answer('guestCancelQuestion');
        else await gone();
        break;
      case 'cancelYes': {
        const actor = { type: 'guest' as const, id: contact.clientId, phone: from.phone, name: recipient.name };
        // The workflow answers: cancelled, or refused inside the cutoff.
        if (!(await signal(booking.workflowId, cancelSignal, { actor, messageId: from.messageId }))) await gone();
        break;
      }
      case 'cancelNo':
        await answer('guestCancelKept');
    }
    logger.info({ bookingId: booking.id, action: a.action, from: maskPhone(from.phone) }, 'guest action handled');
    return { bookingId: booking.id };
  }

  /** A tap: the guest's buttons from the booking's guest, every other from its restaurant's members. */
  function act(from: Sender, a: ParsedAction): Promise<ProcessOutcome> {
    return a.action !== 'rejectReason' && GUEST_ACTIONS.has(a.action) ? guestAction(from, a) : managerAction(from, a);
  }

  /**
   * A bare number on WhatsApp Web that quotes nothing (a quoted one arrives as the tap): when
   * exactly one of our numbered messages awaits the sender's answer on this number, it is the
   * tap on that message's choice; when several do, a short list of which booking each is, so
   * they answer quoting the one they mean. undefined: not such a reply (no request awaits,
   * or the number is none of the choices), left to the rest.
   */
  async function numberedReply(from: Sender, text: string): Promise<ProcessOutcome | undefined> {
    if (from.account === null || (await getAccount(db, from.account))?.provider !== 'waha') return undefined;
    const awaiting = (
      await latestNumberedRequests(db, { phone: from.phone, accountId: from.account, purposes: Object.keys(NUMBERED_REQUESTS), withinMs: NUMBERED_REPLY_WINDOW_MS })
    ).filter((r) => NUMBERED_REQUESTS[r.purpose as NotificationPurpose]?.includes(r.status as BookingStatus));
    if (!awaiting.length) return undefined;
    if (awaiting.length === 1) {
      const choice = choiceOfReply(text, numberedChoices(awaiting[0].payload));
      const tapped = choice && parseActionId(choice.id);
      if (!tapped) return undefined;
      logger.info({ bookingId: tapped.bookingId, action: tapped.action, from: maskPhone(from.phone) }, 'numbered reply read as the tap on the one request awaiting it');
      return act(from, tapped);
    }
    const bookings = (await Promise.all(awaiting.map((r) => getBookingDetails(db, r.bookingId)))).filter((b): b is BookingDetails => Boolean(b));
    const first = bookings[0];
    const recipient =
      first && MANAGER_REQUESTS.has(awaiting[0].purpose)
        ? { role: 'manager' as const, language: asLanguage((await getRestaurant(db, first.restaurant.id))?.managerLanguageCode) ?? deps.config.DEFAULT_LANGUAGE }
        : undefined;
    await reply(from, 'numberedWhich', { recipient, bookings });
    return {};
  }

  /** /status: every upcoming booking; /cancel: the question for the only one, or a list to pick one. */
  async function upcoming(from: Sender, command: 'status' | 'cancel'): Promise<ProcessOutcome> {
    const { language } = await guestSituation(from.phone);
    const ids = await upcomingBookingIds(db, from.phone, UPCOMING_SHOWN);
    const bookings = (await Promise.all(ids.map((id) => getBookingDetails(db, id)))).filter((b): b is BookingDetails => Boolean(b));
    const recipient = { role: 'guest' as const, name: from.name, language };
    if (command === 'status' || !bookings.length) await reply(from, 'guestStatus', { recipient, bookings });
    else if (bookings.length === 1) await reply(from, 'guestCancelQuestion', { recipient, booking: bookings[0] });
    else await reply(from, 'guestCancelChoose', { recipient, bookings });
    return { bookingId: bookings.length === 1 ? bookings[0].id : undefined };
  }

  /** The help: always for /help, otherwise at most once a day, so chatting with the bot is not answered by the help every time. */
  async function help(from: Sender, asked: boolean): Promise<ProcessOutcome> {
    const { language } = await guestSituation(from.phone);
    const recipient: Recipient = { role: 'guest', phone: from.phone, name: from.name, language };
    const exceptKey = idempotencyKey({ purpose: 'guestHelp', recipient, replyTo: from.messageId });
    if (!asked && (await sentRecently(db, { phone: from.phone, purpose: 'guestHelp', withinMs: HELP_INTERVAL_MS, exceptKey }))) {
      logger.info({ from: maskPhone(from.phone) }, 'text not understood; the help was sent within the day, so no answer');
      return {};
    }
    await reply(from, 'guestHelp', { recipient });
    return {};
  }

  /** /console from a manager or owner: a sign-in link to the console of their restaurants. */
  async function consoleLink(from: Sender, links: ConsoleLinks): Promise<ProcessOutcome> {
    const link = await links.forPhone(from.phone);
    if (!link) {
      logger.warn({ security: 'unauthorized_console', from: maskPhone(from.phone) }, '/console from someone who is no restaurant member');
      await reply(from, 'notAuthorized');
      return {};
    }
    const restaurant = await getRestaurant(db, link.member.restaurantId);
    const language = link.member.language ?? asLanguage(restaurant?.managerLanguageCode) ?? deps.config.DEFAULT_LANGUAGE;
    await reply(from, 'consoleLink', {
      recipient: { role: link.member.role, id: link.member.userId, name: link.member.name, language },
      facts: {
        console: {
          link: link.url,
          expiresAt: link.expiresAt.toISOString(),
          timeZone: restaurant?.timezone ?? 'UTC',
          restaurants: link.restaurants.map((r) => r.name),
        },
      },
    });
    return {};
  }

  /** A manager asked to type a rejection reason (REJECT_REASON_WAIT ago at most) sent text: it is the reason. */
  async function typedRejectReason(row: WhatsAppMessageRow, from: Sender, text: string): Promise<ProcessOutcome | undefined> {
    const bookingId = await awaitedRejectReason(db, {
      phone: from.phone,
      withinMs: deps.config.REJECT_REASON_WAIT,
      currentRowId: row.id,
      promptPurpose: 'rejectReasonTypePrompt',
    });
    const booking = bookingId === undefined ? undefined : await getBooking(db, bookingId);
    const member = booking && (await findMembershipByPhone(db, booking.restaurantId, from.phone));
    if (!booking || !member) return undefined;
    const actor: DeciderActor = { type: member.role, id: member.userId, name: member.name, phone: from.phone };
    await signal(booking.workflowId, rejectReasonSignal, { actor, text: text.trim(), messageId: from.messageId });
    logger.info({ bookingId: booking.id, userId: member.userId }, 'typed rejection reason signalled');
    return { bookingId: booking.id };
  }

  /**
   * The first message over the sender's flood limit in a minute (the later ones are never
   * due): one "please slow down" for that minute, however many processes see such a row.
   */
  async function slowDown(row: WhatsAppMessageRow, event: InboundMessageEvent): Promise<ProcessOutcome> {
    const from: Sender = { phone: row.phone, name: event.name, messageId: event.messageId, account: event.accountId ?? null };
    logger.warn({ from: maskPhone(from.phone) }, 'sender over the flood limit: further messages this minute are stored, not acted on');
    await reply(from, 'slowDown', { round: Math.floor(row.createdAt.getTime() / FLOOD_WINDOW_MS) });
    return {};
  }

  async function inbound(row: WhatsAppMessageRow, event: InboundMessageEvent): Promise<ProcessOutcome> {
    if (!event.from) {
      // No phone number (a user known only by a business-scoped id): nobody to identify or answer.
      logger.info({ messageId: event.messageId, kind: event.kind }, 'message without a phone number: cannot identify the sender');
      return {};
    }
    const from: Sender = { phone: phoneFromWaId(event.from), name: event.name, messageId: event.messageId, account: event.accountId ?? null };
    const tapped = event.kind === 'button' && event.buttonId ? parseActionId(event.buttonId) : undefined;
    if (tapped) return act(from, tapped);
    const text = event.text ?? '';
    if (event.kind === 'text' && replyNumber(text) !== undefined) {
      const numbered = await numberedReply(from, text);
      if (numbered) return numbered;
    }
    const code = findClaimCode(text);
    if (code) return claim(from, code);
    if (mentionsClaim(text)) {
      await reply(from, 'claimInvalid');
      return {};
    }
    if (COMMANDS.status.test(text)) return upcoming(from, 'status');
    if (COMMANDS.cancel.test(text)) return upcoming(from, 'cancel');
    if (COMMANDS.help.test(text)) return help(from, true);
    if (COMMANDS.console.test(text) && deps.consoleLinks) return consoleLink(from, deps.consoleLinks);
    const reason = event.kind === 'text' && text.trim() ? await typedRejectReason(row, from, text) : undefined;
    return reason ?? help(from, false);
  }

  /** A message we sent was refused after Meta accepted it; a 131047 of a message with a template form goes to the workflow for the template. */
  async function failedDelivery(row: WhatsAppMessageRow): Promise<ProcessOutcome> {
    const log = { purpose: row.purpose, bookingId: row.bookingId, to: maskPhone(row.phone), code: row.errorCode, error: row.errorTitle };
    const booking = row.bookingId === null ? undefined : await getBooking(db, row.bookingId);
    if (
      booking &&
      row.errorCode === OUTSIDE_WINDOW &&
      TEMPLATE_PURPOSES.has(row.purpose as NotificationPurpose) &&
      row.providerMessageId &&
      row.idempotencyKey
    ) {
      const signalled = await signal(booking.workflowId, deliveryFailedSignal, {
        providerMessageId: row.providerMessageId,
        idempotencyKey: row.idempotencyKey,
        errorCode: row.errorCode,
        purpose: row.purpose,
      });
      logger.info({ ...log, signalled }, 'message outside the 24-hour window: workflow told, to send its template');
    } else {
      logger.warn(log, 'whatsapp message failed after it was accepted');
    }
    return {};
  }

  return (row) => {
    if (row.direction === 'out') return failedDelivery(row);
    const event = row.payload as InboundMessageEvent;
    return row.status === 'skipped' ? slowDown(row, event) : inbound(row, event);
  };
}
