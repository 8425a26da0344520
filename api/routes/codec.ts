import type { Payload, PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { requireAdmin } from '../auth';
import { ApiError } from '../errors';
import { parseBody } from '../validation';

/**
 * A browser cannot add our bearer token to the Temporal UI's requests: the UI sends an
 * Authorization header only with its own OIDC access token (codec.passAccessToken), and
 * otherwise only cookies (codec.includeCredentials, "Include cross-origin credentials" in its
 * codec settings). So an operator signs in once at GET /codec/login, which keeps the admin
 * token in an HttpOnly cookie scoped to /codec; SameSite=Strict keeps other sites from using it.
 */
export const CODEC_COOKIE = 'wa_codec_token';
const COOKIE_MAX_AGE_S = 8 * 60 * 60;

const LOGIN_PAGE = (message = '') => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wa-booking · codec sign-in</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto">
<h1>Decode payloads in the Temporal UI</h1>
${message}
<form method="post" action="login">
  <label>Admin token <input type="password" name="token" autocomplete="off" required></label>
  <button>Sign in</button>
</form>
<p>Then, in the Temporal UI's codec server settings, use the endpoint of this page without
<code>/login</code> and tick <em>Include cross-origin credentials</em>.</p>
</body></html>`;

/** The codec cookie, as the bearer token requireAdmin reads, for requests that carry no Authorization header. */
const COOKIE_VALUE = new RegExp(`(?:^|;\\s*)${CODEC_COOKIE}=([^;]+)`);
const bearerFromCookie: RequestHandler = (req, _res, next) => {
  const token = COOKIE_VALUE.exec(req.get('cookie') ?? '')?.[1];
  if (token && !req.get('authorization')) {
    try {
      req.headers.authorization = `Bearer ${decodeURIComponent(token)}`;
    } catch {
      // A malformed cookie counts as none: requireAdmin refuses the request.
    }
  }
  next();
};

export interface CodecDeps {
  codec: PayloadCodec;
  adminToken: string;
  namespace: string;
  /** Origins of the Temporal UIs whose browsers may call this (CORS). */
  uiOrigins: string[];
}

/** History pages the UI decodes in one request can be large; the gRPC default message limit. */
const BODY_LIMIT = '4mb';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
export const payloadsBody = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), base64).nullish(),
      data: base64.nullish(),
    }),
  ),
});
type JsonPayload = z.infer<typeof payloadsBody>['payloads'][number];

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const LOOPBACK_ALIAS: Partial<Record<string, string>> = { '127.0.0.1': 'localhost', localhost: '127.0.0.1' };

/** The embedded UI answers on 127.0.0.1 and on localhost alike; a browser sends whichever was typed. */
export function uiOriginsOf(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  const origins = [url.origin];
  const alias = LOOPBACK_ALIAS[url.hostname];
  if (alias) {
    url.hostname = alias;
    origins.push(url.origin);
  }
  return origins;
}

/**
 * The codec-server protocol (https://docs.temporal.io/production-deployment/data-encryption):
 * POST /codec/decode and /codec/encode take and answer `{payloads: [{metadata, data}]}`, the
 * proto JSON of Temporal Payloads (bytes in base64), so the Temporal UI and CLI can show
 * operators what the encrypted histories hold. Behind the admin token.
 */
export function codecRouter(deps: CodecDeps): Router {
  const router = Router();
  // Before the token check, so a browser's preflight (which never carries credentials) is answered.
  router.use(
    cors({
      origin: deps.uiOrigins,
      methods: ['POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Namespace'],
      credentials: true,
      maxAge: 600,
    }),
  );
  const admin = requireAdmin(deps.adminToken);

  router.get('/login', (_req, res) => {
    res.type('html').send(LOGIN_PAGE());
  });
  router.post('/login', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    req.headers.authorization = `Bearer ${token}`;
    admin(req, res, () => {
      res.cookie(CODEC_COOKIE, token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: req.secure,
        path: req.baseUrl,
        maxAge: COOKIE_MAX_AGE_S * 1000,
      });
      res.type('html').send(LOGIN_PAGE('<p><strong>Signed in</strong> for 8 hours.</p>'));
    });
  });

  router.use(bearerFromCookie, admin);
  router.use(express.json({ limit: BODY_LIMIT }));

  for (const direction of ['decode', 'encode'] as const) {
    router.post(`/${direction}`, async (req, res) => {
      const namespace = req.get('x-namespace');
      if (namespace !== undefined && namespace !== deps.namespace) {
        throw new ApiError('bad_request', `this codec serves the namespace "${deps.namespace}" only`, {
          details: { namespace },
        });
      }
      const { payloads } = parseBody(req, payloadsBody);
      let converted: Payload[];
      try {
        converted = await deps.codec[direction](payloads.map(fromJson));
      } catch (err) {
        // The codec's messages name key ids and nothing secret.
        throw new ApiError('bad_request', (err as Error).message);
      }
      res.json({ payloads: converted.map(toJson) });
    });
  }
  return router;
}
