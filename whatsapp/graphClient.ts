import { Pool } from 'undici';
import { z } from 'zod';
import type { Config } from '../config';
import { WhatsAppSendError } from './errors';
import type { OutboundMessage } from './messages';

export interface GraphClient {
  /** Resolves with the wamid Meta assigned; rejects with a WhatsAppSendError. */
  send(message: OutboundMessage): Promise<{ messageId: string }>;
  close(): Promise<void>;
}

export interface GraphClientOptions {
  apiUrl: string;
  apiVersion: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs?: number;
  connections?: number;
}

const metaErrorBody = z.object({
  error: z.object({
    message: z.string().optional(),
    code: z.number().int(),
    error_data: z.object({ details: z.string().optional() }).optional(),
    fbtrace_id: z.string().optional(),
  }),
});

const acceptedBody = z.object({ messages: z.array(z.object({ id: z.string().min(1) })).min(1) });

/**
 * The Cloud API over one keep-alive connection pool to the API origin. The token travels
 * only in the Authorization header and is never part of an error or a log line.
 */
export function createGraphClient(o: GraphClientOptions): GraphClient {
  const base = new URL(o.apiUrl);
  const pool = new Pool(base.origin, {
    connections: o.connections ?? 16,
    keepAliveTimeout: 30_000,
    connectTimeout: o.timeoutMs ?? 10_000,
  });
  const path = `${base.pathname.replace(/\/+$/, '')}/${o.apiVersion}/${encodeURIComponent(o.phoneNumberId)}/messages`;
  const timeout = o.timeoutMs ?? 15_000;

  return {
    async send(message) {
      let statusCode: number;
      let text: string;
      try {
        const res = await pool.request({
          method: 'POST',
          path,
          headers: { authorization: `Bearer ${o.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(message),
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
        statusCode = res.statusCode;
        text = await res.body.text();
      } catch (err) {
        // The request may or may not have reached Meta; retrying is the lesser evil.
        throw new WhatsAppSendError(undefined, `network error: ${(err as Error).message}`);
      }
      const json = parseJson(text);
      if (statusCode >= 200 && statusCode < 300) {
        const ok = acceptedBody.safeParse(json);
        if (ok.success) return { messageId: ok.data.messages[0].id };
        // Accepted without an id: resending could deliver it twice, so do not retry.
        throw new WhatsAppSendError(undefined, `HTTP ${statusCode} without a message id`, {
          httpStatus: statusCode,
          classification: { kind: 'permanent', reason: 'unknown' },
        });
      }
      const error = metaErrorBody.safeParse(json);
      if (error.success) {
        const e = error.data.error;
        // Meta writes the code into the message too: "(#130429) Rate limit hit".
        const title = e.message?.replace(/^\(#\d+\)\s*/, '') || 'Meta error';
        throw new WhatsAppSendError(e.code, title, {
          details: e.error_data?.details,
          httpStatus: statusCode,
          fbtraceId: e.fbtrace_id,
        });
      }
      throw new WhatsAppSendError(undefined, `HTTP ${statusCode} without a Meta error body`, {
        httpStatus: statusCode,
        classification: statusCode >= 500 || statusCode === 429 ? undefined : { kind: 'permanent', reason: 'unknown' },
      });
    },
    close: () => pool.close(),
  };
}

/** The client for the configured number, or undefined when WhatsApp is not configured. */
export function graphClientFromConfig(config: Config): GraphClient | undefined {
  if (!config.WHATSAPP_ACCESS_TOKEN || !config.WHATSAPP_PHONE_NUMBER_ID) return undefined;
  return createGraphClient({
    apiUrl: config.WHATSAPP_API_URL,
    apiVersion: config.WHATSAPP_API_VERSION,
    phoneNumberId: config.WHATSAPP_PHONE_NUMBER_ID,
    accessToken: config.WHATSAPP_ACCESS_TOKEN,
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
