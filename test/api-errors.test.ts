import express from 'express';
import type { Response } from 'supertest';
import { request } from './helpers/openapi';
import { z } from 'zod';
import { Client, Connection } from '@temporalio/client';
import { KnexTimeoutError } from 'knex';
import { errorHandler, notFoundHandler } from '../api/errors';
import { createDb } from '../db/knex';
import { requestContext } from '../api/requestContext';
import { createLogger } from '../observability/logger';
import { createTestDatabase, type TestDatabase } from './helpers/db';

/**
 * The error middleware against what the layers below really throw: pg errors from real
 * queries, zod errors, the router's own errors.
 */
let t: TestDatabase;
let app: express.Express;
beforeAll(async () => {
  t = await createTestDatabase();
  const { db } = t;
  app = express();
  app.use(requestContext(createLogger('silent')));
  app.post('/duplicate', async () => {
    await db('users').insert({ name: 'A', phone: '+77010006001' });
    await db('users').insert({ name: 'B', phone: '+77010006001' });
  });
  app.post('/missing-parent', async () => {
    await db('tables').insert({ restaurant_id: 987654, name: 'T', seats: 2 });
  });
  app.delete('/referenced', async () => {
    const [r] = await db('restaurants').insert({ name: 'R', timezone: 'UTC' }).returning('id');
    const [tb] = await db('tables').insert({ restaurant_id: r.id, name: 'T', seats: 2 }).returning('id');
    await db('bookings').insert({
      restaurant_id: r.id,
      table_id: tb.id,
      starts_at: '2030-01-01T18:00Z',
      ends_at: '2030-01-01T20:00Z',
      party_size: 2,
      claim_code: 'c1',
      claim_expires_at: '2030-01-01T17:00Z',
      workflow_id: 'wf-c1',
    });
    await db('tables').where({ id: tb.id }).delete();
  });
  // Values validation should have refused, reaching Postgres anyway: each is the client's fault.
  const rawInserts: Record<string, () => Promise<unknown>> = {
    'nul-text': () => db('restaurants').insert({ name: 'a\u0000b', timezone: 'UTC' }),
    // JSON.stringify writes a lone surrogate as the escape \ud800, which jsonb refuses.
    'lone-surrogate': async () => {
      const [r] = await db('restaurants').insert({ name: 'S', timezone: 'UTC' }).returning('id');
      await db('tables').insert({ restaurant_id: r.id, name: 'T', seats: 2, features: JSON.stringify(['\ud800']) });
    },
    'int-out-of-range': () => db('tables').where({ id: 2 ** 40 }).first(),
    'bad-datetime': () => db('bookings').where('starts_at', '<', 'not a date').first(),
    'datetime-overflow': () => db.raw("select '2030-13-45T99:00:00Z'::timestamptz"),
    'check-violation': () => db('restaurants').insert({ name: 'R', timezone: 'UTC', manager_language_code: 'xx' }),
  };
  app.get('/pg/:case', async (req) => {
    await rawInserts[String(req.params.case)]();
  });
  app.get('/unavailable/:case', async (req) => {
    const quiet = { warn() {}, error() {}, debug() {} };
    const unreachable = createDb('postgres://nobody:x@127.0.0.1:1/none', { min: 0, max: 1 }, quiet);
    try {
      if (req.params.case === 'refused') await unreachable.raw('select 1');
      if (req.params.case === 'pool-timeout') throw new KnexTimeoutError('Knex: Timeout acquiring a connection.');
      if (req.params.case === 'temporal') {
        const connection = Connection.lazy({ address: '127.0.0.1:1' });
        const client = new Client({ connection });
        try {
          await client.withDeadline(Date.now() + 500, () => client.workflow.start('any', { taskQueue: 'q', workflowId: 'w' }));
        } finally {
          await connection.close();
        }
      }
    } finally {
      await unreachable.destroy();
    }
  });
  app.get('/zod', () => {
    z.object({ when: z.iso.datetime() }).parse({ when: 'tomorrow' });
  });
  app.get('/items/:id', (_req, res) => {
    res.json({});
  });
  app.use(notFoundHandler);
  app.use(errorHandler);
});
afterAll(() => t.drop());

function expectError(res: Response, status: number, code: string, message: string) {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ error: { code, message } });
}

test('a unique violation is 409 conflict, without the SQL or the duplicate value', async () => {
  const res = await request(app).post('/duplicate');
  expectError(res, 409, 'conflict', 'a record with the same unique values already exists');
  expect(res.text).not.toContain('+77010006001');
});

test('a foreign key naming a missing parent is 404', async () => {
  expectError(await request(app).post('/missing-parent'), 404, 'not_found', 'a referenced record does not exist');
});

test('deleting a row something still references is 409', async () => {
  expectError(await request(app).delete('/referenced'), 409, 'conflict', 'the record is still referenced by other records');
});

test.each(['nul-text', 'lone-surrogate', 'int-out-of-range', 'bad-datetime', 'datetime-overflow', 'check-violation'])(
  'a value Postgres refuses (%s) is 400 bad_request, not 500',
  async (name) => {
    const res = await request(app).get(`/pg/${name}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'bad_request', message: expect.any(String) } });
  },
);

test.each(['refused', 'pool-timeout', 'temporal'])('an unreachable dependency (%s) is 503 unavailable with Retry-After', async (name) => {
  const res = await request(app).get(`/unavailable/${name}`);
  expectError(res, 503, 'unavailable', 'a service this request needs is unavailable; retry later');
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
});

test('a ZodError thrown anywhere is 400 validation_failed with the field', async () => {
  const res = await request(app).get('/zod');
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ code: 'validation_failed', details: [{ path: 'when', message: expect.any(String) }] });
});

test('an undecodable path is 400 bad_request', async () => {
  const res = await request(app).get('/items/%E0%A4%A');
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('bad_request');
});
