import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { MembershipRole } from '../domain/booking';
import { asLanguage, guestLanguage } from '../domain/language';
import {
  BOOKING_NOT_FOUND,
  PERMANENT_SEND_FAILURE,
  type Notification,
  type NotificationPurpose,
  type Recipient,
  type SendResult,
} from '../domain/notifications';
import { maskPhone } from '../domain/phone';
import { getBookingDetails } from '../db/bookingViews';
import { getGuestContact } from '../db/clients';
import { findOutboundByIdempotencyKey, markUndelivered } from '../db/messages';
import { getRestaurant, listMembers } from '../db/restaurants';
import { undeliveredMessages } from '../observability/metrics';
import { isWhatsAppSendError } from '../whatsapp/errors';
import type { ActivityDeps } from './deps';

export type NotifyFacts = Notification['facts'];

/** Guest messages that have a template form for outside the 24-hour window. */
const GUEST_TEMPLATE_PURPOSES: ReadonlySet<NotificationPurpose> = new Set(['guestReminder']);

export interface NotifyManagersResult {
  sent: number;
  /** Recipients the channel refused permanently (e.g. 131026 not on WhatsApp). */
  failed: { phone: string; code?: number }[];
}

/** Thin adapters over the channel port: resolve who and in which language, then send. */
export function notifyActivities({ db, channel, config, logger }: ActivityDeps) {
  async function send(n: Notification): Promise<SendResult> {
    try {
      return await channel.send(n);
    } catch (err) {
      throw asActivityFailure(err);
    }
  }

  async function details(bookingId: number) {
    const booking = await getBookingDetails(db, bookingId);
    if (!booking) throw ApplicationFailure.nonRetryable(`booking ${bookingId} not found`, BOOKING_NOT_FOUND);
    return booking;
  }

  async function guestRecipient(bookingId: number): Promise<Recipient | undefined> {
    const guest = await getGuestContact(db, bookingId);
    if (!guest) return undefined;
    const language = guestLanguage({ ...guest, fallback: config.DEFAULT_LANGUAGE });
    return { role: 'guest', phone: guest.phone, language, name: guest.name ?? undefined, id: guest.clientId };
  }

  async function managerLanguage(restaurantId: number) {
    const restaurant = await getRestaurant(db, restaurantId);
    return asLanguage(restaurant?.managerLanguageCode) ?? config.DEFAULT_LANGUAGE;
  }

  async function memberRecipient(restaurantId: number, phone: string): Promise<Recipient | undefined> {
    const member = (await listMembers(db, restaurantId, ['manager', 'owner'])).find((m) => m.phone === phone);
    if (!member) return undefined;
    return { role: member.role, phone: member.phone, language: await managerLanguage(restaurantId), name: member.name, id: member.userId };
  }

  return {
    /**
     * A send the workflow gave up on (still failing when it stopped being useful): its
     * unsent rows become `failed` with the reason, so the admin view shows it, and the
     * metric lets an alert fire. Rows already sent, and other purposes, stay as they are.
     */
    async recordUndelivered(a: { bookingId: number; purpose: NotificationPurpose; error: string }): Promise<void> {
      const rows = await markUndelivered(db, a);
      undeliveredMessages.inc({ purpose: a.purpose });
      logger.error({ bookingId: a.bookingId, purpose: a.purpose, rows, error: a.error }, 'booking message undelivered; gave up');
    },

    /** One message per manager (or owner); a permanent failure for one does not stop the others. */
    async notifyManagers(a: {
      bookingId: number;
      purpose: NotificationPurpose;
      roles: MembershipRole[];
      facts?: NotifyFacts;
    }): Promise<NotifyManagersResult> {
      const booking = await details(a.bookingId);
      const [language, members] = await Promise.all([managerLanguage(booking.restaurant.id), listMembers(db, booking.restaurant.id, a.roles)]);
      const result: NotifyManagersResult = { sent: 0, failed: [] };
      for (const m of members) {
        const recipient: Recipient = { role: m.role, phone: m.phone, language, name: m.name, id: m.userId };
        try {
          await send({ purpose: a.purpose, recipient, booking, facts: a.facts });
          result.sent++;
        } catch (err) {
          if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
          const code = (err.details?.[0] as { code?: number } | undefined)?.code;
          logger.warn({ bookingId: a.bookingId, to: maskPhone(m.phone), code }, 'manager notification refused');
          result.failed.push({ phone: m.phone, code });
        }
      }
      return result;
    },

    /** The booking's guest, in the booking's, the guest's, the phone's or the default language. */
    async notifyGuest(a: {
      bookingId: number;
      purpose: NotificationPurpose;
      facts?: NotifyFacts;
      /** The guest's tap this answers. */
      replyTo?: string;
      round?: number;
    }): Promise<SendResult | undefined> {
      const recipient = await guestRecipient(a.bookingId);
      if (!recipient) return undefined; // never claimed: nobody to tell
      return send({
        purpose: a.purpose,
        recipient,
        booking: await details(a.bookingId),
        facts: a.facts,
        replyTo: a.replyTo,
        round: a.round,
      });
    },

    /**
     * One person who wrote to us about this booking: a manager who decided (or decided too late),
     * or someone who sent a claim code that is not theirs.
     */
    async notifyPerson(a: {
      bookingId: number;
      purpose: NotificationPurpose;
      phone: string;
      role: Recipient['role'];
      facts?: NotifyFacts;
      replyTo?: string;
    }): Promise<SendResult> {
      const booking = await details(a.bookingId);
      const language =
        a.role === 'guest'
          ? guestLanguage({ phone: a.phone, fallback: config.DEFAULT_LANGUAGE })
          : await managerLanguage(booking.restaurant.id);
      return send({
        purpose: a.purpose,
        recipient: { role: a.role, phone: a.phone, language },
        booking,
        facts: a.facts,
        replyTo: a.replyTo,
      });
    },

    /**
     * A message refused later with 131047 (outside the 24-hour window): send the approved
     * template instead, to the manager it went to, or to the guest (their reminder).
     */
    async resendAsTemplate(a: { bookingId: number; idempotencyKey: string }): Promise<SendResult | undefined> {
      const original = await findOutboundByIdempotencyKey(db, a.idempotencyKey);
      if (!original || original.bookingId !== a.bookingId) return undefined;
      const booking = await details(a.bookingId);
      const recipient = GUEST_TEMPLATE_PURPOSES.has(original.purpose as NotificationPurpose)
        ? await guestRecipient(a.bookingId)
        : await memberRecipient(booking.restaurant.id, original.phone);
      if (!recipient || recipient.phone !== original.phone) return undefined; // a manager since removed from the restaurant
      return send({ purpose: original.purpose as NotificationPurpose, recipient, booking, round: original.round, viaTemplate: true });
    },
  };
}

/**
 * Meta's classified errors become Temporal retry decisions: permanent ones stop retrying and
 * carry the code for the workflow; retryable ones may ask for a specific delay (131056), and
 * those with a cap (server errors) become permanent on the attempt that reaches it, so the
 * workflow hears of them instead of retrying until the schedule-to-close timeout.
 */
function asActivityFailure(err: unknown): unknown {
  if (!isWhatsAppSendError(err)) return err;
  const exhausted = err.maxAttempts !== undefined && activityInfo().attempt >= err.maxAttempts;
  if (!err.retryable || exhausted) {
    return ApplicationFailure.create({
      message: err.message,
      type: PERMANENT_SEND_FAILURE,
      nonRetryable: true,
      details: [{ code: err.code }],
    });
  }
  return ApplicationFailure.create({
    message: err.message,
    type: 'WhatsAppRetryableError',
    details: [{ code: err.code }],
    nextRetryDelay: err.retryAfterMs,
  });
}
