import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { PG_INT_MAX } from '../api/validation';
import type { Config } from '../config';
import { findBookingByClaimCode, getBooking, latestBookingForPhone, type BookingRow } from '../db/bookings';
import { getBookingDetails } from '../db/bookingViews';
import { getGuestContact } from '../db/clients';
import type { Db } from '../db/knex';
import type { WhatsAppMessageRow } from '../db/messages';
import { findMembershipByPhone, getRestaurant } from '../db/restaurants';
import { parseActionId } from '../domain/actions';
import type { Language } from '../domain/booking';
import { findClaimCode, mentionsClaim } from '../domain/claim';
import { asLanguage, guestLanguage } from '../domain/language';
import type { BookingDetails, NotificationChannel, NotificationPurpose, Recipient } from '../domain/notifications';
import { maskPhone, phoneFromWaId } from '../domain/phone';
import type { Logger } from '../observability/logger';
import { approveSignal, claimSignal, deliveryFailedSignal, rejectSignal, type DeciderActor } from '../workflows/definitions';
import { isWhatsAppSendError, OUTSIDE_WINDOW } from './errors';
import { TEMPLATE_PURPOSES } from './render';
import type { InboundMessageEvent } from './webhookPayload';

/** The part of a Temporal Client the webhook uses: signals to booking workflows, each with a deadline. */
export type WorkflowSignaller = Pick<Client, 'workflow' | 'withDeadline'>;

// A signal is one quick write on a healthy server. Past this, Temporal counts as down
// (DEADLINE_EXCEEDED, an outage): the row is retried later and its inbox slot is free again.
const SIGNAL_TIMEOUT_MS = 10_000;

export interface InboundDeps {
  config: Pick<Config, 'DEFAULT_LANGUAGE'>;
  db: Db;
  temporal: WorkflowSignaller;
  logger: Logger;
  channel: NotificationChannel;
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
}

const STATUS_COMMAND = /^\s*\/status\b/i;
// Ids are Postgres `integer`s: a larger number in a code or a button id names no booking,
// and looking it up would fail with "out of range" on every retry.
const MAX_ROW_ID = PG_INT_MAX;
const FLOOD_WINDOW_MS = 60_000;

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

  /** A refusal by Meta is logged and ends the matter; a retryable failure retries the whole row. */
  async function reply(
    to: Sender,
    purpose: NotificationPurpose,
    r: { recipient?: Omit<Recipient, 'phone'>; booking?: BookingDetails; facts?: { decision?: BookingDetails['status'] }; round?: number } = {},
  ): Promise<void> {
    const recipient: Recipient = r.recipient
      ? { ...r.recipient, phone: to.phone }
      : { role: 'guest', phone: to.phone, name: to.name, language: (await guestSituation(to.phone)).language };
    try {
      await channel.send({ purpose, recipient, booking: r.booking, facts: r.facts, replyTo: to.messageId, round: r.round });
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

  async function action(from: Sender, a: NonNullable<ReturnType<typeof parseActionId>>): Promise<ProcessOutcome> {
    const booking = a.bookingId <= MAX_ROW_ID ? await getBooking(db, a.bookingId) : undefined;
    const member = booking && (await findMembershipByPhone(db, booking.restaurantId, from.phone));
    if (!booking || !member) {
      logger.warn(
        { security: 'unauthorized_action', action: a.action, bookingId: a.bookingId, from: maskPhone(from.phone) },
        'manager button tapped by someone who is not a manager or owner of the booking\'s restaurant',
      );
      await reply(from, 'notAuthorized');
      return { bookingId: booking?.id };
    }
    // Only an answer needs the restaurant's language: a decision that reaches its workflow has none.
    const recipient = async () => ({
      role: member.role,
      name: member.name,
      id: member.userId,
      language: asLanguage((await getRestaurant(db, booking.restaurantId))?.managerLanguageCode) ?? deps.config.DEFAULT_LANGUAGE,
    });
    if (a.action === 'contact') {
      await reply(from, 'contactGuest', { recipient: await recipient(), booking: await getBookingDetails(db, booking.id) });
      return { bookingId: booking.id };
    }
    const actor: DeciderActor = { type: member.role, id: member.userId, name: member.name, phone: from.phone };
    const delivered =
      a.action === 'approve'
        ? await signal(booking.workflowId, approveSignal, { actor, messageId: from.messageId })
        : await signal(booking.workflowId, rejectSignal, { actor, messageId: from.messageId });
    if (delivered) {
      logger.info({ bookingId: booking.id, action: a.action, role: member.role, userId: member.userId }, 'decision signalled');
    } else {
      await reply(from, 'alreadyDecided', {
        recipient: await recipient(),
        booking: await getBookingDetails(db, booking.id),
        facts: { decision: booking.status },
      });
    }
    return { bookingId: booking.id };
  }

  async function status(from: Sender): Promise<ProcessOutcome> {
    const { language, latest } = await guestSituation(from.phone);
    const booking = latest && (await getBookingDetails(db, latest.id));
    await reply(from, 'guestStatus', { recipient: { role: 'guest', name: from.name, language }, booking });
    return { bookingId: latest?.id };
  }

  /**
   * The first message over the sender's flood limit in a minute (the later ones are never
   * due): one "please slow down" for that minute, however many processes see such a row.
   */
  async function slowDown(row: WhatsAppMessageRow, event: InboundMessageEvent): Promise<ProcessOutcome> {
    const from: Sender = { phone: row.phone, name: event.name, messageId: event.messageId };
    logger.warn({ from: maskPhone(from.phone) }, 'sender over the flood limit: further messages this minute are stored, not acted on');
    await reply(from, 'slowDown', { round: Math.floor(row.createdAt.getTime() / FLOOD_WINDOW_MS) });
    return {};
  }

  async function inbound(event: InboundMessageEvent): Promise<ProcessOutcome> {
    if (!event.from) {
      // No phone number (a user known only by a business-scoped id): nobody to identify or answer.
      logger.info({ messageId: event.messageId, kind: event.kind }, 'message without a phone number: cannot identify the sender');
      return {};
    }
    const from: Sender = { phone: phoneFromWaId(event.from), name: event.name, messageId: event.messageId };
    const tapped = event.kind === 'button' && event.buttonId ? parseActionId(event.buttonId) : undefined;
    if (tapped) return action(from, tapped);
    const text = event.text ?? '';
    const code = findClaimCode(text);
    if (code) return claim(from, code);
    if (mentionsClaim(text)) {
      await reply(from, 'claimInvalid');
      return {};
    }
    if (STATUS_COMMAND.test(text)) return status(from);
    await reply(from, 'guestHelp');
    return {};
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
      });
      logger.info({ ...log, signalled }, 'manager message outside the 24-hour window: workflow told');
    } else {
      logger.warn(log, 'whatsapp message failed after it was accepted');
    }
    return {};
  }

  return (row) => {
    if (row.direction === 'out') return failedDelivery(row);
    const event = row.payload as InboundMessageEvent;
    return row.status === 'skipped' ? slowDown(row, event) : inbound(event);
  };
}
