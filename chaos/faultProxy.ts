import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/**
 * Fault injection in front of the fake Graph API, in Meta's own error shapes: a share of
 * sends answered 500 (code 2, "service temporarily unavailable") or 429 (code 130429, rate
 * limit), and every send to some recipients refused with 131026 (not a WhatsApp user). A
 * refused request never reaches the fake, so what the fake accepted is exactly what Meta
 * would have delivered.
 */
export interface FaultOptions {
  /** Share (0..1) of sends answered with a transient error. */
  transientRate: number;
  /** Digits of recipients every send to whom fails with 131026. */
  undeliverable: string[];
  random?: () => number;
}

export async function startFaultProxy(target: string, o: FaultOptions) {
  const random = o.random ?? Math.random;
  const injected = { status500: 0, status429: 0, code131026: 0, forwarded: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const metaError = (status: number, code: number, message: string) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: 'OAuthException', code, error_data: { messaging_product: 'whatsapp', details: message }, fbtrace_id: 'CHAOS' } }));
      let to = '';
      try {
        to = String(JSON.parse(raw.toString()).to ?? '').replace(/\D/g, '');
      } catch {
        // not JSON: let the fake refuse it
      }
      if (o.undeliverable.includes(to)) {
        injected.code131026++;
        return metaError(400, 131026, 'Message undeliverable');
      }
      const roll = random();
      if (roll < o.transientRate / 2) {
        injected.status500++;
        return metaError(500, 2, 'Service temporarily unavailable');
      }
      if (roll < o.transientRate) {
        injected.status429++;
        return metaError(429, 130429, 'Rate limit hit');
      }
      injected.forwarded++;
      request(`${target}${req.url}`, { method: req.method as 'POST', headers: { 'content-type': 'application/json', authorization: String(req.headers.authorization ?? '') }, body: raw }).then(
        async (r) => res.writeHead(r.statusCode, { 'content-type': 'application/json' }).end(Buffer.from(await r.body.arrayBuffer())),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    injected,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
