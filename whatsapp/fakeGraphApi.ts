import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { phoneDigits } from '../domain/phone';
import { LIMITS } from './messages';
import { sign } from './signature';

/**
 * A stand-in for the WhatsApp Cloud API on 127.0.0.1, for end-to-end tests and the local
 * sandbox: the same path, headers and JSON as Meta, the same refusals (Meta-shaped error
 * bodies with Meta's codes) for a bad token, a malformed request or a value over a limit,
 * and, when a webhook is configured, SIGNED status webhooks (sent → delivered → read) and
 * inbound messages the way Meta delivers them.
 *
 * One deliberate difference: a `to` without `+` is refused (Meta would guess a country
 * code), because sending one is a bug in our code.
 */
export interface FakeGraphApiOptions {
  accessToken: string;
  phoneNumberId: string;
  /** The business number as digits, shown in webhook metadata. */
  displayPhoneNumber?: string;
  port?: number;
  webhook?: FakeWebhookOptions;
  /** Approved templates; when given, any other name or language is refused with 132001 like Meta. */
  templates?: FakeTemplate[];
  /**
   * Enforce the 24-hour window: free-form messages to someone who has not written in the
   * last 24 hours fail with 131047, in the HTTP answer (sync) or as a failed status (async,
   * what Meta usually does). Inbound messages simulated here and openWindow() open it.
   */
  window?: 'sync' | 'async';
}

export interface FakeWebhookOptions {
  url: string;
  appSecret: string;
  /** Emit sent → delivered → read for every accepted message (default true). */
  statuses?: boolean;
  /** Pause between two status webhooks of one message (default 5 ms). */
  statusDelayMs?: number;
  /** Further attempts after a non-200 answer, like Meta's redelivery (default 3). */
  retries?: number;
}

export interface FakeTemplate {
  name: string;
  languages: string[];
  bodyParameters: number;
  quickReplies: number;
}

export type FakeMessageType = 'text' | 'interactive' | 'template';

export interface FakeFailure {
  /** Only messages to this number (E.164 or digits); any recipient when absent. */
  to?: string;
  type?: FakeMessageType;
  code: number;
  title?: string;
  details?: string;
  /** sync: an HTTP error answer; async: accepted, then a `failed` status webhook. Default sync. */
  mode?: 'sync' | 'async';
  /** How many matching messages fail; every one when absent. */
  times?: number;
}

export interface RecordedRequest {
  at: Date;
  method: string;
  path: string;
  /** Whether the Authorization header carried the right token (the token itself is not kept). */
  authorized: boolean;
  body: unknown;
  status: number;
  response: unknown;
}

export interface AcceptedMessage {
  id: string;
  /** Digits, as Meta's webhooks write numbers. */
  to: string;
  type: FakeMessageType;
  body: Record<string, unknown>;
  at: Date;
  /** The last status webhook emitted for it; undefined until one is (or when no webhook is configured). */
  status?: 'sent' | 'delivered' | 'read' | 'failed';
  error?: { code: number; title: string };
}

/** A message a person sent to the business number through receiveText or tapButton. */
export interface InboundMessage {
  id: string;
  /** Digits, as in the webhook. */
  from: string;
  at: Date;
  /** The entry of `value.messages[]` as delivered (without from, id and timestamp). */
  message: Record<string, unknown>;
}

export interface WebhookDelivery {
  body: unknown;
  /** The HTTP status of the last attempt, or undefined when it could not connect. */
  status?: number;
  attempts: number;
}

export interface FakeGraphApi {
  /** What WHATSAPP_API_URL should be. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  readonly accepted: AcceptedMessage[];
  readonly received: InboundMessage[];
  readonly webhookDeliveries: WebhookDelivery[];
  configureWebhook(webhook: FakeWebhookOptions | undefined): void;
  fail(failure: FakeFailure): void;
  clearFailures(): void;
  openWindow(phone: string): void;
  /** A person writes to the business number: a signed inbound webhook, as Meta sends it. */
  receiveText(from: string, text: string, opts?: { name?: string }): Promise<{ messageId: string; delivery: WebhookDelivery }>;
  /** A person taps a reply button (interactive) or a quick reply (template) of one of our messages. */
  tapButton(
    from: string,
    payload: string,
    opts?: { title?: string; contextId?: string; template?: boolean; name?: string },
  ): Promise<{ messageId: string; delivery: WebhookDelivery }>;
  /** Resolves when every webhook queued so far has been delivered (or given up). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

class MetaError {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    readonly message: string,
    readonly details?: string,
  ) {}
  body() {
    return {
      error: {
        message: `(#${this.code}) ${this.message}`,
        type: 'OAuthException',
        code: this.code,
        ...(this.details && { error_data: { messaging_product: 'whatsapp', details: this.details } }),
        fbtrace_id: `Fake${randomBytes(8).toString('hex')}`,
      },
    };
  }
}

const invalid = (details: string) => new MetaError(400, 131009, 'Parameter value is not valid', details);
const badParam = (details: string) => new MetaError(400, 100, 'Invalid parameter', details);

const WINDOW_MS = 24 * 60 * 60 * 1000;
const MAX_BODY_BYTES = 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function validateInteractive(i: unknown): void {
  if (!isObject(i)) throw badParam('interactive is required for type interactive');
  const body = isObject(i.body) ? str(i.body.text) : undefined;
  if (!body) throw badParam('interactive.body.text is required');
  if (body.length > LIMITS.interactiveBody) throw invalid(`Body text length invalid. Max length: ${LIMITS.interactiveBody}`);
  if (i.header !== undefined) {
    const header = isObject(i.header) ? str(i.header.text) : undefined;
    if (!header || (isObject(i.header) && i.header.type !== 'text')) throw invalid('Only text headers are supported here');
    if (header.length > LIMITS.header) throw invalid(`Header text length invalid. Max length: ${LIMITS.header}`);
  }
  if (i.footer !== undefined) {
    const footer = isObject(i.footer) ? str(i.footer.text) : undefined;
    if (!footer || footer.length > LIMITS.footer) throw invalid(`Footer text length invalid. Max length: ${LIMITS.footer}`);
  }
  const action = isObject(i.action) ? i.action : undefined;
  if (!action) throw badParam('interactive.action is required');
  if (i.type === 'button') {
    const buttons = Array.isArray(action.buttons) ? action.buttons : [];
    if (buttons.length < 1 || buttons.length > LIMITS.buttons) throw invalid(`Buttons count invalid. Min: 1, Max: ${LIMITS.buttons}`);
    const ids = new Set<string>();
    const titles = new Set<string>();
    for (const b of buttons) {
      const reply = isObject(b) && b.type === 'reply' && isObject(b.reply) ? b.reply : undefined;
      const id = str(reply?.id);
      const title = str(reply?.title);
      if (!id || id.length > LIMITS.buttonId || id !== id.trim()) throw invalid(`Button id invalid. Min length: 1, Max length: ${LIMITS.buttonId}`);
      if (!title || title.length > LIMITS.buttonTitle) throw invalid(`Button title length invalid. Min length: 1, Max length: ${LIMITS.buttonTitle}`);
      if (ids.has(id)) throw invalid('Duplicate buttons ids');
      if (titles.has(title)) throw invalid('Duplicate button titles');
      ids.add(id);
      titles.add(title);
    }
  } else if (i.type === 'cta_url') {
    const p = action.name === 'cta_url' && isObject(action.parameters) ? action.parameters : undefined;
    const text = str(p?.display_text);
    if (!text || text.length > LIMITS.ctaDisplayText) throw invalid(`display_text length invalid. Max length: ${LIMITS.ctaDisplayText}`);
    if (!/^https?:\/\/\S+$/.test(str(p?.url) ?? '')) throw invalid('url is not a valid URL');
  } else {
    throw badParam(`interactive type ${String(i.type)} is not supported by the fake`);
  }
}

function validateTemplate(t: unknown, templates: FakeTemplate[] | undefined): void {
  if (!isObject(t)) throw badParam('template is required for type template');
  const name = str(t.name);
  const language = isObject(t.language) ? str(t.language.code) : undefined;
  if (!name || !/^[a-z0-9_]+$/.test(name)) throw badParam('template.name is invalid');
  if (!language) throw badParam('template.language.code is required');
  const components = Array.isArray(t.components) ? t.components.filter(isObject) : [];
  const body = components.find((c) => c.type === 'body');
  const params = body && Array.isArray(body.parameters) ? body.parameters : [];
  for (const p of params) {
    const text = isObject(p) && p.type === 'text' ? str(p.text) : undefined;
    if (!text) throw new MetaError(400, 131008, 'Required parameter is missing', 'body parameters must be non-empty text');
    if (/[\n\t]| {5,}/.test(text)) {
      throw new MetaError(400, 132018, 'There was an issue with the parameters in your template.', 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces');
    }
  }
  const quickReplies = components.filter((c) => c.type === 'button' && c.sub_type === 'quick_reply');
  for (const q of quickReplies) {
    const payload = Array.isArray(q.parameters) && isObject(q.parameters[0]) ? str(q.parameters[0].payload) : undefined;
    if (!payload || !/^\d+$/.test(str(q.index) ?? '')) throw invalid('quick_reply buttons need an index and a payload');
  }
  if (!templates) return;
  const known = templates.find((x) => x.name === name && x.languages.includes(language));
  if (!known) throw new MetaError(404, 132001, 'Template name does not exist in the translation', `template name (${name}) does not exist in ${language}`);
  if (params.length !== known.bodyParameters) {
    throw new MetaError(400, 132000, 'Number of parameters does not match the expected number of params', `body: number of localizable_params (${params.length}) does not match the expected number of params (${known.bodyParameters})`);
  }
  if (quickReplies.length > known.quickReplies) throw invalid(`the template has ${known.quickReplies} quick-reply buttons`);
}

/** Meta's checks on a send request, in the order Meta reports them; throws a MetaError. */
function validateMessage(body: unknown, templates: FakeTemplate[] | undefined): { to: string; type: FakeMessageType } {
  if (!isObject(body)) throw badParam('the request body must be a JSON object');
  if (body.messaging_product !== 'whatsapp') throw badParam('The parameter messaging_product is required.');
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') throw badParam('recipient_type must be individual');
  const to = str(body.to);
  if (!to) throw badParam('The parameter to is required.');
  if (!/^\+[1-9]\d{6,14}$/.test(to)) throw badParam('to must be + followed by the country code and number (the fake refuses numbers without +)');
  if (body.context !== undefined && !(isObject(body.context) && str(body.context.message_id))) throw badParam('context.message_id must be a string');
  switch (body.type) {
    case 'text': {
      const text = isObject(body.text) ? str(body.text.body) : undefined;
      if (!text) throw badParam('The parameter text[\'body\'] is required.');
      if (text.length > LIMITS.textBody) throw badParam(`Param text['body'] must be at most ${LIMITS.textBody} characters long.`);
      return { to, type: 'text' };
    }
    case 'interactive':
      validateInteractive(body.interactive);
      return { to, type: 'interactive' };
    case 'template':
      validateTemplate(body.template, templates);
      return { to, type: 'template' };
    default:
      throw badParam(`message type ${String(body.type)} is not supported by the fake`);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new MetaError(413, 100, 'Request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => String(Math.floor(Date.now() / 1000));

export async function startFakeGraphApi(options: FakeGraphApiOptions): Promise<FakeGraphApi> {
  const requests: RecordedRequest[] = [];
  const accepted: AcceptedMessage[] = [];
  const received: InboundMessage[] = [];
  const webhookDeliveries: WebhookDelivery[] = [];
  let failures: FakeFailure[] = [];
  let webhook = options.webhook;
  const windows = new Map<string, number>();
  let sequence = 0;
  // One queue keeps each message's statuses in order, as a webhook receiver would see them.
  let queue: Promise<unknown> = Promise.resolve();

  const newId = () => `wamid.FAKE${(++sequence).toString(36).toUpperCase()}${randomBytes(9).toString('base64url')}`;
  const messagesPath = new RegExp(`^/v\\d+\\.\\d+/${options.phoneNumberId}/messages$`);

  function envelope(value: Record<string, unknown>) {
    return {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'FAKE_WABA',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: options.displayPhoneNumber ?? '15550001111', phone_number_id: options.phoneNumberId },
                ...value,
              },
            },
          ],
        },
      ],
    };
  }

  async function post(body: unknown): Promise<WebhookDelivery> {
    const delivery: WebhookDelivery = { body, attempts: 0 };
    webhookDeliveries.push(delivery);
    const target = webhook;
    if (!target) return delivery;
    const raw = JSON.stringify(body);
    const attempts = 1 + (target.retries ?? 3);
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(50 * 2 ** i);
      delivery.attempts++;
      try {
        const res = await request(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, target.appSecret) },
          body: raw,
        });
        await res.body.dump();
        delivery.status = res.statusCode;
        if (res.statusCode === 200) break;
      } catch {
        delivery.status = undefined;
      }
    }
    return delivery;
  }

  function enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  }

  function statusWebhooks(m: AcceptedMessage, failure?: FakeFailure) {
    if (!webhook) return;
    const status = (s: string, extra: Record<string, unknown> = {}) =>
      envelope({ statuses: [{ id: m.id, status: s, timestamp: nowSeconds(), recipient_id: m.to, ...extra }] });
    if (failure) {
      const title = failure.title ?? 'Message failed';
      const error = { code: failure.code, title, message: title, error_data: { details: failure.details ?? '' } };
      void enqueue(() => {
        m.status = 'failed';
        m.error = { code: failure.code, title };
        return post(status('failed', { errors: [error] }));
      });
      return;
    }
    if (webhook.statuses === false) return;
    for (const s of ['sent', 'delivered', 'read'] as const) {
      void enqueue(async () => {
        await sleep(webhook?.statusDelayMs ?? 5);
        m.status = s;
        return post(status(s));
      });
    }
  }

  function takeFailure(to: string, type: FakeMessageType): FakeFailure | undefined {
    const failure = failures.find((f) => (!f.to || phoneDigits(f.to) === to) && (!f.type || f.type === type));
    if (failure?.times !== undefined && --failure.times <= 0) failures = failures.filter((f) => f !== failure);
    if (failure) return failure;
    const open = (windows.get(to) ?? 0) > Date.now() - WINDOW_MS;
    if (options.window && type !== 'template' && !open) {
      return { code: 131047, title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.', mode: options.window };
    }
    return undefined;
  }

  async function handle(req: http.IncomingMessage): Promise<{ status: number; body: unknown; authorized: boolean; requestBody: unknown }> {
    const authorized = req.headers.authorization === `Bearer ${options.accessToken}`;
    let requestBody: unknown;
    try {
      const text = await readBody(req);
      try {
        requestBody = text ? JSON.parse(text) : undefined;
      } catch {
        requestBody = text;
        if (authorized) throw badParam('the request body is not valid JSON');
      }
      if (!authorized) throw new MetaError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'POST' || !messagesPath.test(path)) {
        throw new MetaError(400, 100, `Unsupported ${req.method?.toLowerCase()} request. Object with ID '${path.split('/')[2] ?? ''}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`);
      }
      const { to, type } = validateMessage(requestBody, options.templates);
      const digits = phoneDigits(to);
      const failure = takeFailure(digits, type);
      if (failure && failure.mode !== 'async') {
        throw new MetaError(400, failure.code, failure.title ?? 'Message failed', failure.details);
      }
      const message: AcceptedMessage = { id: newId(), to: digits, type, body: requestBody as Record<string, unknown>, at: new Date() };
      accepted.push(message);
      statusWebhooks(message, failure);
      return {
        status: 200,
        authorized,
        requestBody,
        body: {
          messaging_product: 'whatsapp',
          contacts: [{ input: to, wa_id: digits }],
          messages: [{ id: message.id, ...(type === 'template' && { message_status: 'accepted' }) }],
        },
      };
    } catch (err) {
      const e = err instanceof MetaError ? err : new MetaError(500, 1, 'An unknown error occurred');
      return { status: e.httpStatus, body: e.body(), authorized, requestBody };
    }
  }

  const server = http.createServer((req, res) => {
    void handle(req).then((r) => {
      requests.push({ at: new Date(), method: req.method ?? '', path: req.url ?? '', authorized: r.authorized, body: r.requestBody, status: r.status, response: r.body });
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  function inbound(from: string, message: Record<string, unknown>, name?: string) {
    const digits = phoneDigits(from);
    windows.set(digits, Date.now());
    const id = newId();
    received.push({ id, from: digits, at: new Date(), message });
    const body = envelope({
      contacts: [{ profile: { name: name ?? 'Fake User' }, wa_id: digits }],
      messages: [{ from: digits, id, timestamp: nowSeconds(), ...message }],
    });
    return enqueue(() => post(body)).then((delivery) => ({ messageId: id, delivery }));
  }

  async function settled() {
    let seen: Promise<unknown>;
    do {
      seen = queue;
      await seen;
    } while (seen !== queue);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    received,
    webhookDeliveries,
    configureWebhook: (w) => {
      webhook = w;
    },
    fail: (f) => {
      failures.push({ ...f });
    },
    clearFailures: () => {
      failures = [];
    },
    openWindow: (phone) => {
      windows.set(phoneDigits(phone), Date.now());
    },
    receiveText: (from, text, opts = {}) => inbound(from, { type: 'text', text: { body: text } }, opts.name),
    tapButton: (from, payload, opts = {}) =>
      inbound(
        from,
        {
          ...(opts.contextId && { context: { from: options.displayPhoneNumber ?? '15550001111', id: opts.contextId } }),
          ...(opts.template
            ? { type: 'button', button: { payload, text: opts.title ?? payload } }
            : { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: payload, title: opts.title ?? payload } } }),
        },
        opts.name,
      ),
    settled,
    async close() {
      await settled();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
