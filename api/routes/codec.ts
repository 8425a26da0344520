import type { Payload, PayloadCodec } from '@temporalio/common';
import cors from 'cors';
import express, { Router } from 'express';
import { z } from 'zod';
import { requireAdmin } from '../auth';
import { ApiError } from '../errors';
import { parseBody } from '../validation';

/**
 * The codec-server protocol (https://docs.temporal.io/production-deployment/data-encryption):
 * POST /codec/decode and /codec/encode take and answer `{payloads: [{metadata, data}]}`, the
 * proto JSON of Temporal Payloads (bytes in base64), so the Temporal UI and CLI can show
 * operators what the encrypted histories hold. Behind the admin token.
 */
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
const payloadsBody = z.object({
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

/** The embedded UI answers on 127.0.0.1 and on localhost alike; a browser sends whichever was typed. */
export function uiOriginsOf(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  const aliases = { '127.0.0.1': 'localhost', localhost: '127.0.0.1' } as Record<string, string | undefined>;
  const alias = aliases[url.hostname];
  return [url.origin, ...(alias ? [`${url.protocol}//${alias}${url.port ? `:${url.port}` : ''}`] : [])];
}

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
  router.use(requireAdmin(deps.adminToken));
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
