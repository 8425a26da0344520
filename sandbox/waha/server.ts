import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { signWaha, WAHA_HMAC_ALGORITHM_HEADER, WAHA_HMAC_HEADER } from '../../whatsapp/waha/events';
import { readRequestBody } from '../requestBody';

/**
 * A stand-in for a WAHA server (https://waha.devlike.pro) on 127.0.0.1, for tests and the
 * sandbox: the same paths, X-Api-Key check and JSON as WAHA's HTTP API, the same refusals
 * (401 without the key, 404 for an unknown session, 422 while a session is not WORKING),
 * and, when a webhook is configured, its events the way WAHA posts them (one per request,
 * signed with X-Webhook-Hmac when the webhook has an HMAC key, retried on a non-2xx).
 */
export type FakeWahaEngine = 'WEBJS' | 'NOWEB';
export type FakeSessionStatus = 'STOPPED' | 'STARTING' | 'SCAN_QR_CODE' | 'WORKING' | 'FAILED';

export interface FakeWahaWebhook {
  url: string;
  /** The session config's hmac.key; deliveries are signed when it is set. */
  hmacKey?: string;
  /** Further attempts after a non-2xx answer (WAHA Plus retries; default 3). */
  retries?: number;
}

export interface FakeWahaOptions {
  /** WHATSAPP_API_KEY of the server; unset: no key asked, as WAHA without one. */
  apiKey?: string;
  /** Session names; each starts WORKING and paired to `me` (its number), unless `paired: false`. */
  sessions: { name: string; me?: string; paired?: boolean }[];
  /** How sendText answers (WEBJS: whatsapp-web.js's message; NOWEB: Baileys' with `key`). Default WEBJS. */
  engine?: FakeWahaEngine;
  webhook?: FakeWahaWebhook;
  /** Emit message.ack SERVER → DEVICE → READ for every sent message (default true). */
  acks?: boolean;
  port?: number;
}

export interface FakeSentMessage {
  id: string;
  session: string;
  chatId: string;
  text: string;
  replyTo?: string;
  at: Date;
}

/** A message a person sent to a session's number through receiveText: the same fields, `chatId` the person's, `replyTo` one of the session's. */
export type FakeReceivedMessage = FakeSentMessage;

export interface FakeWahaRequest {
  method: string;
  path: string;
  /** The X-Api-Key it carried matched (or none was asked). */
  authorized: boolean;
  body: unknown;
  status: number;
}

export interface FakeWahaDelivery {
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** The HTTP status of the last attempt; undefined when it could not connect. */
  status?: number;
  attempts: number;
}

export interface FakeWaha {
  readonly url: string;
  readonly sent: FakeSentMessage[];
  readonly received: FakeReceivedMessage[];
  readonly requests: FakeWahaRequest[];
  readonly deliveries: FakeWahaDelivery[];
  configureWebhook(webhook: FakeWahaWebhook | undefined): void;
  status(session: string): FakeSessionStatus;
  /** The next `times` calls (any path) answer `status` with WAHA's error body, e.g. 500 or 503 for an outage. */
  fail(failure: { status: number; times?: number }): void;
  /** A person writes to the session's number; `replyTo` quotes one of its messages (WAHA's serialized id). */
  receiveText(session: string, from: string, text: string, opts?: { replyTo?: string; name?: string }): Promise<{ messageId: string; delivery: FakeWahaDelivery }>;
  /** Pairs a session waiting for its QR code, as a phone scanning it does: it becomes WORKING. */
  scanQr(session: string): Promise<void>;
  /** Resolves when every webhook queued so far has been delivered (or given up). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

// A 1x1 PNG: what matters to the pass-through is the bytes and the content type, not the picture.
const QR_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==', 'base64');
const MAX_BODY_BYTES = 1024 * 1024;
const ACK_NAMES = { 1: 'SERVER', 2: 'DEVICE', 3: 'READ' } as const;

class WahaHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  /** NestJS's error body, which WAHA answers with. */
  body() {
    return { statusCode: this.status, message: this.message, error: http.STATUS_CODES[this.status] ?? 'Error' };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();

export async function startFakeWaha(options: FakeWahaOptions): Promise<FakeWaha> {
  const engine = options.engine ?? 'WEBJS';
  const sessions = new Map(
    options.sessions.map((s) => [
      s.name,
      { status: (s.paired === false ? 'SCAN_QR_CODE' : 'WORKING') as FakeSessionStatus, me: s.me ?? '15550002222', paired: s.paired !== false, qrs: 0 },
    ]),
  );
  const sent: FakeSentMessage[] = [];
  const received: FakeReceivedMessage[] = [];
  const requests: FakeWahaRequest[] = [];
  const deliveries: FakeWahaDelivery[] = [];
  let webhook = options.webhook;
  let failure: { status: number; times: number } | undefined;
  // One queue keeps the events in order, as WAHA's one sender per session does.
  let queue: Promise<unknown> = Promise.resolve();

  const sessionOf = (name: string) => {
    const s = sessions.get(name);
    if (!s) throw new WahaHttpError(404, `We didn't find a session with name '${name}'. Please start it first by using POST /api/sessions/${name}/start request`);
    return s;
  };
  const meOf = (name: string) => {
    const s = sessions.get(name)!;
    return s.paired ? { id: `${s.me}@c.us`, pushName: 'Fake Restaurant' } : null;
  };
  const sessionInfo = (name: string) => {
    const s = sessionOf(name);
    // WAHA answers the session's config too, webhook HMAC key included: callers must not pass it on.
    const config = webhook ? { webhooks: [{ url: webhook.url, events: ['message', 'message.ack', 'session.status'], ...(webhook.hmacKey && { hmac: { key: webhook.hmacKey } }) }] } : {};
    return { name, status: s.status, config, me: meOf(name), engine: { engine } };
  };

  async function post(body: Record<string, unknown>): Promise<FakeWahaDelivery> {
    const raw = JSON.stringify(body);
    const target = webhook;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'WAHA/fake' };
    if (target?.hmacKey) {
      headers[WAHA_HMAC_HEADER] = signWaha(raw, target.hmacKey);
      headers[WAHA_HMAC_ALGORITHM_HEADER] = 'sha512';
    }
    const delivery: FakeWahaDelivery = { body, headers, attempts: 0 };
    deliveries.push(delivery);
    if (!target) return delivery;
    for (let i = 0; i <= (target.retries ?? 3); i++) {
      if (i > 0) await sleep(50 * 2 ** i);
      delivery.attempts++;
      try {
        const res = await request(target.url, { method: 'POST', headers, body: raw });
        await res.body.dump();
        delivery.status = res.statusCode;
        if (res.statusCode >= 200 && res.statusCode < 300) break;
      } catch {
        delivery.status = undefined;
      }
    }
    return delivery;
  }

  function emit(session: string, event: string, payload: Record<string, unknown>): Promise<FakeWahaDelivery> {
    const body = {
      id: `evt_${hex(13).toLowerCase()}`,
      timestamp: Date.now(),
      event,
      session,
      metadata: {},
      me: meOf(session),
      payload,
      engine,
      environment: { version: 'fake', engine, tier: 'CORE', browser: null },
    };
    const run = queue.then(() => post(body));
    queue = run.catch(() => undefined);
    return run;
  }

  function setStatus(name: string, status: FakeSessionStatus): void {
    const s = sessionOf(name);
    if (s.status === status) return;
    s.status = status;
    void emit(name, 'session.status', { status });
  }

  function sendText(body: unknown) {
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b.session !== 'string' || typeof b.chatId !== 'string' || typeof b.text !== 'string') {
      throw new WahaHttpError(400, 'session, chatId and text are required');
    }
    const s = sessionOf(b.session);
    if (s.status !== 'WORKING') {
      throw new WahaHttpError(422, `Session status is not as expected. Try again later or restart the session. Session status: ${s.status}, expected: WORKING`);
    }
    const digits = /^(\d{5,20})@c\.us$/.exec(b.chatId)?.[1];
    if (!digits) throw new WahaHttpError(400, `chatId must be <phone>@c.us, got '${b.chatId}'`);
    const short = hex(10);
    const id = `true_${b.chatId}_${short}`;
    const replyTo = typeof b.reply_to === 'string' ? b.reply_to : undefined;
    sent.push({ id, session: b.session, chatId: b.chatId, text: b.text, replyTo, at: new Date() });
    if (options.acks !== false) {
      for (const ack of [1, 2, 3] as const) {
        void emit(b.session, 'message.ack', { id, from: `${s.me}@c.us`, to: b.chatId, participant: null, fromMe: true, ack, ackName: ACK_NAMES[ack] });
      }
    }
    const timestamp = Math.floor(Date.now() / 1000);
    if (engine === 'NOWEB') {
      return { key: { remoteJid: `${digits}@s.whatsapp.net`, fromMe: true, id: short }, message: { extendedTextMessage: { text: b.text } }, messageTimestamp: String(timestamp), status: 'PENDING' };
    }
    return {
      id: { fromMe: true, remote: b.chatId, id: short, _serialized: id },
      ack: 0,
      hasMedia: false,
      body: b.text,
      type: 'chat',
      timestamp,
      from: `${s.me}@c.us`,
      to: b.chatId,
      fromMe: true,
    };
  }

  async function route(req: http.IncomingMessage, url: URL, body: unknown): Promise<{ status: number; json?: unknown; png?: Buffer }> {
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && path === '/api/sendText') return { status: 201, json: sendText(body) };
    if (req.method === 'GET' && (m = /^\/api\/sessions\/([^/]+)$/.exec(path))) return { status: 200, json: sessionInfo(decodeURIComponent(m[1]!)) };
    if (req.method === 'POST' && (m = /^\/api\/sessions\/([^/]+)\/(start|stop)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      const s = sessionOf(name);
      if (m[2] === 'stop') setStatus(name, 'STOPPED');
      else if (s.status === 'STOPPED' || s.status === 'FAILED') {
        setStatus(name, 'STARTING');
        setStatus(name, s.paired ? 'WORKING' : 'SCAN_QR_CODE');
      }
      return { status: 201, json: sessionInfo(name) };
    }
    if (req.method === 'GET' && (m = /^\/api\/([^/]+)\/auth\/qr$/.exec(path))) {
      const s = sessionOf(decodeURIComponent(m[1]!));
      if (s.status !== 'SCAN_QR_CODE') throw new WahaHttpError(422, `Can get QR code only in SCAN_QR_CODE status. The current status is '${s.status}'`);
      s.qrs++;
      if (url.searchParams.get('format') === 'raw') return { status: 200, json: { value: `2@fake-qr-${m[1]}-${s.qrs}` } };
      return { status: 200, png: QR_PNG };
    }
    throw new WahaHttpError(404, `Cannot ${req.method} ${path}`);
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake-waha');
      const authorized = !options.apiKey || req.headers['x-api-key'] === options.apiKey;
      let body: unknown;
      let answer: { status: number; json?: unknown; png?: Buffer };
      try {
        const text = await readRequestBody(req, MAX_BODY_BYTES, () => new WahaHttpError(413, 'Payload Too Large'));
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
          throw new WahaHttpError(400, 'the body is not valid JSON');
        }
        if (!authorized) throw new WahaHttpError(401, 'Unauthorized');
        if (failure && failure.times > 0) {
          failure.times--;
          throw new WahaHttpError(failure.status, 'fake failure');
        }
        answer = await route(req, url, body);
      } catch (err) {
        const e = err instanceof WahaHttpError ? err : new WahaHttpError(500, 'Internal server error');
        answer = { status: e.status, json: e.body() };
      }
      requests.push({ method: req.method ?? '', path: url.pathname + url.search, authorized, body, status: answer.status });
      if (answer.png) res.writeHead(answer.status, { 'content-type': 'image/png', 'content-length': answer.png.length }).end(answer.png);
      else res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer.json));
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  async function settled(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = queue;
      await seen;
    } while (seen !== queue);
  }

  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    received,
    requests,
    deliveries,
    configureWebhook: (w) => {
      webhook = w;
    },
    status: (name) => sessionOf(name).status,
    fail: ({ status, times = 1 }) => {
      failure = { status, times };
    },
    async receiveText(session, from, text, opts = {}) {
      const s = sessionOf(session);
      const chatId = `${from.replace(/\D/g, '')}@c.us`;
      const short = hex(10);
      const messageId = `false_${chatId}_${short}`;
      const quoted = opts.replyTo && /_([^_]+)$/.exec(opts.replyTo)?.[1];
      received.push({ id: messageId, session, chatId, text, replyTo: opts.replyTo, at: new Date() });
      const delivery = await emit(session, 'message', {
        id: messageId,
        timestamp: Math.floor(Date.now() / 1000),
        from: chatId,
        fromMe: false,
        to: `${s.me}@c.us`,
        body: text,
        hasMedia: false,
        ack: 1,
        ackName: 'SERVER',
        vCards: [],
        // WAHA names the quoted message by its bare id.
        replyTo: quoted ? { id: quoted, participant: `${s.me}@c.us`, body: sent.find((m) => m.id === opts.replyTo)?.text } : null,
        _data: { notifyName: opts.name ?? 'Fake User' },
      });
      return { messageId, delivery };
    },
    async scanQr(name) {
      const s = sessionOf(name);
      s.paired = true;
      if (s.status === 'SCAN_QR_CODE') setStatus(name, 'WORKING');
    },
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
