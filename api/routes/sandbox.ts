import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { getBooking } from '../../db/bookings';
import { getGuestContact } from '../../db/clients';
import { seedDemoRestaurant } from '../../db/demo';
import { getRestaurant, listMembers, listMenuItems, listTables, updateRestaurant } from '../../db/restaurants';
import { parseActionId } from '../../domain/actions';
import { asLanguage } from '../../domain/language';
import { phoneDigits } from '../../domain/phone';
import type { AcceptedMessage, FakeGraphApi, InboundMessage, WebhookDelivery } from '../../sandbox/graph';
import type { SandboxWahaAccount } from '../../sandbox/session';
import type { FakeReceivedMessage, FakeSentMessage, FakeWaha, FakeWahaDelivery } from '../../sandbox/waha';
import { createAccount, findAccountBySession } from '../../db/whatsappAccounts';
import { CredentialSealError, type CredentialCipher } from '../../whatsapp/accounts/credentials';
import { WAHA_WEBHOOK_PATH } from './wahaWebhook';
import { OUTSIDE_WINDOW } from '../../whatsapp/errors';
import type { OutboundMessage } from '../../whatsapp/messages';
import { LOCALES } from '../../whatsapp/render';
import { fireReminderSignal } from '../../workflows/definitions';
import type { AppDeps } from '../app';
import { readCookie, SAFE_METHODS } from '../cookies';
import { ApiError, notAllowedInStatus, notFound, unauthorized, unavailable } from '../errors';
import { openEventStream } from '../sse';
import { parseBody, parseId, parseQuery } from '../validation';
import { constantTimeEqual } from '../../whatsapp/signature';
import { WHATSAPP_WEBHOOK_PATH } from './whatsappWebhook';

export interface SandboxDeps {
  /** The fake Graph API the channel sends to: what each phone received, and a way to write back. */
  graph: FakeGraphApi;
  /** The fake WAHA beside it, and its session as an account: a restaurant switched to it gets numbered text. */
  waha: FakeWaha;
  wahaAccount: SandboxWahaAccount;
  /** This start's key (SandboxSession.key): /sandbox and /sandbox/api answer only to its holder. */
  key: string;
  /** The Temporal web UI, when `npm start` runs the dev server. */
  temporalUiUrl?: string;
}

export const SANDBOX_PATH = '/sandbox';
const PAGE_DIR = path.join(__dirname, '..', '..', 'sandbox', 'page');
const KEY_QUERY = 'key';
const KEY_HEADER = 'X-Sandbox-Key';
const KEY_COOKIE = 'sandbox_key';
const KEY_CHALLENGE = 'SandboxKey realm="sandbox"';
/** How often a chat stream looks for news; the fake keeps its records in memory. */
const CHAT_POLL_MS = 200;
const HEARTBEAT_MS = 15_000;

/** The page's address for this start, as `npm start` prints it: the only place the key is shown. */
export function sandboxPageUrl(apiUrl: string, key: string): string {
  return `${apiUrl}${SANDBOX_PATH}/?${KEY_QUERY}=${encodeURIComponent(key)}`;
}

const entryQuery = z.object({ [KEY_QUERY]: z.string().max(200).optional() });

/**
 * Whoever reaches /sandbox can read every chat and tap for any phone, so it answers only to
 * the holder of this start's key. The printed URL carries it once: the page's first request
 * trades it for an HttpOnly, SameSite=Strict cookie and a redirect that drops it from the
 * address bar. Reads (the page, its scripts, its event stream) may then rely on the cookie;
 * writes need the X-Sandbox-Key header, which the page's script sets from GET /api/session:
 * a page on another localhost port counts as the same site and would send the cookie too.
 */
function requireKey(key: string): RequestHandler {
  const matches = (presented: string) => constantTimeEqual(presented, key);
  const refuse = (why: string) => unauthorized(`${why}: open the sandbox URL that the start printed`, KEY_CHALLENGE);
  return (req, res, next) => {
    const offered = parseQuery(req, entryQuery)[KEY_QUERY];
    if (offered !== undefined && req.method === 'GET' && req.path === '/') {
      if (!matches(offered)) throw refuse('this is not the key of the running sandbox');
      res.cookie(KEY_COOKIE, offered, { httpOnly: true, sameSite: 'strict', path: req.baseUrl });
      res.redirect(303, `${req.baseUrl}/`);
      return;
    }
    const presented = req.get(KEY_HEADER) ?? (SAFE_METHODS.has(req.method) ? readCookie(req, KEY_COOKIE) : undefined);
    if (presented === undefined) throw refuse(SAFE_METHODS.has(req.method) ? 'the sandbox key is missing' : `the ${KEY_HEADER} header is missing`);
    if (!matches(presented)) throw refuse('this is not the key of the running sandbox');
    next();
  };
}

/** One bubble in a participant's chat, from that participant's side. */
export interface ChatMessage {
  id: string;
  /** The participant, E.164. */
  phone: string;
  /** `in`: the business wrote to the participant; `out`: the participant wrote. */
  direction: 'in' | 'out';
  at: string;
  /** Meta's last status of a business message (sent, delivered, read, failed). */
  status?: string;
  error?: string;
  /** The message this one answers, as WhatsApp shows it quoted. */
  replyTo?: string;
  header?: string;
  text: string;
  footer?: string;
  /** Reply buttons, or a template's quick replies. */
  buttons?: { id: string; title: string }[];
  /** A list message: the button that opens it and the rows to pick from. */
  list?: { button: string; rows: { id: string; title: string; description?: string }[] };
  link?: { title: string; url: string };
  template?: { name: string; language: string };
  /** `waha`: through the WAHA session (WhatsApp Web: plain text, numbered choices); otherwise the Cloud API number. */
  via?: 'waha';
}

/** A quick reply's label is part of the approved template, not of the request: the sandbox's template uses ours. */
function quickReplyTitle(payload: string, language: string): string {
  const tapped = parseActionId(payload);
  const locale = LOCALES[asLanguage(language) ?? 'en'];
  if (!tapped) return payload;
  return tapped.action === 'rejectReason' ? locale.rejectReasons[tapped.code].title : locale.buttons[tapped.action];
}

function fromBusiness(m: AcceptedMessage): ChatMessage {
  // The fake refused anything Meta would, so the body has our own shape.
  const body = m.body as unknown as OutboundMessage;
  const base = {
    id: m.id,
    phone: `+${m.to}`,
    direction: 'in' as const,
    at: m.at.toISOString(),
    status: m.status,
    error: m.error && `(#${m.error.code}) ${m.error.title}`,
    replyTo: body.context?.message_id,
  };
  switch (body.type) {
    case 'text':
      return { ...base, text: body.text.body };
    case 'interactive': {
      const i = body.interactive;
      const common = { ...base, header: i.header?.text, text: i.body.text, footer: i.footer?.text };
      if (i.type === 'button') return { ...common, buttons: i.action.buttons.map((b) => b.reply) };
      if (i.type === 'list') return { ...common, list: { button: i.action.button, rows: i.action.sections.flatMap((x) => x.rows) } };
      return { ...common, link: { title: i.action.parameters.display_text, url: i.action.parameters.url } };
    }
    case 'template': {
      const t = body.template;
      const language = t.language.code;
      const components = t.components;
      return {
        ...base,
        template: { name: t.name, language },
        text: components.flatMap((c) => (c.type === 'body' ? c.parameters.map((p) => p.text) : [])).join('\n'),
        buttons: components.flatMap((c) =>
          c.type === 'button' ? c.parameters.map((p) => ({ id: p.payload, title: quickReplyTitle(p.payload, language) })) : [],
        ),
      };
    }
  }
}

function fromPerson(m: InboundMessage): ChatMessage {
  const msg = m.message as {
    context?: { id: string };
    text?: { body: string };
    interactive?: { button_reply?: { title: string }; list_reply?: { title: string } };
    button?: { text: string };
  };
  return {
    id: m.id,
    phone: `+${m.from}`,
    direction: 'out',
    at: m.at.toISOString(),
    replyTo: msg.context?.id,
    text: msg.text?.body ?? msg.interactive?.button_reply?.title ?? msg.interactive?.list_reply?.title ?? msg.button?.text ?? '',
  };
}

const phoneOfChat = (chatId: string) => `+${chatId.split('@')[0]}`;

function fromSession(m: FakeSentMessage): ChatMessage {
  return { id: m.id, phone: phoneOfChat(m.chatId), direction: 'in', at: m.at.toISOString(), replyTo: m.replyTo, text: m.text, via: 'waha' };
}

function toSession(m: FakeReceivedMessage): ChatMessage {
  return { id: m.id, phone: phoneOfChat(m.chatId), direction: 'out', at: m.at.toISOString(), replyTo: m.replyTo, text: m.text, via: 'waha' };
}

function chats(graph: FakeGraphApi, waha: FakeWaha): ChatMessage[] {
  return [...graph.accepted.map(fromBusiness), ...graph.received.map(fromPerson), ...waha.sent.map(fromSession), ...waha.received.map(toSession)].sort((a, b) =>
    a.at.localeCompare(b.at),
  );
}

const phone = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be + and the international number');
const person = { from: phone, name: z.string().trim().min(1).max(100).optional() };
const sendRequest = z
  .object({
    ...person,
    text: z.string().trim().min(1).max(4096),
    /** To the WAHA session's number instead of the Cloud API's, quoting one of its messages or not. */
    via: z.literal('waha').optional(),
    replyTo: z.string().min(1).max(200).optional(),
  })
  .strict();
const whatsappRequest = z.object({ provider: z.enum(['waha', 'default']) }).strict();
const tapRequest = z.object({ ...person, messageId: z.string().min(1), buttonId: z.string().min(1) }).strict();
const reminderRequest = z.object({ asTemplate: z.boolean().optional() }).strict();

/**
 * /sandbox: the page that plays the restaurant website and everybody's WhatsApp, and its
 * backend under /sandbox/api. The page books through the public API like any website; what
 * people write and tap here reaches POST /api/whatsapp/webhook as signed deliveries from the
 * fake Graph API, exactly the way Meta's would. Mounted only in sandbox mode, behind the key.
 */
export function sandboxRouter(deps: AppDeps & { sandbox: SandboxDeps; credentials: () => CredentialCipher }): Router {
  const { config, db, temporal } = deps;
  const { graph, waha, wahaAccount, key, temporalUiUrl } = deps.sandbox;
  const router = Router();
  router.use(requireKey(key));
  router.use(express.static(PAGE_DIR, { index: 'index.html' }));

  router.get('/api/session', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ graphApiUrl: graph.url, wahaUrl: waha.url, key, keyHeader: KEY_HEADER });
  });

  router.get('/api/restaurants', async (_req, res) => {
    const ids: number[] = await db('restaurants').orderBy('id').pluck('id');
    const restaurants = await Promise.all(
      ids.map(async (id) => {
        const [restaurant, tables, menu, members] = await Promise.all([
          getRestaurant(db, id),
          listTables(db, id),
          listMenuItems(db, id),
          listMembers(db, id),
        ]);
        return { ...restaurant!, tables, menu, members };
      }),
    );
    res.json({ restaurants });
  });

  router.post('/api/demo-restaurant', async (_req, res) => {
    const { restaurant } = await seedDemoRestaurant(db);
    res.status(201).json({ restaurantId: restaurant.id });
  });

  /**
   * Switches a restaurant to the sandbox's WAHA session (its account is created on first use,
   * credentials sealed like any account's) or back to the default Cloud API number: its next
   * messages, and its claim link, use that number.
   */
  router.put('/api/restaurants/:id/whatsapp', async (req, res) => {
    const id = parseId(req, 'id', 'restaurant');
    const { provider } = parseBody(req, whatsappRequest);
    let accountId: number | null = null;
    if (provider === 'waha') {
      const { apiKey, webhookHmacKey, ...plain } = wahaAccount;
      let cipher: CredentialCipher;
      try {
        cipher = deps.credentials();
      } catch (err) {
        if (err instanceof CredentialSealError) throw unavailable(err.message);
        throw err;
      }
      const account =
        (await findAccountBySession(db, wahaAccount.session)) ??
        (await createAccount(db, { ...plain, provider: 'waha', sealed: { apiKey: cipher.seal('apiKey', apiKey), webhookHmacKey: cipher.seal('webhookHmacKey', webhookHmacKey) } }));
      accountId = account.id;
    }
    const restaurant = await updateRestaurant(db, id, { whatsappAccountId: accountId });
    if (!restaurant) throw notFound('restaurant', id);
    res.json({ restaurantId: id, whatsappAccountId: accountId, displayNumber: provider === 'waha' ? wahaAccount.displayNumber : `+${config.WHATSAPP_BOT_NUMBER}` });
  });

  router.get('/api/bookings/:id', async (req, res) => {
    const id = parseId(req, 'id', 'booking');
    const booking = await getBooking(db, id);
    if (!booking) throw notFound('booking', id);
    let temporalUrl: string | null = null;
    if (temporalUiUrl) {
      try {
        const { runId } = await temporal.workflow.getHandle(booking.workflowId).describe();
        temporalUrl = `${temporalUiUrl}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(booking.workflowId)}/${runId}/history`;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    res.json({ id, workflowId: booking.workflowId, temporalUrl });
  });

  /**
   * The visit reminder now rather than 24 h and 2 h before the start, so it can be tried at
   * once. `asTemplate`: as though the guest's 24-hour window had closed: the fake refuses the
   * interactive reminder with 131047 once, and the channel sends the template instead.
   */
  router.post('/api/bookings/:id/reminder', async (req, res) => {
    const id = parseId(req, 'id', 'booking');
    const { asTemplate } = parseBody(req, reminderRequest);
    const booking = await getBooking(db, id);
    if (!booking) throw notFound('booking', id);
    const guest = await getGuestContact(db, id);
    if (booking.status !== 'APPROVED' || !guest) throw notAllowedInStatus(booking.status);
    if (asTemplate) graph.fail({ to: guest.phone, type: 'interactive', code: OUTSIDE_WINDOW, title: 'Re-engagement message', times: 1 });
    try {
      await temporal.workflow.getHandle(booking.workflowId).signal(fireReminderSignal);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw notAllowedInStatus(booking.status);
      throw err;
    }
    res.status(202).json({ id, status: booking.status });
  });

  router.get('/api/chats', (_req, res) => {
    const stream = openEventStream(res, HEARTBEAT_MS);
    let last = '';
    const push = () => {
      const messages = chats(graph, waha);
      const snapshot = JSON.stringify(messages);
      if (snapshot === last) return;
      last = snapshot;
      stream.send('chats', { messages });
    };
    push();
    const timer = setInterval(push, CHAT_POLL_MS);
    stream.onClose(() => clearInterval(timer));
  });

  const delivered = ({ messageId, delivery }: { messageId: string; delivery: WebhookDelivery | FakeWahaDelivery }, path = WHATSAPP_WEBHOOK_PATH) => {
    if (delivery.status !== 200) {
      // Our own webhook refused a delivery signed with the right secret: its log says why.
      throw new ApiError('internal', `POST ${path} answered ${delivery.status ?? 'nothing'}`, { details: { messageId } });
    }
    return { messageId };
  };

  router.post('/api/send', async (req, res) => {
    const { from, name, text, via, replyTo } = parseBody(req, sendRequest);
    if (via === 'waha') res.json(delivered(await waha.receiveText(wahaAccount.session, from, text, { name, replyTo }), WAHA_WEBHOOK_PATH));
    else res.json(delivered(await graph.receiveText(from, text, { name })));
  });

  router.post('/api/tap', async (req, res) => {
    const { from, name, messageId, buttonId } = parseBody(req, tapRequest);
    const accepted = graph.accepted.find((m) => m.id === messageId && m.to === phoneDigits(from));
    const chat = accepted && fromBusiness(accepted);
    const button = chat?.buttons?.find((b) => b.id === buttonId);
    const row = chat?.list?.rows.find((r) => r.id === buttonId);
    const tapped = button ?? row;
    if (!accepted || !tapped) throw notFound('button', `${messageId}/${buttonId}`);
    res.json(
      delivered(
        await graph.tapButton(from, tapped.id, {
          title: tapped.title,
          description: row?.description,
          contextId: accepted.id,
          template: accepted.type === 'template',
          list: Boolean(row),
          name,
        }),
      ),
    );
  });

  return router;
}
