import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../../config';
import type { Db } from '../../../db/knex';
import { claimOutbound, markOutboundError, markOutboundSent } from '../../../db/messages';
import {
  createAccount,
  deleteAccount,
  getAccount,
  listAccounts,
  updateAccount,
  WHATSAPP_PROVIDERS,
  type AccountWrite,
  type WhatsAppAccount,
} from '../../../db/whatsappAccounts';
import { maskPhone } from '../../../domain/phone';
import type { Logger } from '../../../observability/logger';
import { CREDENTIAL_FIELDS, CredentialSealError, type CredentialCipher, type CredentialField } from '../../../whatsapp/accounts/credentials';
import { isWhatsAppSendError, type WhatsAppSendError } from '../../../whatsapp/errors';
import { createGraphClient } from '../../../whatsapp/graphClient';
import { textMessage } from '../../../whatsapp/messages';
import { createWahaClient, type WahaClient } from '../../../whatsapp/waha/client';
import { ApiError, conflict, notFound, unavailable, validationFailed } from '../../errors';
import { parseBody, parseId, parseQuery, phoneNumber as phone, text } from '../../validation';
import { idempotencyKeyHeader } from '../bookings';

/**
 * /admin-api/whatsapp-accounts (admin only): the WhatsApp accounts restaurants send from.
 *
 * Choices callers rely on:
 * - credentials are write-only: an answer says `hasAccessToken: true`, never the value; a
 *   PATCH sets one (a string) or clears an optional one (null), and leaves it alone when absent;
 * - the provider of an account never changes (delete it and create another);
 * - DELETE of an account a restaurant sends from is 409 conflict, details.restaurantIds naming them;
 * - POST …/:id/test sends one text through the account and answers what happened: `sent`
 *   with the provider's message id, or `failed` with the provider's error; either way it is
 *   recorded in the message log. The same Idempotency-Key sends nothing twice;
 * - the session routes are WAHA's, passed through; on a Cloud API account they are 409.
 */

const name = text({ min: 1, max: 100 });
const secret = text({ min: 1, max: 2000 });
const phoneNumberId = z.string().regex(/^\d{1,30}$/, "must be the number's phone_number_id from Meta (digits)");
// WAHA session names: what its dashboard and API accept, and safe in a URL path.
const session = z.string().regex(/^[A-Za-z0-9_-]{1,54}$/, 'must be 1 to 54 letters, digits, "_" or "-"');
const baseUrl = z
  .url({ protocol: /^https?$/, error: 'must be the http(s) URL of the WAHA server, e.g. http://waha:3000' })
  .max(500)
  // Zod runs this after a failed URL check too: what does not parse is that check's to report.
  .refine((u) => !URL.canParse(u) || (!new URL(u).search && !new URL(u).hash), 'must not have a query or a fragment')
  .transform((u) => u.replace(/\/+$/, ''));

export const newAccountSchema = z.discriminatedUnion('provider', [
  z.strictObject({
    provider: z.literal('cloud_api'),
    name,
    displayNumber: phone,
    phoneNumberId,
    accessToken: secret,
    /** Signs the webhook deliveries of the number's Meta app. */
    appSecret: secret.optional(),
  }),
  z.strictObject({
    provider: z.literal('waha'),
    name,
    displayNumber: phone,
    baseUrl,
    session,
    /** WAHA's X-Api-Key, when the server has one (WHATSAPP_API_KEY). */
    apiKey: secret.optional(),
    /** The session webhook's hmac.key: deliveries must then be signed. */
    webhookHmacKey: secret.optional(),
  }),
]);

export const accountPatchSchema = z.strictObject({
  name: name.optional(),
  displayNumber: phone.optional(),
  phoneNumberId: phoneNumberId.optional(),
  accessToken: secret.optional(),
  appSecret: secret.nullable().optional(),
  baseUrl: baseUrl.optional(),
  session: session.optional(),
  apiKey: secret.nullable().optional(),
  webhookHmacKey: secret.nullable().optional(),
});

export const accountTestBody = z.strictObject({
  phone,
  text: text({ min: 1, max: 1000 }).optional(),
});

export const qrQuery = z.strictObject({ format: z.enum(['image', 'raw']).default('image') });

/** The fields each provider has; the others are refused in a patch. */
const PROVIDER_FIELDS: Record<(typeof WHATSAPP_PROVIDERS)[number], readonly string[]> = {
  cloud_api: ['phoneNumberId', 'accessToken', 'appSecret'],
  waha: ['baseUrl', 'session', 'apiKey', 'webhookHmacKey'],
};

const DEFAULT_TEST_TEXT = 'wa-booking: a test message from this WhatsApp account.';

/** What the API shows of an account: never a credential, only whether it is set. */
function accountView(a: WhatsAppAccount) {
  const common = { id: a.id, name: a.name, provider: a.provider, displayNumber: a.displayNumber, createdAt: a.createdAt, updatedAt: a.updatedAt };
  if (a.provider === 'cloud_api') {
    return { ...common, phoneNumberId: a.phoneNumberId, hasAccessToken: a.sealed.accessToken !== null, hasAppSecret: a.sealed.appSecret !== null };
  }
  return {
    ...common,
    baseUrl: a.baseUrl,
    session: a.session,
    hasApiKey: a.sealed.apiKey !== null,
    hasWebhookHmacKey: a.sealed.webhookHmacKey !== null,
    sessionStatus: a.sessionStatus,
    sessionStatusAt: a.sessionStatusAt,
  };
}

export interface WhatsAppAccountsDeps {
  db: Db;
  config: Pick<Config, 'WHATSAPP_API_URL' | 'WHATSAPP_API_VERSION'>;
  logger: Logger;
  credentials: () => CredentialCipher;
}

export function whatsappAccountsRouter({ db, config, logger, credentials }: WhatsAppAccountsDeps): Router {
  const router = Router();
  const log = logger.child({ component: 'whatsapp-accounts' });

  /** The cipher, or 503 naming the variable to set: without keys no credential is stored or read. */
  function cipher(): CredentialCipher {
    try {
      return credentials();
    } catch (err) {
      if (err instanceof CredentialSealError) throw unavailable(err.message);
      throw err;
    }
  }

  function open(account: WhatsAppAccount, field: CredentialField): string | undefined {
    const sealed = account.sealed[field];
    if (sealed === null) return undefined;
    try {
      return cipher().open(field, sealed);
    } catch (err) {
      if (!(err instanceof CredentialSealError)) throw err;
      log.error({ err, accountId: account.id, field }, "an account's credential cannot be opened");
      throw unavailable(`the account's ${field} cannot be read with the configured WHATSAPP_CREDENTIALS_KEYS`);
    }
  }

  /** A body as a write: its credentials sealed (null, which clears one, kept as is), the rest as given. */
  function toWrite(input: Record<string, unknown>): AccountWrite {
    const write: Record<string, unknown> = {};
    const sealed: NonNullable<AccountWrite['sealed']> = {};
    for (const [field, value] of Object.entries(input)) {
      if (!(CREDENTIAL_FIELDS as readonly string[]).includes(field)) write[field] = value;
      else if (value !== undefined) sealed[field as CredentialField] = value === null ? null : cipher().seal(field as CredentialField, value as string);
    }
    return { ...write, sealed };
  }

  async function load(req: Request): Promise<WhatsAppAccount> {
    const id = parseId(req, 'id', 'whatsapp account');
    const account = await getAccount(db, id);
    if (!account) throw notFound('whatsapp account', id);
    return account;
  }

  function wahaOf(account: WhatsAppAccount): WahaClient {
    if (account.provider !== 'waha') throw conflict(`whatsapp account ${account.id} is a ${account.provider} account: only a waha account has a session`);
    return createWahaClient({ baseUrl: account.baseUrl!, session: account.session!, apiKey: open(account, 'apiKey') });
  }

  /** A WAHA call for the admin: the client always closed, WAHA's refusals in the one error shape. */
  async function withWaha<T>(account: WhatsAppAccount, call: (waha: WahaClient) => Promise<T>): Promise<T> {
    const waha = wahaOf(account);
    try {
      return await call(waha);
    } catch (err) {
      throw isWhatsAppSendError(err) ? providerError(err) : err;
    } finally {
      await waha.close();
    }
  }

  router.post('/', async (req, res) => {
    const account = await createAccount(db, toWrite(parseBody(req, newAccountSchema)));
    log.info({ accountId: account.id, provider: account.provider }, 'whatsapp account created');
    res.status(201).location(`${req.baseUrl}/${account.id}`).json(accountView(account));
  });

  router.get('/', async (_req, res) => {
    res.json({ items: (await listAccounts(db)).map(accountView) });
  });

  router.get('/:id', async (req, res) => {
    res.json(accountView(await load(req)));
  });

  router.patch('/:id', async (req, res) => {
    const id = parseId(req, 'id', 'whatsapp account');
    const patch = parseBody(req, accountPatchSchema);
    const updated = await db.transaction(async (trx) => {
      const current = await getAccount(trx, id, { forUpdate: true });
      if (!current) return undefined;
      const foreign = Object.keys(patch).filter((field) => {
        const other = current.provider === 'waha' ? 'cloud_api' : 'waha';
        return PROVIDER_FIELDS[other].includes(field);
      });
      if (foreign.length) {
        throw validationFailed(foreign.map((field) => ({ in: 'body', path: field, message: `not a field of a ${current.provider} account` })));
      }
      return updateAccount(trx, id, toWrite(patch));
    });
    if (!updated) throw notFound('whatsapp account', id);
    log.info({ accountId: id, fields: Object.keys(patch) }, 'whatsapp account changed');
    res.json(accountView(updated));
  });

  router.delete('/:id', async (req, res) => {
    const id = parseId(req, 'id', 'whatsapp account');
    const { deleted, inUse } = await deleteAccount(db, id);
    if (inUse.length) throw conflict(`whatsapp account ${id} is used by restaurants ${inUse.join(', ')}: point them elsewhere first`, { restaurantIds: inUse });
    if (!deleted) throw notFound('whatsapp account', id);
    log.info({ accountId: id }, 'whatsapp account deleted');
    res.status(204).end();
  });

  router.post('/:id/test', async (req, res) => {
    const account = await load(req);
    const body = parseBody(req, accountTestBody);
    const header = req.get('idempotency-key');
    if (header !== undefined && !idempotencyKeyHeader.safeParse(header).success) {
      throw validationFailed([{ path: 'Idempotency-Key', message: 'the header must be 1 to 200 characters' }]);
    }
    const bodyText = body.text ?? DEFAULT_TEST_TEXT;
    // Opened before anything is recorded: an unreadable credential is the server's 503, not a failed send.
    const send = sender(account);
    const { claimed, row } = await claimOutbound(
      db,
      {
        idempotencyKey: `account:${account.id}:test:${header?.trim() ?? randomUUID()}`,
        phone: body.phone,
        purpose: 'account_test',
        payload: { accountId: account.id, provider: account.provider, text: bodyText },
        accountId: account.id,
      },
      { status: 'sending', leaseMs: 60_000 },
    );
    if (!claimed) {
      // A retry of a test already made (or under way): its outcome, not a second message.
      res.json(testOutcome(row.providerMessageId ? { messageId: row.providerMessageId } : row.status === 'failed' ? { title: row.errorTitle ?? 'failed' } : { pending: true }));
      return;
    }
    try {
      const { messageId } = await send(body.phone, bodyText);
      await markOutboundSent(db, row.id, messageId);
      log.info({ accountId: account.id, to: maskPhone(body.phone) }, 'test message sent');
      res.json(testOutcome({ messageId }));
    } catch (err) {
      if (!isWhatsAppSendError(err)) throw err;
      await markOutboundError(db, row.id, { code: err.code, title: err.title }, true);
      log.warn({ accountId: account.id, to: maskPhone(body.phone), reason: err.reason, error: err.title }, 'test message refused');
      res.json(testOutcome({ title: err.title, reason: err.reason, retryable: err.retryable, code: err.code }));
    }
  });

  /** How the account sends one text; the client lives for this one send. */
  function sender(account: WhatsAppAccount): (to: string, body: string) => Promise<{ messageId: string }> {
    if (account.provider === 'waha') {
      const apiKey = open(account, 'apiKey');
      return async (to, body) => {
        const waha = createWahaClient({ baseUrl: account.baseUrl!, session: account.session!, apiKey });
        return waha.sendText(to, body).finally(() => waha.close());
      };
    }
    const accessToken = open(account, 'accessToken')!;
    return async (to, body) => {
      const graph = createGraphClient({
        apiUrl: config.WHATSAPP_API_URL,
        apiVersion: config.WHATSAPP_API_VERSION,
        phoneNumberId: account.phoneNumberId!,
        accessToken,
        connections: 1,
      });
      return graph.send(textMessage(to, body)).finally(() => graph.close());
    };
  }

  router.get('/:id/session', async (req, res) => {
    const account = await load(req);
    res.json(await withWaha(account, (waha) => waha.session()));
  });

  router.post('/:id/session/start', async (req, res) => {
    const account = await load(req);
    res.json(await withWaha(account, (waha) => waha.start()));
  });

  router.post('/:id/session/stop', async (req, res) => {
    const account = await load(req);
    res.json(await withWaha(account, (waha) => waha.stop()));
  });

  router.get('/:id/qr', async (req, res) => {
    const account = await load(req);
    const { format } = parseQuery(req, qrQuery);
    if (format === 'raw') {
      res.json(await withWaha(account, (waha) => waha.qr('raw')));
      return;
    }
    const { png } = await withWaha(account, (waha) => waha.qr('image'));
    res.type('image/png').set('cache-control', 'no-store').send(png);
  });

  return router;
}

type TestOutcome =
  | { messageId: string }
  | { pending: true }
  | { title: string; reason?: string; retryable?: boolean; code?: number };

function testOutcome(o: TestOutcome) {
  if ('messageId' in o) return { status: 'sent' as const, messageId: o.messageId };
  if ('pending' in o) return { status: 'sending' as const };
  return { status: 'failed' as const, error: { title: o.title, reason: o.reason, retryable: o.retryable, code: o.code } };
}

/**
 * WAHA refusing or failing an admin's call: an unreachable or failing server is 503 (try
 * again), a session it does not know 404, a session not in the state for it or anything else (a wrong API key, a bad request) 409:
 * the account's settings disagree with the server.
 */
function providerError(err: WhatsAppSendError): ApiError {
  // 422: the session is not in a state for it (no QR code while it works, not started yet).
  if (err.httpStatus === 422) return conflict(`the WAHA session cannot do that now: ${err.title}`, { httpStatus: 422 });
  if (err.retryable) return unavailable(`the WAHA server did not do it: ${err.title}`);
  if (err.httpStatus === 404) return new ApiError('not_found', `the WAHA server has no such session: ${err.title}`, { details: { resource: 'waha session' } });
  return conflict(`the WAHA server refused: ${err.title}`, { httpStatus: err.httpStatus, reason: err.reason });
}
