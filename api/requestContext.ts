import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../observability/logger';
import { httpRequestDuration } from '../observability/metrics';

declare global {
  namespace Express {
    interface Request {
      /** The caller's X-Request-Id when it sent a sane one, else a new UUID; echoed in the response. */
      id: string;
      /** The app logger bound to this request's id: log through it so lines can be correlated. */
      log: Logger;
    }
  }
}

const CALLER_REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Gives each request an id and a logger, and logs one line when it ends. Only method,
 * path, status and timing are logged: headers (Authorization) and query strings (which
 * may carry phone numbers) never are.
 */
export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    identify(req, res, logger);
    next();
  };
}

/** What requestContext does, for a request served outside express (api/bareRoutes.ts). */
export function identify(req: IncomingMessage, res: ServerResponse, logger: Logger): IncomingMessage & { id: string; log: Logger } {
  const header = req.headers['x-request-id'];
  const callerId = Array.isArray(header) ? header[0] : header;
  const id = callerId && CALLER_REQUEST_ID.test(callerId) ? callerId : randomUUID();
  // Made on first use: most requests never log, and the webhook takes thousands a second.
  let log: Logger | undefined;
  const context = Object.defineProperties(req as IncomingMessage & { id: string; log: Logger }, {
    id: { configurable: true, enumerable: true, writable: true, value: id },
    log: { configurable: true, enumerable: true, get: () => (log ??= logger.child({ reqId: id })) },
  });
  res.setHeader('X-Request-Id', id);
  if (!logger.isLevelEnabled('info')) return context;
  // Routers rewrite req.url while they run, so the full path is read now.
  const { method } = req;
  const path = (req.url ?? '').split('?')[0];
  const started = performance.now();
  res.on('close', () => {
    context.log.info(
      {
        method,
        path,
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        ...(res.writableFinished ? {} : { aborted: true }),
      },
      'request',
    );
  });
  return context;
}

/** Latency by route pattern (`/admin-api/restaurants/:id`), never the raw URL, so label values stay few. */
export const requestMetrics: RequestHandler = (req, res, next) => {
  timeRequest(req, res, captureRoutePattern(req));
  next();
};

export function timeRequest(req: IncomingMessage, res: ServerResponse, route: () => string | undefined): void {
  const stop = httpRequestDuration.startTimer();
  res.on('close', () => stop({ method: req.method, route: route() ?? 'unmatched', status: String(res.statusCode) }));
}

/**
 * Express assigns req.route when a route matches, while req.baseUrl still holds the mount
 * path of the router that matched. An error leaving that router resets baseUrl before the
 * response is written, so the full pattern has to be taken at the moment of the match.
 */
function captureRoutePattern(req: Request): () => string | undefined {
  let route: unknown;
  let pattern: string | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: { path: unknown }) => {
      route = value;
      pattern = `${req.baseUrl}${String(value.path)}`;
    },
  });
  return () => pattern;
}
