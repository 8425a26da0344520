import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findFreePort } from '../../temporal/devServer';
import { webhookSender, type WebhookSender } from './meta';
import { REPO_ROOT, spawnGroup, type Child } from './processes';
import { APP_SECRET, type Stack } from './stack';
import { until } from './stats';

export const FLOOR_TASK_QUEUE = 'bench-floor';

export interface Floor {
  url: string;
  webhook: WebhookSender;
  child: Child;
  stop(): Promise<void>;
}

/** Starts bench/floor/server.ts as its own process against the stack's Postgres and Temporal. */
export async function startFloor(stack: Stack): Promise<Floor> {
  const port = await findFreePort();
  const child = spawnGroup(
    'floor',
    path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
    ['bench/floor/server.ts'],
    {
      PATH: process.env.PATH,
      DATABASE_URL: stack.databaseUrl,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      FLOOR_APP_SECRET: APP_SECRET,
      FLOOR_TASK_QUEUE,
      FLOOR_PORT: String(port),
    },
    path.join(stack.dir, 'floor.log'),
  );
  const url = `http://127.0.0.1:${port}`;
  await until('the floor server', async () => ((await fetch(`${url}/ready`).catch(() => undefined))?.ok ? true : undefined), 60_000, 100);
  const webhook = webhookSender(`${url}/webhook`, APP_SECRET);
  return {
    url,
    webhook,
    child,
    async stop() {
      await webhook.close();
      await child.stop();
    },
  };
}

/** An HTTP sink in the bench process that notes when each id arrives (the floor's "manager message"). */
export async function startSink() {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrivals.set(JSON.parse(Buffer.concat(chunks).toString()).id, performance.now());
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    arrived: (id: string) => until(`sink ${id}`, () => arrivals.get(id), 30_000, 1),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
