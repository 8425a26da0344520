import { z } from 'zod';
import 'zod-openapi';
import { ACTOR_TYPES, BOOKING_EVENTS, BOOKING_STATUSES, LANGUAGES, MEMBERSHIP_ROLES } from '../../domain/booking';
import { INBOX_STATES } from '../../db/messages';
import { ERROR_CODES } from '../errors';

/**
 * What the API answers, as zod schemas for the OpenAPI document. The routes build their
 * answers from database rows; the e2e tests validate every answer they get against these
 * (test/helpers/openapi.ts), so a field added to a row and not here fails them.
 */

const id = z.int().min(1);
const timestamp = z.iso.datetime({ offset: true });
const status = z.enum(BOOKING_STATUSES).meta({ id: 'BookingStatus', description: 'domain/booking.ts: BOOKING_STATUSES' });
const language = z.enum(LANGUAGES).meta({ id: 'Language' });

export const errorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(ERROR_CODES).meta({ description: 'Stable; clients branch on it. The table in api/errors.ts says when each is used.' }),
      message: z.string().meta({ description: 'For people; may change.' }),
      details: z.unknown().optional().meta({
        description: 'validation_failed: a list of {in, path, message}; not_allowed_in_status: {status}; others: varies',
      }),
    }),
  })
  .meta({ id: 'Error', description: 'The one error shape of the whole API.' });

export const bookingCreated = z
  .strictObject({
    id,
    status,
    claimText: z.string().meta({ description: 'The text the guest sends to the bot; it carries the claim code.' }),
    whatsappUrl: z.url().meta({ description: 'wa.me link with claimText prefilled.' }),
    expiresAt: timestamp.meta({ description: 'The DRAFT expires unless claimed by then.' }),
  })
  .meta({ id: 'BookingCreated' });

export const publicBooking = z
  .strictObject({ id, status, restaurantId: id, tableId: id, startsAt: timestamp, partySize: z.int().min(1) })
  .meta({ id: 'PublicBooking', description: 'Nothing personal: anyone with the id may read it.' });

export const statusEvent = z
  .strictObject({ id, status, final: z.boolean() })
  .meta({ id: 'BookingStatusEvent', description: 'The data of one `event: status` of the stream.' });

export const decisionOutcome = z.strictObject({ status }).meta({ id: 'DecisionOutcome', description: 'The status the workflow reached.' });

/** A bookings row less the claim code, the Idempotency-Key and the request hash. */
export const adminBooking = z
  .strictObject({
    id,
    restaurantId: id,
    tableId: id,
    clientId: id.nullable(),
    status,
    startsAt: timestamp,
    endsAt: timestamp,
    partySize: z.int().min(1),
    guestName: z.string().nullable(),
    specialRequests: z.string().nullable(),
    language: language.nullable(),
    claimExpiresAt: timestamp,
    workflowId: z.string(),
    decidedByType: z.enum(ACTOR_TYPES).nullable(),
    decidedByUserId: id.nullable(),
    decidedAt: timestamp.nullable(),
    decisionReason: z.string().nullable(),
    guestConfirmedAt: timestamp.nullable().meta({ description: 'When the guest answered the reminder with Confirm' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'AdminBooking' });

export const bookingPage = z
  .strictObject({
    items: z.array(adminBooking),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  })
  .meta({ id: 'BookingPage' });

export const bookingRecord = z
  .strictObject({
    booking: adminBooking,
    guest: z.strictObject({ id, phone: z.string(), name: z.string().nullable(), language: language.nullable() }).nullable(),
    items: z.array(z.strictObject({ menuItemId: id, name: z.string(), quantity: z.int().min(1), notes: z.string().nullable() })),
    history: z.array(
      z.strictObject({
        from: status.nullable(),
        to: status,
        event: z.enum(BOOKING_EVENTS).nullable().meta({ description: 'Set on a row that records an event, not a status change (from = to)' }),
        actorType: z.enum(ACTOR_TYPES),
        actorId: id.nullable(),
        reason: z.string().nullable(),
        at: timestamp,
      }),
    ),
    messages: z.array(
      z.strictObject({
        id,
        direction: z.enum(['in', 'out']),
        purpose: z.string(),
        phone: z.string(),
        status: z.string(),
        providerMessageId: z.string().nullable(),
        errorCode: z.int().nullable(),
        errorTitle: z.string().nullable(),
        createdAt: timestamp,
        updatedAt: timestamp,
      }),
    ),
  })
  .meta({ id: 'BookingRecord', description: 'One booking with its guest, pre-order, status history and WhatsApp messages.' });

const minutes = z.int().min(1);
export const restaurant = z
  .strictObject({
    id,
    name: z.string(),
    timezone: z.string().meta({ example: 'Asia/Almaty' }),
    managerLanguageCode: language,
    decisionReminderMinutes: minutes.nullable(),
    escalateMinutes: minutes.nullable(),
    decisionTimeoutMinutes: minutes.nullable(),
    slotMinutes: minutes.nullable(),
    phone: z.string().nullable().meta({ description: 'E.164; told to a guest who must call' }),
    reminderMinutes: z.array(minutes).nullable().meta({ description: 'Guest reminders, minutes before the start; null: the config default' }),
    guestCancelCutoffMinutes: z.int().min(0).nullable(),
    whatsappAccountId: id.nullable().meta({ description: 'The WhatsApp account it sends from; null: the default account from config' }),
    createdAt: timestamp,
    updatedAt: timestamp,
    effective: z
      .strictObject({
        decisionReminderMinutes: z.number(),
        escalateMinutes: z.number(),
        decisionTimeoutMinutes: z.number(),
        slotMinutes: z.number(),
        reminderMinutes: z.array(z.number()),
        guestCancelCutoffMinutes: z.number(),
      })
      .meta({ description: 'The settings in force: the null ones take the defaults from config.' }),
  })
  .meta({ id: 'Restaurant' });

export const table = z
  .strictObject({ id, restaurantId: id, name: z.string(), seats: z.int().min(1), features: z.array(z.string()) })
  .meta({ id: 'Table' });

export const menuItem = z
  .strictObject({ id, restaurantId: id, name: z.string(), priceMinor: z.int().min(0).nullable(), currency: z.string().nullable() })
  .meta({ id: 'MenuItem' });

export const member = z
  .strictObject({
    id: id.meta({ description: 'The user id (shared by phone across restaurants).' }),
    name: z.string(),
    phone: z.string().meta({ description: 'E.164' }),
    role: z.enum(MEMBERSHIP_ROLES),
    language: language.nullable(),
  })
  .meta({ id: 'Member' });

export const restaurantDetails = restaurant
  .extend({ tables: z.array(table), menuItems: z.array(menuItem), members: z.array(member) })
  .meta({ id: 'RestaurantDetails' });

export const inboxRow = z
  .strictObject({
    id,
    direction: z.enum(['in', 'out']),
    providerMessageId: z.string().nullable(),
    phone: z.string(),
    bookingId: id.nullable(),
    purpose: z.string(),
    idempotencyKey: z.string().nullable(),
    payload: z.unknown(),
    status: z.string(),
    errorCode: z.int().nullable(),
    errorTitle: z.string().nullable(),
    processedAt: timestamp.nullable(),
    attempts: z.int().min(0),
    lastError: z.string().nullable(),
    nextAttemptAt: timestamp.nullable(),
    deadAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    state: z.enum(INBOX_STATES),
  })
  .meta({ id: 'InboxRow' });

export const inboxPage = z.strictObject({ items: z.array(inboxRow), nextCursor: z.string().nullable() }).meta({ id: 'InboxPage' });

export const inboxRetried = z.strictObject({ id, state: z.enum(INBOX_STATES) });

export const health = z
  .strictObject({
    status: z.enum(['ok', 'unavailable']),
    checks: z.strictObject({ postgres: z.string(), temporal: z.string() }).meta({ description: '"ok", or why the check failed' }),
  })
  .meta({ id: 'Health' });

const count = z.int().min(0);
const share = z.number().min(0).max(1).nullable();
export const stats = z
  .strictObject({
    restaurantId: id,
    from: timestamp,
    to: timestamp,
    bookings: z.strictObject({
      total: count,
      byStatus: z.record(status, count).meta({ description: 'Current status of each booking; every status is present.' }),
      claimed: count.meta({ description: 'Reached PENDING (the guest sent the claim).' }),
      resolved: count.meta({ description: 'Claimed and no longer PENDING.' }),
      approved: count,
      confirmationRate: share.meta({ description: 'approved / claimed; null when nothing was claimed.' }),
      cancellations: count.optional(),
      noShows: count.optional(),
    }),
    decisions: z.strictObject({
      count,
      secondsToDecision: z.strictObject({ p50: z.number().nullable(), p90: z.number().nullable() }),
      beforeReminder: z.strictObject({ count, share }),
      afterEscalation: z.strictObject({ count, share }),
      expired: z.strictObject({ count, share }),
    }),
    messages: z.strictObject({
      byPurpose: z.array(
        z.strictObject({
          direction: z.enum(['in', 'out']),
          purpose: z.string(),
          statuses: z.record(z.string(), count).meta({ description: 'By latest status.' }),
          total: count,
          template: count.meta({ description: 'Sent as an approved template (outside the 24-hour window).' }),
        }),
      ),
      failures: z.array(z.strictObject({ purpose: z.string(), errorCode: z.int().nullable(), count })),
    }),
  })
  .meta({ id: 'Stats', description: 'Definitions: db/stats.ts and the README.' });

export const messageLogPage = z
  .strictObject({
    items: z.array(
      z.strictObject({
        id,
        direction: z.enum(['in', 'out']),
        purpose: z.string(),
        phone: z.string().meta({ description: 'E.164; masked for a manager' }),
        bookingId: id.nullable(),
        status: z.string(),
        type: z.string().nullable().meta({ description: 'The WhatsApp message type: text, interactive, template, ...' }),
        errorCode: z.int().nullable(),
        errorTitle: z.string().nullable(),
        providerMessageId: z.string().nullable(),
        payload: z.unknown().optional().meta({ description: 'The admin only' }),
        createdAt: timestamp,
        updatedAt: timestamp,
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'MessageLogPage' });

export const consoleSession = z
  .strictObject({
    kind: z.enum(['admin', 'manager']),
    name: z.string(),
    userId: id.optional(),
    restaurants: z.array(z.strictObject({ id, name: z.string(), timezone: z.string() })),
    requestHeader: z.string().meta({ description: 'The header (value 1) a console write must carry' }),
    actions: z.record(status, z.array(z.string())).meta({ description: 'The decision routes each status offers' }),
    finalStatuses: z.array(status),
  })
  .meta({ id: 'ConsoleSession' });

const accountCommon = { id, name: z.string(), displayNumber: z.string().meta({ description: 'E.164' }), createdAt: timestamp, updatedAt: timestamp };
export const whatsappAccount = z
  .discriminatedUnion('provider', [
    z.strictObject({
      ...accountCommon,
      provider: z.literal('cloud_api'),
      phoneNumberId: z.string(),
      hasAccessToken: z.boolean(),
      hasAppSecret: z.boolean(),
    }),
    z.strictObject({
      ...accountCommon,
      provider: z.literal('waha'),
      baseUrl: z.string(),
      session: z.string(),
      hasApiKey: z.boolean(),
      hasWebhookHmacKey: z.boolean(),
      sessionStatus: z.string().nullable().meta({ description: 'The last session.status WAHA reported (STOPPED, STARTING, SCAN_QR_CODE, WORKING, FAILED)' }),
      sessionStatusAt: timestamp.nullable(),
    }),
  ])
  .meta({ id: 'WhatsAppAccount', description: 'Credentials are never shown: has* says whether one is set.' });

export const whatsappAccountList = z.strictObject({ items: z.array(whatsappAccount) }).meta({ id: 'WhatsAppAccountList' });

export const whatsappAccountTest = z
  .discriminatedUnion('status', [
    z.strictObject({ status: z.literal('sent'), messageId: z.string().meta({ description: "The provider's message id" }) }),
    z.strictObject({ status: z.literal('sending').meta({ description: 'A retry while the first attempt is under way' }) }),
    z.strictObject({
      status: z.literal('failed'),
      error: z.strictObject({
        title: z.string(),
        reason: z.string().optional(),
        retryable: z.boolean().optional(),
        code: z.int().optional().meta({ description: "Meta's error code (Cloud API)" }),
      }),
    }),
  ])
  .meta({ id: 'WhatsAppAccountTest' });

export const wahaSession = z
  .strictObject({
    name: z.string(),
    status: z.string().meta({ description: "WAHA's: STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED" }),
    me: z.strictObject({ id: z.string(), pushName: z.string().optional() }).nullable().meta({ description: 'The paired WhatsApp account' }),
  })
  .meta({ id: 'WahaSession' });
