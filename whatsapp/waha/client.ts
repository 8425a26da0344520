import { Pool } from 'undici';
import { z } from 'zod';
import { phoneDigits } from '../../domain/phone';
import { WhatsAppSendError, type MetaErrorClass } from '../errors';

/**
 * A WAHA server (WhatsApp HTTP API, https://waha.devlike.pro) for one session, over one
 * keep-alive pool to its origin. The API key travels only in the X-Api-Key header and is
 * never part of an error or a log line.
 *
 * The calls, as WAHA documents them:
 * - POST /api/sendText {session, chatId: "<digits>@c.us", text[, reply_to]} → the sent message;
 * - GET /api/sessions/{session} → {name, status, me, config};
 * - POST /api/sessions/{session}/start | /stop → the same (idempotent on WAHA's side);
 * - GET /api/{session}/auth/qr?format=image (PNG) | format=raw ({value}).
 */
export interface WahaClient {
  /** Resolves with WAHA's serialized message id (what its `message.ack` events name); rejects with a WhatsAppSendError. */
  sendText(to: string, text: string, opts?: { replyTo?: string }): Promise<{ messageId: string }>;
  session(): Promise<WahaSession>;
  start(): Promise<WahaSession>;
  stop(): Promise<WahaSession>;
  /** The pairing QR code, as WAHA renders it: a PNG, or the raw value to render yourself. */
  qr(format: 'image'): Promise<{ png: Buffer }>;
  qr(format: 'raw'): Promise<{ value: string }>;
  close(): Promise<void>;
}

export interface WahaClientOptions {
  baseUrl: string;
  session: string;
  apiKey?: string;
  timeoutMs?: number;
  connections?: number;
}

/**
 * What we pass on of WAHA's session answer. Its `config` is left out on purpose: it carries
 * the webhook's HMAC key and custom headers.
 */
export interface WahaSession {
  name: string;
  /** WAHA's STOPPED, STARTING, SCAN_QR_CODE, WORKING or FAILED; passed on as reported. */
  status: string;
  /** The paired WhatsApp account, once the session works. */
  me: { id: string; pushName?: string } | null;
}

const sessionBody = z.object({
  name: z.string(),
  status: z.string(),
  me: z.object({ id: z.string(), pushName: z.string().optional() }).nullish(),
});

/**
 * The id WAHA gives a sent message, which differs by engine: a string (GOWS and newer
 * versions), `id._serialized` (WEBJS, the whatsapp-web.js message), or the Baileys `key`
 * (NOWEB), which WAHA serializes as `<fromMe>_<chat>@c.us_<id>` in its events.
 */
const sentBody = z.union([
  z.object({ id: z.string().min(1) }).transform((b) => b.id),
  z.object({ id: z.object({ _serialized: z.string().min(1) }) }).transform((b) => b.id._serialized),
  z
    .object({ key: z.object({ id: z.string().min(1), remoteJid: z.string().min(1), fromMe: z.boolean().optional() }) })
    .transform(({ key }) => `${key.fromMe ?? false}_${key.remoteJid.split('@')[0]}@c.us_${key.id}`),
]);

const errorBody = z.object({ message: z.union([z.string(), z.array(z.string())]).optional(), error: z.string().optional() }).passthrough();

/** WhatsApp's chat id for a person: the number's digits and `@c.us`. */
export function chatIdOf(phone: string): string {
  return `${phoneDigits(phone)}@c.us`;
}

// A session that is not WORKING answers 422 (WAHA's getWorkingSession); it may be starting or
// waiting for its QR code, which takes a person: retried, slowly, never given up on early.
const SESSION_NOT_WORKING_DELAY_MS = 60_000;
const SERVER_ERROR_MAX_ATTEMPTS = 5;

/** WAHA answers with HTTP statuses, not Meta's codes: the same retry model, decided by status. */
export function classifyWahaStatus(httpStatus: number): MetaErrorClass {
  if (httpStatus === 422) return { kind: 'retryable', reason: 'session', retryAfterMs: SESSION_NOT_WORKING_DELAY_MS };
  if (httpStatus === 429) return { kind: 'retryable', reason: 'throughput' };
  if (httpStatus >= 500) return { kind: 'retryable', reason: 'server', maxAttempts: SERVER_ERROR_MAX_ATTEMPTS };
  if (httpStatus === 401 || httpStatus === 403) return { kind: 'permanent', reason: 'token' };
  // No such session on that server: an operator's mistake, not something time mends.
  if (httpStatus === 404) return { kind: 'permanent', reason: 'session' };
  if (httpStatus === 400) return { kind: 'permanent', reason: 'request' };
  return { kind: 'permanent', reason: 'unknown' };
}

export function createWahaClient(o: WahaClientOptions): WahaClient {
  const base = new URL(o.baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: o.connections ?? 4,
    keepAliveTimeout: 30_000,
    connectTimeout: o.timeoutMs ?? 10_000,
  });
  const timeout = o.timeoutMs ?? 15_000;
  const session = encodeURIComponent(o.session);

  async function call(method: 'GET' | 'POST', path: string, opts: { body?: unknown; accept?: string } = {}): Promise<{ status: number; bytes: Buffer; type: string }> {
    try {
      const res = await pool.request({
        method,
        path: `${prefix}${path}`,
        headers: {
          accept: opts.accept ?? 'application/json',
          ...(o.apiKey && { 'x-api-key': o.apiKey }),
          ...(opts.body !== undefined && { 'content-type': 'application/json' }),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, bytes, type: String(res.headers['content-type'] ?? '') };
    } catch (err) {
      // The request may or may not have reached WAHA; retrying is the lesser evil.
      throw new WhatsAppSendError(undefined, `WAHA unreachable: ${(err as Error).message}`);
    }
  }

  /** The JSON of a 2xx answer, or the WhatsAppSendError its status means. */
  async function json(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await call(method, path, { body });
    const parsed = parseJson(res.bytes.toString('utf8'));
    if (res.status >= 200 && res.status < 300) return { status: res.status, json: parsed };
    throw wahaError(res.status, parsed);
  }

  async function sessionCall(method: 'GET' | 'POST', path: string): Promise<WahaSession> {
    const res = await json(method, path);
    const info = sessionBody.safeParse(res.json);
    if (!info.success) {
      throw new WhatsAppSendError(undefined, `WAHA answered HTTP ${res.status} without a session`, {
        httpStatus: res.status,
        classification: { kind: 'permanent', reason: 'unknown' },
      });
    }
    return { name: info.data.name, status: info.data.status, me: info.data.me ?? null };
  }

  return {
    async sendText(to, text, opts = {}) {
      const res = await json('POST', '/api/sendText', {
        session: o.session,
        chatId: chatIdOf(to),
        text,
        ...(opts.replyTo && { reply_to: opts.replyTo }),
      });
      const id = sentBody.safeParse(res.json);
      if (id.success) return { messageId: id.data };
      // Sent without an id we can read: resending could deliver it twice, so do not retry.
      throw new WhatsAppSendError(undefined, `WAHA answered HTTP ${res.status} without a message id`, {
        httpStatus: res.status,
        classification: { kind: 'permanent', reason: 'unknown' },
      });
    },
    session: () => sessionCall('GET', `/api/sessions/${session}`),
    start: () => sessionCall('POST', `/api/sessions/${session}/start`),
    stop: () => sessionCall('POST', `/api/sessions/${session}/stop`),
    async qr(format: 'image' | 'raw') {
      if (format === 'raw') {
        const res = await json('GET', `/api/${session}/auth/qr?format=raw`);
        const value = z.object({ value: z.string() }).safeParse(res.json);
        if (value.success) return { value: value.data.value };
        throw new WhatsAppSendError(undefined, `WAHA answered HTTP ${res.status} without a QR value`, {
          httpStatus: res.status,
          classification: { kind: 'permanent', reason: 'unknown' },
        });
      }
      const res = await call('GET', `/api/${session}/auth/qr?format=image`, { accept: 'image/png' });
      if (res.status >= 200 && res.status < 300 && res.type.startsWith('image/png')) return { png: res.bytes };
      throw wahaError(res.status, parseJson(res.bytes.toString('utf8')));
    },
    close: () => pool.close(),
  } as WahaClient;
}

function wahaError(status: number, body: unknown): WhatsAppSendError {
  const e = errorBody.safeParse(body);
  const said = e.success ? [e.data.message].flat().filter(Boolean).join('; ') || e.data.error : undefined;
  const title = `WAHA answered HTTP ${status}${said ? `: ${said.slice(0, 300)}` : ''}`;
  return new WhatsAppSendError(undefined, title, { httpStatus: status, classification: classifyWahaStatus(status) });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
