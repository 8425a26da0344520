/** The public booking API's edges that need no workflow: rate limit, CORS, lookups. */
import request from 'supertest';
import { loadConfig } from '../config';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createTestApp } from './helpers/app';

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
