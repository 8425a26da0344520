import { Client, Connection } from '@temporalio/client';
import knexFactory from 'knex';
import { request } from './helpers/openapi';
import { loadConfig } from '../config';
import type { Db } from '../db/knex';
import { createTestApp, fakeTemporal, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
let unreachableDb: Db;
beforeAll(async () => {
  t = await createTestDatabase();
  // Port 1 on loopback: nothing listens there, so every connection is refused at once.
  // Knex would print each refusal to the console; the health check reports it instead.
  unreachableDb = knexFactory({ client: 'pg', connection: 'postgres://postgres:x@127.0.0.1:1/none', log: { warn: () => {} } });
});
afterAll(async () => {
  await unreachableDb.destroy();
  await t.drop();
});

test('200 when Postgres and Temporal both answer', async () => {
  const res = await request(createTestApp({ db: t.db })).get('/health');
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ status: 'ok', checks: { postgres: 'ok', temporal: 'ok' } });
  expect(res.headers['cache-control']).toBe('no-store');
});

test('the probe works against a real Temporal server', async () => {
  const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS });
  try {
    const temporal = new Client({ connection });
    const res = await request(createTestApp({ db: t.db, temporal })).get('/health');
    expect(res.body).toEqual({ status: 'ok', checks: { postgres: 'ok', temporal: 'ok' } });
  } finally {
    await connection.close();
  }
});

test('503 naming Postgres when it is down', async () => {
  const res = await request(createTestApp({ db: unreachableDb })).get('/health');
  expect(res.status).toBe(503);
  expect(res.body).toEqual({
    status: 'unavailable',
    checks: { postgres: 'failed', temporal: 'ok' },
  });
});

test('503 naming Temporal when it refuses', async () => {
  const temporal = fakeTemporal(() => Promise.reject(new Error('14 UNAVAILABLE: Connection refused\nmore detail')));
  const res = await request(createTestApp({ db: t.db, temporal })).get('/health');
  expect(res.status).toBe(503);
  expect(res.body).toEqual({
    status: 'unavailable',
    checks: { postgres: 'ok', temporal: 'failed' },
  });
});

test('503 after about 2 s when Temporal does not answer at all', async () => {
  const temporal = fakeTemporal(() => new Promise(() => {}));
  const started = Date.now();
  const res = await request(createTestApp({ db: t.db, temporal })).get('/health');
  expect(Date.now() - started).toBeLessThan(4_000);
  expect(res.status).toBe(503);
  expect(res.body.checks).toEqual({ postgres: 'ok', temporal: 'failed: no answer within 2000 ms' });
});

test('both failures are reported together', async () => {
  const temporal = fakeTemporal(() => Promise.reject(new Error('deadline exceeded')));
  const res = await request(createTestApp({ db: unreachableDb, temporal })).get('/health');
  expect(res.status).toBe(503);
  expect(res.body.checks).toEqual({ postgres: 'failed', temporal: 'failed' });
});

describe('GET /metrics', () => {
  const METRICS_TOKEN = 'metrics-token-0123456789';
  const guarded = () => createTestApp({ db: t.db, config: loadConfig({ METRICS_TOKEN }) });

  test('open when METRICS_TOKEN is unset', async () => {
    const res = await request(createTestApp({ db: t.db })).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^# HELP /m);
  });

  test('with METRICS_TOKEN, no token is 401 in the one error shape', async () => {
    const res = await request(guarded()).get('/metrics');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(res.body).toEqual({ error: { code: 'unauthorized', message: 'a metrics bearer token is required' } });
    expect(res.text).not.toMatch(/# HELP/);
  });

  test('with METRICS_TOKEN, a wrong token is 401; the admin token is not enough either', async () => {
    for (const token of ['metrics-token-0123456780', 'short', TEST_ADMIN_TOKEN]) {
      const res = await request(guarded()).get('/metrics').set('Authorization', `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual({ code: 'unauthorized', message: 'the metrics token is not valid' });
    }
  });

  test('with METRICS_TOKEN, the right bearer token gets the metrics', async () => {
    const res = await request(guarded()).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^# HELP /m);
  });

  test('a METRICS_TOKEN under 16 characters is a configuration error', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN: must be at least 16 characters/);
  });
});
