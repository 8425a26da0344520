/**
 * The floor process (`tsx bench/floor/server.ts`), run beside the real API and worker in the
 * same bench: the bare minimum behind each measured route, over the same HTTP, Postgres and
 * Temporal.
 *   POST /webhook   HMAC-SHA256 check of the raw body + one INSERT, then 200
 *   POST /bookings  one INSERT + one workflow start, then 201
 * and a Temporal worker for the floor workflows (workflows.ts) on FLOOR_TASK_QUEUE.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Pool } from 'pg';
import * as activities from './activities';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

async function main() {
  const appSecret = env('FLOOR_APP_SECRET');
  const taskQueue = env('FLOOR_TASK_QUEUE');
  // The app's default knex pool is 10; the same here so the floor is not advantaged by more connections.
  const pool = new Pool({ connectionString: env('DATABASE_URL'), max: 10 });
  await pool.query('create table if not exists bench_floor (id bigserial primary key, body text not null, created_at timestamptz not null default now())');

  const connection = await Connection.connect({ address: env('TEMPORAL_ADDRESS') });
  const client = new Client({ connection });
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') }),
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities,
  });
  const running = worker.run();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const answer = (status: number) => res.writeHead(status).end();
      if (req.url === '/ready') return answer(200);
      if (req.url === '/webhook') {
        const expected = Buffer.from(`sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`);
        const given = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) return answer(401);
        pool.query('insert into bench_floor (body) values ($1)', [raw.toString('utf8')]).then(() => answer(200), () => answer(503));
        return;
      }
      if (req.url === '/bookings') {
        const id = randomUUID();
        pool
          .query('insert into bench_floor (body) values ($1)', [raw.toString('utf8')])
          .then(() => client.workflow.start('floorSignals', { taskQueue, workflowId: `floor-booking-${id}`, args: [1] }))
          .then(() => answer(201), () => answer(503));
        return;
      }
      answer(404);
    });
  });
  server.listen(Number(env('FLOOR_PORT')), '127.0.0.1');

  const shutdown = () => {
    server.close();
    server.closeAllConnections();
    worker.shutdown();
    void running.finally(() => Promise.all([pool.end(), connection.close()])).then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
