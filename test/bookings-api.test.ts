/** The public booking API's edges: rate limit, CORS, lookups, validation, and creation against real Postgres and Temporal. */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { request } from './helpers/openapi';
import { loadConfig, type Config } from '../config';
import { createDb } from '../db/knex';
import { bookingHandle } from '../temporal/bookingClient';
import { WORKFLOW_TYPE, workflowIdFor } from '../workflows/definitions';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createTestApp } from './helpers/app';
import { createRestaurantFixture, type RestaurantFixture } from './helpers/fixtures';
import { connectDevServer, uniqueId, type DevServerConnection } from './helpers/temporal';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

test('POST /api/bookings is rate-limited per client address with the one error shape', async () => {
  const app = createTestApp({ db: t.db, config: loadConfig({ NODE_ENV: 'test', BOOKINGS_RATE_LIMIT_PER_MINUTE: '2' }) });
  for (let i = 0; i < 2; i++) expect((await request(app).post('/api/bookings').send({})).status).toBe(400);
  const limited = await request(app).post('/api/bookings').send({});
  expect(limited.status).toBe(429);
  expect(limited.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
  // Reading is not limited.
  expect((await request(app).get('/api/bookings/1')).status).toBe(404);
});

test('CORS: only the configured origins may call from a browser', async () => {
  const app = createTestApp({ db: t.db, config: loadConfig({ NODE_ENV: 'test', CORS_ORIGINS: 'https://bistro.example, https://cafe.example' }) });
  const allowed = await request(app).options('/api/bookings').set('Origin', 'https://cafe.example').set('Access-Control-Request-Method', 'POST');
  expect(allowed.headers['access-control-allow-origin']).toBe('https://cafe.example');
  const refused = await request(app).options('/api/bookings').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
  expect(refused.headers['access-control-allow-origin']).toBeUndefined();
});

test('an unknown or malformed booking id is a 404; a bad Idempotency-Key a 400', async () => {
  const app = createTestApp({ db: t.db });
  expect((await request(app).get('/api/bookings/999999')).body.error).toMatchObject({ code: 'not_found' });
  expect((await request(app).get('/api/bookings/abc')).status).toBe(404);
  const res = await request(app).post('/api/bookings').set('Idempotency-Key', 'x'.repeat(201)).send({});
  expect(res.status).toBe(400);
});

describe('POST /api/bookings against the real dev server', () => {
  let dev: DevServerConnection;
  let fixture: RestaurantFixture;
  let config: Config;
  const taskQueue = uniqueId('bookings-api');
  beforeAll(async () => {
    dev = await connectDevServer();
    fixture = await createRestaurantFixture(t.db);
    // Nothing polls this task queue: the workflows only need to exist.
    config = loadConfig({ NODE_ENV: 'test', TEMPORAL_TASK_QUEUE: taskQueue });
  });
  afterAll(async () => {
    const ids: number[] = await t.db('bookings').pluck('id');
    await Promise.all(ids.map((id) => bookingHandle(dev.client, id).terminate('test over').catch(() => undefined)));
    await dev.close();
  });

  let hour = 0;
  /** A valid request for a slot no earlier test took. */
  const booking = (extra: object = {}) => ({
    restaurantId: fixture.restaurantId,
    tableId: fixture.tableId,
    startsAt: new Date(Date.now() + 86_400_000 + ++hour * 3 * 3_600_000).toISOString(),
    partySize: 2,
    ...extra,
  });
  const nextBookingId = async () =>
    Number((await t.db.raw('select last_value + (case when is_called then 1 else 0 end) as id from bookings_id_seq')).rows[0].id);

  test('bad text, a far future and year 9999 are 400 validation_failed, before anything is stored', async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const refused = [
      { guestName: 'Ana\u0000' },
      { specialRequests: 'window \ud800 please' },
      { preorder: [{ menuItemId: fixture.menuItemId, quantity: 1, notes: '\udc00' }] },
      { startsAt: '9999-01-01T19:30:00+05:00' },
      { startsAt: new Date(Date.now() + 400 * 86_400_000).toISOString() },
    ];
    for (const extra of refused) {
      const res = await request(app).post('/api/bookings').send(booking(extra));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'validation_failed', details: [expect.objectContaining({ in: 'body' })] });
    }
    expect(await t.db('bookings').count({ n: '*' }).first()).toEqual({ n: 0 });
  });

  test('the DRAFT row is committed before the workflow starts; the workflow carries the row identity', async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const service = dev.client.workflowService;
    const start = service.startWorkflowExecution;
    let visibleDuringStart: unknown;
    // Another connection looks for the row while Temporal is being called: only a committed row shows.
    service.startWorkflowExecution = (async (req: { workflowId?: string | null }) => {
      visibleDuringStart = await t.db('bookings').where('workflow_id', req.workflowId).first('status');
      return start.call(service, req);
    }) as typeof start;
    try {
      const res = await request(app).post('/api/bookings').send(booking());
      expect(res.status).toBe(201);
      expect(visibleDuringStart).toEqual({ status: 'DRAFT' });
      const row = await t.db('bookings').where('id', res.body.id).first('created_at');
      const described = await bookingHandle(dev.client, res.body.id).describe();
      expect(described.status.name).toBe('RUNNING');
      expect(described.memo).toEqual({ bookingRowCreatedAt: new Date(row.created_at).toISOString() });
    } finally {
      service.startWorkflowExecution = start;
    }
  });

  test('a booking with a pre-order costs two database round trips: one to check it, one to store row, items and history', async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const queries: string[] = [];
    const record = (q: { sql: string }) => queries.push(q.sql);
    t.db.on('query', record);
    let res;
    try {
      res = await request(app)
        .post('/api/bookings')
        .send(booking({ preorder: [{ menuItemId: fixture.menuItemId, quantity: 2, notes: 'no onions' }] }));
    } finally {
      t.db.off('query', record);
    }
    expect(res.status).toBe(201);
    // Under load every round trip waits for a pooled connection: this is the throughput of POST /api/bookings.
    expect(queries).toHaveLength(2);
    expect(await t.db('booking_items').where('booking_id', res.body.id).select('menu_item_id', 'quantity', 'notes')).toEqual([
      { menu_item_id: fixture.menuItemId, quantity: 2, notes: 'no onions' },
    ]);
    expect(await t.db('booking_history').where('booking_id', res.body.id).select('from_status', 'to_status', 'actor_type')).toEqual([
      { from_status: null, to_status: 'DRAFT', actor_type: 'guest' },
    ]);
    const row = await t.db('bookings').where('id', res.body.id).first('claim_code', 'workflow_id', 'status');
    expect(row).toEqual({ claim_code: res.body.claimText.replace('BOOKING:', ''), workflow_id: workflowIdFor(res.body.id), status: 'DRAFT' });
  });

  test("another restaurant's table or dish is 400 on its field, an unknown restaurant or table 404, and nothing is stored", async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const other = await createRestaurantFixture(t.db);
    const before = await t.db('bookings').count({ n: '*' }).first();
    const cases: [object, number, string][] = [
      [{ tableId: other.tableId }, 400, 'tableId'],
      [{ preorder: [{ menuItemId: fixture.menuItemId, quantity: 1 }, { menuItemId: other.menuItemId, quantity: 1 }] }, 400, 'preorder.1.menuItemId'],
      [{ restaurantId: 999_999 }, 404, 'restaurant'],
      [{ tableId: 999_999 }, 404, 'table'],
    ];
    for (const [extra, status, what] of cases) {
      const res = await request(app).post('/api/bookings').send(booking(extra));
      expect({ what, status: res.status }).toEqual({ what, status });
      if (status === 400) expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([what]);
      else expect(res.body.error).toMatchObject({ code: 'not_found', message: expect.stringContaining(what) });
    }
    expect(await t.db('bookings').count({ n: '*' }).first()).toEqual(before);
  });

  test('a slot a PENDING booking holds is 409 slot_taken, and nothing is stored', async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const body = booking();
    const held = await request(app).post('/api/bookings').send(body);
    expect(held.status).toBe(201);
    await t.db('bookings').where('id', held.body.id).update({ status: 'PENDING' });
    const before = await t.db('bookings').count({ n: '*' }).first();

    const res = await request(app)
      .post('/api/bookings')
      .send({ ...body, startsAt: new Date(Date.parse(body.startsAt) + 30 * 60_000).toISOString() });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'conflict', details: { reason: 'slot_taken' } });
    expect(await t.db('bookings').count({ n: '*' }).first()).toEqual(before);
    // A DRAFT does not hold the table: once the first booking is back to DRAFT the slot is free.
    await t.db('bookings').where('id', held.body.id).update({ status: 'DRAFT' });
    expect((await request(app).post('/api/bookings').send({ ...body, startsAt: new Date(Date.parse(body.startsAt) + 30 * 60_000).toISOString() })).status).toBe(201);
  });

  test('Temporal unreachable: 503 unavailable within 5 s, the row stays DRAFT, a retry with the key starts its workflow', async () => {
    const down = Connection.lazy({ address: '127.0.0.1:1' });
    try {
      const downApp = createTestApp({ db: t.db, config, temporal: new Client({ connection: down }) });
      const body = booking();
      const started = Date.now();
      const res = await request(downApp).post('/api/bookings').set('Idempotency-Key', 'retry-me').send(body);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      const row = await t.db('bookings').where('idempotency_key', 'retry-me').first('id', 'status');
      expect(row.status).toBe('DRAFT');
      await expect(bookingHandle(dev.client, row.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

      const upApp = createTestApp({ db: t.db, config, temporal: dev.client });
      const retried = await request(upApp).post('/api/bookings').set('Idempotency-Key', 'retry-me').send(body);
      expect(retried.status).toBe(201);
      expect(retried.body.id).toBe(row.id);
      expect((await bookingHandle(dev.client, row.id).describe()).status.name).toBe('RUNNING');
      // Once more: the workflow is found, not started twice.
      expect((await request(upApp).post('/api/bookings').set('Idempotency-Key', 'retry-me').send(body)).status).toBe(201);
    } finally {
      await down.close();
    }
  });

  test('a running workflow of another database under the next id is never bound: 503', async () => {
    const app = createTestApp({ db: t.db, config, temporal: dev.client });
    const id = await nextBookingId();
    const stranger = await dev.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: uniqueId('stranger'),
      workflowId: workflowIdFor(id),
      args: [{ bookingId: id }],
      memo: { bookingRowCreatedAt: '2001-01-01T00:00:00.000Z' },
    });
    try {
      const res = await request(app).post('/api/bookings').send(booking());
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      const described = await stranger.describe();
      expect(described.runId).toBe(stranger.firstExecutionRunId);
      expect(described.status.name).toBe('RUNNING');
      expect(described.memo).toEqual({ bookingRowCreatedAt: '2001-01-01T00:00:00.000Z' });
      expect(await t.db('bookings').where('id', id).first('status')).toEqual({ status: 'DRAFT' });
    } finally {
      await stranger.terminate('test over');
    }
  });

  test('no free database connection within the acquire timeout: 503 unavailable, within 5 s', async () => {
    const db = createDb(t.url, { min: 0, max: 1 }, { warn() {}, error() {}, debug() {} });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The pool's only connection stays busy for the whole request.
    const holder = db.transaction(async (trx) => {
      await trx.raw('select 1');
      await held;
    });
    try {
      const app = createTestApp({ db, config, temporal: dev.client });
      const started = Date.now();
      const res = await request(app).get('/api/bookings/1');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
    } finally {
      release();
      await holder;
      await db.destroy();
    }
  });

  test('Postgres unreachable: 503 unavailable, fast', async () => {
    const quiet = { warn() {}, error() {}, debug() {} };
    const db = createDb('postgres://nobody:x@127.0.0.1:1/none', { min: 0, max: 1 }, quiet);
    try {
      const app = createTestApp({ db, config, temporal: dev.client });
      const started = Date.now();
      for (const res of [await request(app).post('/api/bookings').send(booking()), await request(app).get('/api/bookings/1')]) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('unavailable');
        expect(res.headers['retry-after']).toBeDefined();
      }
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await db.destroy();
    }
  });
});
