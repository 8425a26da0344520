import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger';
import { ApiError, sendError } from './errors';
import { identify, timeRequest } from './requestContext';

/** A (req, res) handler that needs nothing of express: express can mount it too. */
export type BareHandler = (req: IncomingMessage & { id: string; log: Logger }, res: ServerResponse) => Promise<void>;

export interface BareRoute {
  method: string;
  path: string;
  handle: BareHandler;
}

/**
 * The HTTP server's listener: the routes given are served straight from Node's http server,
 * everything else by the express app. Meta sends the webhook thousands of deliveries a second
 * and retries the slow ones; express's router, middleware chain and response helpers were a
 * fifth of the API's CPU per delivery. A bare route keeps what the app gives every request:
 * the request id, the request log line, the latency metric and the one error shape; middleware
 * added to the express app does not run for it.
 */
export function withBareRoutes(app: RequestListener, routes: BareRoute[], logger: Logger): RequestListener {
  return (req, res) => {
    const path = req.url?.split('?')[0];
    const route = routes.find((r) => r.method === req.method && r.path === path);
    if (!route) return app(req, res);
    const context = identify(req, res, logger);
    timeRequest(req, res, () => route.path);
    route.handle(context, res).catch((err) => {
      // A caller that went away mid-body has nobody left to answer.
      if (!req.socket.destroyed) sendError(context, res, err);
    });
  };
}

/**
 * The body as bytes, refused with 413 past `limit`. Compressed bodies are refused (415):
 * Meta does not compress its deliveries, and inflating would let a small request cost much.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') throw new ApiError('unsupported_media_type', `content-encoding ${encoding} is not supported`);
  const tooLarge = () => new ApiError('payload_too_large', 'the request body is too large');
  if (Number(req.headers['content-length']) > limit) throw tooLarge();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Stop keeping it, and let the rest drain so the 413 reaches the caller.
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
