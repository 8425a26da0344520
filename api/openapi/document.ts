import { z } from 'zod';
import { createDocument, type oas31, type ZodOpenApiOperationObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { INBOX_STATES } from '../../db/messages';
import { RETRY_AFTER_SECONDS } from '../errors';
import { approveBody, arrivalBody, confirmBody, listQuery as bookingListQuery, reasonBody } from '../routes/admin/bookings';
import { listQuery as inboxListQuery } from '../routes/admin/inbox';
import { messageLogQuery } from '../routes/admin/messages';
import { statsQuery } from '../routes/admin/stats';
import { consoleEntryQuery, consoleLoginBody } from '../routes/console';
import { memberSchema, menuItemSchema, newRestaurantSchema, restaurantPatchSchema, tableSchema } from '../routes/admin/restaurants';
import { bookingRequest, idempotencyKeyHeader } from '../routes/bookings';
import { CODEC_COOKIE, payloadsBody } from '../routes/codec';
import { WHATSAPP_WEBHOOK_PATH } from '../routes/whatsappWebhook';
import { WAHA_WEBHOOK_PATH } from '../routes/wahaWebhook';
import { accountPatchSchema, accountTestBody, newAccountSchema, qrQuery } from '../routes/admin/whatsappAccounts';
import { WAHA_HMAC_ALGORITHM_HEADER, WAHA_HMAC_HEADER } from '../../whatsapp/waha/events';
import { CONSOLE_COOKIE, CONSOLE_REQUEST_HEADER } from '../console/session';
import { idSchema } from '../validation';
import { version } from '../../package.json';
import * as out from './responses';

/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas the routes validate with
 * (request side) and api/openapi/responses.ts (answers). test/openapi.test.ts walks the
 * express app and fails for a route missing here.
 */

const json = <S extends z.ZodType>(schema: S) => ({ 'application/json': { schema } });
const ok = <S extends z.ZodType>(description: string, schema: S) => ({ description, content: json(schema) });

const WHEN = {
  400: 'Invalid request (validation_failed lists every problem, invalid_json, bad_request)',
  401: 'Missing or wrong bearer token (unauthorized)',
  403: 'Refused (forbidden)',
  404: 'No such resource (not_found)',
  409: 'Conflict with the current state (conflict, not_allowed_in_status)',
  413: 'Body over the limit (payload_too_large)',
  415: 'Unsupported charset or content encoding (unsupported_media_type)',
  429: 'Too many requests (rate_limited); RateLimit headers say when to retry',
  503: `Postgres or Temporal unreachable (unavailable); Retry-After: ${RETRY_AFTER_SECONDS}`,
} as const;
/** Error answers in the one shape; every operation also has it as its `default` (500 internal and the rest). */
function errors(...statuses: (keyof typeof WHEN)[]): ZodOpenApiResponsesObject {
  const responses: ZodOpenApiResponsesObject = {
    default: { description: 'Any other error, e.g. 500 internal', content: json(out.errorBody) },
  };
  for (const status of statuses) responses[`${status}` as `${4 | 5}${string}`] = { description: WHEN[status], content: json(out.errorBody) };
  return responses;
}

/** Every JSON body route answers these: a body that is not JSON, too large, in an odd charset. */
const BODY_ERRORS = [400, 413, 415] as const;
/** The admin token, or a console session (whose writes also need its request header; managers are kept to their restaurants, else 403). */
const ADMIN: oas31.SecurityRequirementObject[] = [{ adminToken: [] }, { consoleSession: [] }];

const pathIds = <K extends string>(...names: K[]) =>
  z.object(Object.fromEntries(names.map((name) => [name, idSchema])) as Record<K, typeof idSchema>);

const idempotencyKey = (description: string) => z.object({ 'idempotency-key': idempotencyKeyHeader.optional().meta({ description }) });

const decisionKey = idempotencyKey('A retry with the same key joins the first attempt and answers its outcome.');

function decision(summary: string, body: z.ZodType, description: string): ZodOpenApiOperationObject {
  return {
    tags: ['Admin: bookings'],
    summary,
    description: `${description} Runs a workflow Update; the answer is the status the booking really reached.`,
    security: ADMIN,
    requestParams: { path: pathIds('restaurantId', 'bookingId'), header: decisionKey },
    requestBody: { required: true, content: json(body) },
    responses: {
      200: ok('The decision was applied', out.decisionOutcome),
      ...errors(...BODY_ERRORS, 401, 403, 404, 409, 503),
    },
  };
}

export function buildOpenApiDocument() {
  return createDocument({
    openapi: '3.1.1',
    info: {
      title: 'wa-booking API',
      version,
      description: [
        'WhatsApp booking confirmation: a restaurant site creates a DRAFT booking, the guest claims it in WhatsApp,',
        'a manager approves or rejects it there. Every error has one shape (the `Error` schema).',
        '',
        'Not documented here: `/sandbox/*`, the page and its API that exist only in sandbox mode (`npm start` for development).',
      ].join('\n'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'Bookings', description: 'The public API restaurant websites call.' },
      { name: 'Admin: bookings', description: 'The back office: decisions and booking views.' },
      { name: 'Admin: restaurants', description: 'Restaurants, tables, menu items and managers.' },
      { name: 'Admin: WhatsApp accounts', description: 'The WhatsApp numbers restaurants send from: Cloud API numbers and WAHA sessions.' },
      { name: 'Admin: inbox', description: 'The WhatsApp inbox and its dead letter.' },
      { name: 'Admin: reports', description: 'Statistics and the message log.' },
      { name: 'Console', description: 'The restaurant console page and its sign-in.' },
      { name: 'WhatsApp', description: "Meta's and WAHA's webhooks." },
      { name: 'Operations', description: 'Health, metrics, the Temporal UI codec and this reference.' },
    ],
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN; /metrics is open when it is unset' },
        codecCookie: { type: 'apiKey', in: 'cookie', name: CODEC_COOKIE, description: 'Set by POST /codec/login' },
        consoleSession: {
          type: 'apiKey',
          in: 'cookie',
          name: CONSOLE_COOKIE,
          description: `Set by POST /console/api/login or a manager's console link; writes also need ${CONSOLE_REQUEST_HEADER}: 1`,
        },
      },
      // Only named in a description (an event stream's items have no schema slot in 3.1).
      schemas: { BookingStatusEvent: out.statusEvent },
    },
    paths: {
      '/api/bookings': {
        post: {
          tags: ['Bookings'],
          summary: 'Create a DRAFT booking',
          description: 'Answers the WhatsApp link whose prefilled text claims the booking. Rate-limited per client address.',
          requestParams: {
            header: idempotencyKey('A retry with the same key and body answers the first booking; another body is 409.'),
          },
          requestBody: { required: true, content: json(bookingRequest) },
          responses: {
            201: ok('Created (or the booking of an earlier request with the same Idempotency-Key)', out.bookingCreated),
            ...errors(...BODY_ERRORS, 404, 409, 429, 503),
          },
        },
      },
      '/api/bookings/{id}': {
        get: {
          tags: ['Bookings'],
          summary: "A booking's status",
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The booking', out.publicBooking), ...errors(404, 503) },
        },
      },
      '/api/bookings/{id}/events': {
        get: {
          tags: ['Bookings'],
          summary: "A booking's status as Server-Sent Events",
          description:
            '`event: status` with `BookingStatusEvent` data: first the current status, then each change; the stream ends after a final status.',
          requestParams: { path: pathIds('id') },
          responses: {
            200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } },
            ...errors(404, 503),
          },
        },
      },
      '/admin-api/booking/{id}/confirm': {
        post: {
          tags: ['Admin: bookings'],
          summary: 'Claim a DRAFT booking for a guest (as if they had sent the claim text)',
          security: ADMIN,
          requestParams: { path: pathIds('id'), header: decisionKey },
          requestBody: { required: true, content: json(confirmBody) },
          responses: { 200: ok('Claimed: the booking is PENDING', out.decisionOutcome), ...errors(...BODY_ERRORS, 401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/r/{restaurantId}/booking/{bookingId}/approve': {
        post: decision('Approve a PENDING booking', approveBody, 'managerId names the member who decided (default: the admin).'),
      },
      '/admin-api/r/{restaurantId}/booking/{bookingId}/reject': {
        post: decision('Reject a PENDING booking', reasonBody, 'The reason is told to the guest.'),
      },
      '/admin-api/r/{restaurantId}/booking/{bookingId}/cancel': {
        post: decision('Cancel a PENDING or APPROVED booking', reasonBody, 'The reason is told to the guest.'),
      },
      '/admin-api/r/{restaurantId}/booking/{bookingId}/arrived': {
        post: decision('The guest of an APPROVED booking arrived: SEATED', arrivalBody, 'COMPLETED follows at the end of the slot.'),
      },
      '/admin-api/r/{restaurantId}/booking/{bookingId}/no-show': {
        post: decision('The guest of an APPROVED booking did not come: NO_SHOW', arrivalBody, 'Refused (409) before the start.'),
      },
      '/admin-api/r/{restaurantId}/bookings': {
        get: {
          tags: ['Admin: bookings'],
          summary: "A restaurant's bookings by start time, a page at a time",
          security: ADMIN,
          requestParams: { path: pathIds('restaurantId'), query: bookingListQuery },
          responses: { 200: ok('A page of bookings', out.bookingPage), ...errors(400, 401, 403, 404, 503) },
        },
      },
      '/admin-api/bookings/{id}': {
        get: {
          tags: ['Admin: bookings'],
          summary: 'One booking with its guest, pre-order, history and messages',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The booking record', out.bookingRecord), ...errors(401, 403, 404, 503) },
        },
      },
      '/admin-api/r/{restaurantId}/bookings/events': {
        get: {
          tags: ['Admin: bookings'],
          summary: "Every status change of a restaurant's bookings as Server-Sent Events",
          description:
            '`event: ready` first, then `event: booking` with `{id, from, to}` per change in commit order; `event: resync` when changes may have been missed (read the list again).',
          security: ADMIN,
          requestParams: { path: pathIds('restaurantId') },
          responses: { 200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errors(401, 403, 404, 503) },
        },
      },
      '/admin-api/stats': {
        get: {
          tags: ['Admin: reports'],
          summary: "A restaurant's booking and message figures over a window of bookings.created_at",
          description: 'from defaults to 30 days before to, to to now; at most 366 days. managerId: see what that manager sees.',
          security: ADMIN,
          requestParams: { query: statsQuery.in },
          responses: { 200: ok('The figures', out.stats), ...errors(400, 401, 403, 404, 503) },
        },
      },
      '/admin-api/messages': {
        get: {
          tags: ['Admin: reports'],
          summary: 'The WhatsApp message log, newest first, a page at a time',
          description: 'A manager (or an admin with managerId) sees only their restaurants\' bookings, phones masked, no payloads.',
          security: ADMIN,
          requestParams: { query: messageLogQuery },
          responses: { 200: ok('A page of messages', out.messageLogPage), ...errors(400, 401, 403, 503) },
        },
      },
      '/admin-api/restaurants': {
        post: {
          tags: ['Admin: restaurants'],
          summary: 'Create a restaurant',
          security: ADMIN,
          requestBody: { required: true, content: json(newRestaurantSchema) },
          responses: {
            201: { ...ok('Created; Location names it', out.restaurant), headers: z.object({ location: z.string() }) },
            ...errors(...BODY_ERRORS, 401, 403, 409, 503),
          },
        },
      },
      '/admin-api/restaurants/{id}': {
        get: {
          tags: ['Admin: restaurants'],
          summary: 'A restaurant with its tables, menu items and managers',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The restaurant', out.restaurantDetails), ...errors(401, 403, 404, 503) },
        },
        patch: {
          tags: ['Admin: restaurants'],
          summary: "Change a restaurant's name, zone, language or timing settings",
          description: 'null resets a timing setting to the config default; reminder < escalation < timeout must hold.',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          requestBody: { required: true, content: json(restaurantPatchSchema) },
          responses: { 200: ok('The changed restaurant', out.restaurant), ...errors(...BODY_ERRORS, 401, 403, 404, 503) },
        },
      },
      '/admin-api/restaurants/{id}/tables': {
        post: {
          tags: ['Admin: restaurants'],
          summary: 'Add a table',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          requestBody: { required: true, content: json(tableSchema) },
          responses: { 201: ok('Created', out.table), ...errors(...BODY_ERRORS, 401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/restaurants/{id}/menu-items': {
        post: {
          tags: ['Admin: restaurants'],
          summary: 'Add a menu item',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          requestBody: { required: true, content: json(menuItemSchema) },
          responses: { 201: ok('Created', out.menuItem), ...errors(...BODY_ERRORS, 401, 403, 404, 503) },
        },
      },
      '/admin-api/restaurants/{id}/managers': {
        post: {
          tags: ['Admin: restaurants'],
          summary: 'Make a person (by phone) a manager or owner',
          description: 'A phone that is already a member is 409 (details.userId names it).',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          requestBody: { required: true, content: json(memberSchema) },
          responses: { 201: ok('Created', out.member), ...errors(...BODY_ERRORS, 401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/restaurants/{id}/managers/{userId}': {
        delete: {
          tags: ['Admin: restaurants'],
          summary: 'Remove a manager or owner',
          security: ADMIN,
          requestParams: { path: pathIds('id', 'userId') },
          responses: { 204: { description: 'Removed' }, ...errors(401, 403, 404, 503) },
        },
      },
      '/admin-api/whatsapp-accounts': {
        post: {
          tags: ['Admin: WhatsApp accounts'],
          summary: 'Add a Cloud API number or a WAHA session',
          description: 'Credentials are stored encrypted (WHATSAPP_CREDENTIALS_KEYS) and never answered. 503 when no key is configured.',
          security: ADMIN,
          requestBody: { required: true, content: json(newAccountSchema) },
          responses: {
            201: { ...ok('Created; Location names it', out.whatsappAccount), headers: z.object({ location: z.string() }) },
            ...errors(...BODY_ERRORS, 401, 403, 409, 503),
          },
        },
        get: {
          tags: ['Admin: WhatsApp accounts'],
          summary: 'Every account',
          security: ADMIN,
          responses: { 200: ok('The accounts, oldest first', out.whatsappAccountList), ...errors(401, 403, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}': {
        get: {
          tags: ['Admin: WhatsApp accounts'],
          summary: 'One account',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The account', out.whatsappAccount), ...errors(401, 403, 404, 503) },
        },
        patch: {
          tags: ['Admin: WhatsApp accounts'],
          summary: "Change an account's name, number, provider ids or credentials",
          description: "A credential absent is kept, null clears an optional one. The other provider's fields are 400; the provider never changes.",
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          requestBody: { required: true, content: json(accountPatchSchema) },
          responses: { 200: ok('The changed account', out.whatsappAccount), ...errors(...BODY_ERRORS, 401, 403, 404, 409, 503) },
        },
        delete: {
          tags: ['Admin: WhatsApp accounts'],
          summary: 'Remove an account no restaurant sends from',
          description: 'While restaurants point at it: 409 conflict, details.restaurantIds naming them.',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 204: { description: 'Removed' }, ...errors(401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}/test': {
        post: {
          tags: ['Admin: WhatsApp accounts'],
          summary: 'Send a test text through the account',
          description: "Answers what the provider did (sent, or failed with its error); recorded in the message log. A retry with the same Idempotency-Key sends nothing again.",
          security: ADMIN,
          requestParams: { path: pathIds('id'), header: idempotencyKey('A retry with the same key answers the first attempt.') },
          requestBody: { required: true, content: json(accountTestBody) },
          responses: { 200: ok('What happened', out.whatsappAccountTest), ...errors(...BODY_ERRORS, 401, 403, 404, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}/session': {
        get: {
          tags: ['Admin: WhatsApp accounts'],
          summary: "A WAHA account's session, as WAHA reports it",
          description: 'A Cloud API account has none: 409. WAHA unreachable or failing: 503; refusing (e.g. a wrong API key): 409.',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The session', out.wahaSession), ...errors(401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}/session/start': {
        post: {
          tags: ['Admin: WhatsApp accounts'],
          summary: "Start a WAHA account's session",
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The session', out.wahaSession), ...errors(401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}/session/stop': {
        post: {
          tags: ['Admin: WhatsApp accounts'],
          summary: "Stop a WAHA account's session",
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('The session', out.wahaSession), ...errors(401, 403, 404, 409, 503) },
        },
      },
      '/admin-api/whatsapp-accounts/{id}/qr': {
        get: {
          tags: ['Admin: WhatsApp accounts'],
          summary: "The QR code that pairs a WAHA account's session with a phone",
          description: 'While the session is SCAN_QR_CODE; otherwise WAHA refuses (409).',
          security: ADMIN,
          requestParams: { path: pathIds('id'), query: qrQuery },
          responses: {
            200: {
              description: 'format=image: the PNG; format=raw: the value to render',
              content: { 'image/png': { schema: z.string().meta({ format: 'binary' }) }, 'application/json': { schema: z.strictObject({ value: z.string() }) } },
            },
            ...errors(401, 403, 404, 409, 503),
          },
        },
      },
      '/admin-api/inbox': {
        get: {
          tags: ['Admin: inbox'],
          summary: 'Inbox rows, newest first, a page at a time',
          description: `States: ${INBOX_STATES.join(', ')}.`,
          security: ADMIN,
          requestParams: { query: inboxListQuery },
          responses: { 200: ok('A page of inbox rows', out.inboxPage), ...errors(400, 401, 403, 503) },
        },
      },
      '/admin-api/inbox/{id}/retry': {
        post: {
          tags: ['Admin: inbox'],
          summary: 'Send a dead row back for another round of attempts',
          security: ADMIN,
          requestParams: { path: pathIds('id') },
          responses: { 200: ok('Due again', out.inboxRetried), ...errors(401, 403, 404, 409, 503) },
        },
      },
      [WAHA_WEBHOOK_PATH]: {
        post: {
          tags: ['WhatsApp'],
          summary: "WAHA's events (message, message.ack, session.status), routed to an account by session",
          description:
            'Answered 200 once stored. A session whose account has a webhook HMAC key must sign every delivery (401 otherwise); a session no account has is stored as foreign and ignored.',
          requestParams: {
            header: z.object({
              [WAHA_HMAC_HEADER]: z.string().optional().meta({ description: 'Lowercase hex HMAC-SHA512 of the raw body with the hmac.key' }),
              [WAHA_HMAC_ALGORITHM_HEADER]: z.literal('sha512').optional(),
            }),
          },
          requestBody: {
            required: true,
            content: json(z.looseObject({ event: z.string(), session: z.string(), payload: z.unknown() }).meta({ description: 'https://waha.devlike.pro/docs/how-to/events/' })),
          },
          responses: { 200: { description: 'Stored', content: { 'text/plain': { schema: z.string() } } }, ...errors(400, 401, 413, 503) },
        },
      },
      [WHATSAPP_WEBHOOK_PATH]: {
        get: {
          tags: ['WhatsApp'],
          summary: "Meta's verification handshake",
          requestParams: {
            query: z.object({ 'hub.mode': z.literal('subscribe'), 'hub.verify_token': z.string(), 'hub.challenge': z.string() }),
          },
          responses: {
            200: { description: 'The challenge, echoed', content: { 'text/plain': { schema: z.string() } } },
            ...errors(403),
          },
        },
        post: {
          tags: ['WhatsApp'],
          summary: 'Deliveries of messages and statuses',
          description: 'Answered 200 once stored; acting on them happens afterwards. Signed by Meta with WHATSAPP_APP_SECRET.',
          requestParams: {
            header: z.object({ 'x-hub-signature-256': z.string().meta({ description: 'sha256=<HMAC-SHA256 of the raw body>' }) }),
          },
          requestBody: { required: true, content: json(z.looseObject({ object: z.string(), entry: z.array(z.unknown()) })) },
          responses: {
            200: { description: 'Stored', content: { 'text/plain': { schema: z.literal('OK') } } },
            ...errors(400, 401, 413, 503),
          },
        },
      },
      '/health': {
        get: {
          tags: ['Operations'],
          summary: 'Whether Postgres and Temporal answer',
          responses: {
            200: ok('Both answer', out.health),
            503: ok('One of them does not', out.health),
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['Operations'],
          summary: "Prometheus' text format",
          security: [{ metricsToken: [] }, {}],
          responses: {
            200: { description: 'The series', content: { 'text/plain': { schema: z.string() } } },
            ...errors(401),
          },
        },
      },
      '/codec/login': {
        get: {
          tags: ['Operations'],
          summary: 'The sign-in page for decoding payloads in the Temporal UI',
          responses: { 200: { description: 'HTML form', content: { 'text/html': { schema: z.string() } } } },
        },
        post: {
          tags: ['Operations'],
          summary: 'Sign in with the admin token: sets the codec cookie',
          requestBody: {
            required: true,
            content: { 'application/x-www-form-urlencoded': { schema: z.object({ token: z.string() }) } },
          },
          responses: {
            200: {
              description: `Signed in; Set-Cookie ${CODEC_COOKIE} (HttpOnly, SameSite=Strict, path /codec)`,
              content: { 'text/html': { schema: z.string() } },
            },
            ...errors(400, 401, 413),
          },
        },
      },
      '/codec/decode': { post: codecOperation('decode') },
      '/codec/encode': { post: codecOperation('encode') },
      '/console': {
        get: {
          tags: ['Console'],
          summary: "The restaurant's live board (static page); a manager's WhatsApp link signs in",
          requestParams: { query: consoleEntryQuery },
          responses: {
            200: { description: 'The page', content: { 'text/html': { schema: z.string() } } },
            303: {
              description: 'A link was traded for the session cookie (or refused): to the page, or to ?signin=refused',
              headers: z.object({ location: z.string() }),
            },
            ...errors(400),
          },
        },
      },
      '/console/api/login': {
        post: {
          tags: ['Console'],
          summary: 'Sign in with the admin token: sets the console session cookie',
          requestBody: { required: true, content: json(consoleLoginBody) },
          responses: { 204: { description: `Signed in; Set-Cookie ${CONSOLE_COOKIE}` }, ...errors(...BODY_ERRORS, 401) },
        },
      },
      '/console/api/logout': {
        post: {
          tags: ['Console'],
          summary: 'End the console session',
          requestParams: { header: z.object({ [CONSOLE_REQUEST_HEADER.toLowerCase()]: z.literal('1') }) },
          responses: { 204: { description: 'Signed out; the cookie is cleared' }, ...errors(401) },
        },
      },
      '/console/api/session': {
        get: {
          tags: ['Console'],
          summary: 'Who is signed in, the restaurants the page offers and the actions by status',
          security: [{ consoleSession: [] }],
          responses: { 200: ok('The session', out.consoleSession), ...errors(401, 503) },
        },
      },
      '/openapi.json': {
        get: {
          tags: ['Operations'],
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } } } },
        },
      },
      '/docs': {
        get: {
          tags: ['Operations'],
          summary: 'This document as a readable reference (Swagger UI)',
          responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
        },
      },
    },
  });
}

function codecOperation(direction: 'decode' | 'encode'): ZodOpenApiOperationObject {
  return {
    tags: ['Operations'],
    summary: `${direction === 'decode' ? 'Decrypt' : 'Encrypt'} Temporal payloads (the codec-server protocol)`,
    security: [{ adminToken: [] }, { codecCookie: [] }],
    requestParams: { header: z.object({ 'x-namespace': z.string().optional().meta({ description: 'Must be the configured namespace' }) }) },
    requestBody: { required: true, content: json(payloadsBody) },
    responses: {
      200: ok('The payloads, converted', z.strictObject({ payloads: z.array(z.strictObject({ metadata: z.record(z.string(), z.string()), data: z.string() })) })),
      ...errors(...BODY_ERRORS, 401),
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;
