import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { phoneDigits } from '../../domain/phone';
import { badParam, MetaError, validateMessage, type FakeTemplate } from './meta';
import { createGraphState, type AcceptedMessage, type FakeFailure, type InboundMessage, type RecordedRequest } from './state';
import { createWebhookSender, type FakeWebhookOptions, type WebhookDelivery } from './webhooks';
import { readRequestBody } from '../requestBody';

/**
 * A stand-in for the WhatsApp Cloud API on 127.0.0.1, for end-to-end tests and the local
 * sandbox: the same path, headers and JSON as Meta, the same refusals (meta.ts) for a bad
 * token, a malformed request or a value over a limit, and, when a webhook is configured,
 * SIGNED status webhooks (sent → delivered → read, echoing the send's biz_opaque_callback_data)
 * and inbound messages the way Meta delivers them (webhooks.ts).
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
  /**
   * A person taps a reply button (interactive), a quick reply (`template`) or picks a row of a
   * list message (`list`) of one of ours.
   */
  tapButton(
    from: string,
    payload: string,
    opts?: { title?: string; description?: string; contextId?: string; template?: boolean; list?: boolean; name?: string },
  ): Promise<{ messageId: string; delivery: WebhookDelivery }>;
  /** Resolves when every webhook queued so far has been delivered (or given up). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/** The `messages[]` entry of a tap, as Meta shapes each kind. */
function tapMessage(payload: string, title: string, as: 'button' | 'template' | 'list', description?: string): Record<string, unknown> {
  if (as === 'template') return { type: 'button', button: { payload, text: title } };
  if (as === 'list') return { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: payload, title, ...(description && { description }) } } };
  return { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: payload, title } } };
}

export async function startFakeGraphApi(options: FakeGraphApiOptions): Promise<FakeGraphApi> {
  const displayPhoneNumber = options.displayPhoneNumber ?? '15550001111';
  const state = createGraphState(options.window);
  const webhooks = createWebhookSender({ phoneNumberId: options.phoneNumberId, displayPhoneNumber }, options.webhook);
  const messagesPath = new RegExp(`^/v\\d+\\.\\d+/${options.phoneNumberId}/messages$`);

  async function handle(req: http.IncomingMessage): Promise<{ status: number; body: unknown; authorized: boolean; requestBody: unknown }> {
    const authorized = req.headers.authorization === `Bearer ${options.accessToken}`;
    let requestBody: unknown;
    try {
      const text = await readRequestBody(req, MAX_BODY_BYTES, () => new MetaError(413, 100, 'Request body too large'));
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
      const failure = state.takeFailure(digits, type);
      if (failure && failure.mode !== 'async') {
        throw new MetaError(400, failure.code, failure.title ?? 'Message failed', failure.details);
      }
      const message = state.accept(digits, type, requestBody as Record<string, unknown>);
      webhooks.statuses(message, failure);
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
      state.requests.push({ at: new Date(), method: req.method ?? '', path: req.url ?? '', authorized: r.authorized, body: r.requestBody, status: r.status, response: r.body });
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  async function inbound(from: string, message: Record<string, unknown>, name?: string) {
    const m = state.receive(from, message);
    const delivery = await webhooks.inbound(m, name ?? 'Fake User');
    return { messageId: m.id, delivery };
  }

  return {
    url: `http://127.0.0.1:${port}`,
    requests: state.requests,
    accepted: state.accepted,
    received: state.received,
    webhookDeliveries: webhooks.deliveries,
    configureWebhook: webhooks.configure,
    fail: state.fail,
    clearFailures: state.clearFailures,
    openWindow: state.openWindow,
    receiveText: (from, text, opts = {}) => inbound(from, { type: 'text', text: { body: text } }, opts.name),
    tapButton: (from, payload, opts = {}) =>
      inbound(
        from,
        {
          ...(opts.contextId && { context: { from: displayPhoneNumber, id: opts.contextId } }),
          ...tapMessage(payload, opts.title ?? payload, opts.template ? 'template' : opts.list ? 'list' : 'button', opts.description),
        },
        opts.name,
      ),
    settled: webhooks.settled,
    async close() {
      await webhooks.settled();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
