import type { Express } from 'express';
import pino from 'pino';
import { request } from './helpers/openapi';
import { createDb } from '../db/knex';
import { findMembershipByPhone, findMembershipByUserId, getTable, listMembers } from '../db/restaurants';
import { createTestApp, expectError, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
let app: Express;
beforeAll(async () => {
  t = await createTestDatabase();
  app = createTestApp({ db: t.db });
});
afterAll(() => t.drop());

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const admin = {
  get: (path: string) => request(app).get(`/admin-api${path}`).set(auth),
  post: (path: string, body?: string | object) => request(app).post(`/admin-api${path}`).set(auth).send(body),
  patch: (path: string, body?: object) => request(app).patch(`/admin-api${path}`).set(auth).send(body),
  delete: (path: string) => request(app).delete(`/admin-api${path}`).set(auth),
};

async function newRestaurant(name = 'Bistro'): Promise<number> {
  const res = await admin.post('/restaurants', { name, timezone: 'Asia/Almaty', managerLanguageCode: 'ru' });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('authentication', () => {
  test('no token is 401 with a bearer challenge', async () => {
    const res = await request(app).get('/admin-api/restaurants/1');
    expectError(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="admin-api"');
  });

  test('a wrong token is 401 invalid_token', async () => {
    for (const header of [`Bearer ${TEST_ADMIN_TOKEN}x`, 'Bearer short', `Basic ${TEST_ADMIN_TOKEN}`, TEST_ADMIN_TOKEN]) {
      const res = await request(app).get('/admin-api/restaurants/1').set('Authorization', header);
      expectError(res, 401, 'unauthorized');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="admin-api"/);
    }
    const wrong = await request(app).get('/admin-api/restaurants/1').set('Authorization', 'Bearer wrong-token');
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="admin-api", error="invalid_token"');
  });

  test('unknown admin paths do not reveal themselves without a token', async () => {
    expectError(await request(app).get('/admin-api/nothing-here'), 401, 'unauthorized');
    expectError(await admin.get('/nothing-here'), 404, 'not_found');
  });

  test('the token is checked before the body is read', async () => {
    const res = await request(app).post('/admin-api/restaurants').type('json').send('{not json');
    expectError(res, 401, 'unauthorized');
  });
});

describe('the HTTP skeleton', () => {
  test('unknown routes are 404 not_found', async () => {
    const res = await request(app).get('/no/such/route');
    expectError(res, 404, 'not_found');
    expect(res.body.error.message).toBe('no route for GET /no/such/route');
  });

  test('responses carry a request id and no x-powered-by', async () => {
    const res = await request(app).get('/no/such/route');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-powered-by']).toBeUndefined();
    const echoed = await request(app).get('/no/such/route').set('X-Request-Id', 'caller-id-42');
    expect(echoed.headers['x-request-id']).toBe('caller-id-42');
    const unsafe = await request(app).get('/no/such/route').set('X-Request-Id', 'bad id\twith spaces');
    expect(unsafe.headers['x-request-id']).not.toBe('bad id\twith spaces');
  });

  test('invalid JSON is 400 invalid_json', async () => {
    const res = await admin.post('/restaurants').type('json').send('{"name": "Bistro",');
    expectError(res, 400, 'invalid_json');
  });

  test('a body over 100 kB is 413 payload_too_large', async () => {
    const res = await admin.post('/restaurants', { name: 'x'.repeat(101 * 1024), timezone: 'UTC' });
    expectError(res, 413, 'payload_too_large');
  });

  test('a missing or non-JSON body is 400 validation_failed', async () => {
    const none = await admin.post('/restaurants');
    expectError(none, 400, 'validation_failed');
    expect(none.body.error.details).toEqual([{ in: 'body', path: '', message: expect.stringContaining('JSON body') }]);
    const form = await admin.post('/restaurants').type('form').send('name=Bistro&timezone=UTC');
    expectError(form, 400, 'validation_failed');
  });

  test('an unexpected failure is 500 internal with nothing internal in it, and logged with the request id', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const brokenDb = createDb(t.url);
    await brokenDb.destroy(); // every query now fails inside knex
    const broken = createTestApp({ db: brokenDb, logger });
    const res = await request(broken).get('/admin-api/restaurants/1').set(auth);
    expectError(res, 500, 'internal');
    const requestId = res.headers['x-request-id'];
    expect(res.body).toEqual({
      error: { code: 'internal', message: `internal error; quote request id ${requestId} when reporting it` },
    });
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
    expect(logged).toMatchObject({ reqId: requestId, err: { stack: expect.any(String) } });
  });

  test('GET /metrics serves the registry, with latency labelled by route pattern', async () => {
    await admin.get('/restaurants/987654');
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain');
    // The 404 came from inside the router: the label must still be the full pattern.
    expect(res.text).toMatch(
      /http_request_duration_seconds_count\{method="GET",route="\/admin-api\/restaurants\/:id",status="404"\} [1-9]/,
    );
    expect(res.text).toContain('route="unmatched"');
    expect(res.text).not.toContain('987654');
  });
});

describe('POST /admin-api/restaurants', () => {
  test('creates a restaurant with default settings', async () => {
    const res = await admin.post('/restaurants', { name: ' Demo ', timezone: 'asia/almaty', managerLanguageCode: 'kk' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(Number),
      name: 'Demo',
      timezone: 'Asia/Almaty',
      managerLanguageCode: 'kk',
      decisionReminderMinutes: null,
      escalateMinutes: null,
      decisionTimeoutMinutes: null,
      slotMinutes: null,
      effective: { decisionReminderMinutes: 10, escalateMinutes: 20, decisionTimeoutMinutes: 45, slotMinutes: 120 },
    });
    expect(res.headers.location).toBe(`/admin-api/restaurants/${res.body.id}`);
  });

  test('the manager language defaults to DEFAULT_LANGUAGE', async () => {
    const res = await admin.post('/restaurants', { name: 'Cafe', timezone: 'UTC' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ timezone: 'UTC', managerLanguageCode: 'en' });
  });

  test('lists every invalid field with the reason', async () => {
    const res = await admin.post('/restaurants', { name: '', timezone: 'Mars/Olympus', managerLanguageCode: 'de', stars: 5 });
    expectError(res, 400, 'validation_failed');
    const details: { in: string; path: string; message: string }[] = res.body.error.details;
    expect(details.map((d) => d.path).sort()).toEqual(['managerLanguageCode', 'name', 'stars', 'timezone']);
    expect(details.every((d) => d.in === 'body' && d.message.length > 0)).toBe(true);
    expect(details.find((d) => d.path === 'timezone')?.message).toMatch(/IANA time zone/);
    expect(details.find((d) => d.path === 'stars')?.message).toBe('unknown field');
  });

  test('missing fields are "required"; UTC offsets are not time zones', async () => {
    const missing = await admin.post('/restaurants', {});
    expect(missing.body.error.details).toEqual([
      { in: 'body', path: 'name', message: 'required' },
      { in: 'body', path: 'timezone', message: 'required' },
    ]);
    const offset = await admin.post('/restaurants', { name: 'X', timezone: '+05:00' });
    expect(offset.body.error.details).toEqual([{ in: 'body', path: 'timezone', message: expect.stringMatching(/IANA/) }]);
  });
});

describe('GET /admin-api/restaurants/:id', () => {
  test('returns the restaurant with its tables, menu and members', async () => {
    const id = await newRestaurant('Full House');
    await admin.post(`/restaurants/${id}/tables`, { name: 'T1', seats: 2, features: ['window'] }).expect(201);
    await admin.post(`/restaurants/${id}/menu-items`, { name: 'Plov', priceMinor: 350000, currency: 'KZT' }).expect(201);
    await admin.post(`/restaurants/${id}/managers`, { name: 'Aruzhan', phone: '+77010001001', role: 'owner' }).expect(201);
    const res = await admin.get(`/restaurants/${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id,
      name: 'Full House',
      tables: [{ id: expect.any(Number), restaurantId: id, name: 'T1', seats: 2, features: ['window'] }],
      menuItems: [{ id: expect.any(Number), restaurantId: id, name: 'Plov', priceMinor: 350000, currency: 'KZT' }],
      members: [{ id: expect.any(Number), name: 'Aruzhan', phone: '+77010001001', role: 'owner', language: null }],
    });
  });

  test.each(['987654', 'abc', '0', '-1', '1.5', '99999999999'])('/restaurants/%s is 404 naming the restaurant', async (id) => {
    const res = await admin.get(`/restaurants/${id}`);
    expectError(res, 404, 'not_found');
    expect(res.body.error.message).toBe(`restaurant ${id} not found`);
    expect(res.body.error.details).toEqual({ resource: 'restaurant', id: expect.anything() });
  });
});

describe('PATCH /admin-api/restaurants/:id', () => {
  test('updates settings; null resets one to the config default', async () => {
    const id = await newRestaurant();
    const timing = { decisionReminderMinutes: 5, escalateMinutes: 15, decisionTimeoutMinutes: 30, slotMinutes: 90 };
    const patch = { name: 'Renamed', timezone: 'Europe/London', managerLanguageCode: 'en', ...timing };
    const res = await admin.patch(`/restaurants/${id}`, patch);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ...patch, effective: timing });
    const reset = await admin.patch(`/restaurants/${id}`, { slotMinutes: null, decisionTimeoutMinutes: null });
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({
      name: 'Renamed',
      slotMinutes: null,
      decisionTimeoutMinutes: null,
      effective: { decisionTimeoutMinutes: 45, slotMinutes: 120 },
    });
    expect((await admin.get(`/restaurants/${id}`)).body).toMatchObject({ decisionReminderMinutes: 5, slotMinutes: null });
  });

  test('reminder < escalate < timeout must hold, counting config defaults', async () => {
    const id = await newRestaurant();
    // The default escalation is at 20 minutes, so a 25-minute reminder would come after it.
    const res = await admin.patch(`/restaurants/${id}`, { decisionReminderMinutes: 25 });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error.details).toEqual([
      { in: 'body', path: 'decisionReminderMinutes', message: expect.stringContaining('would be 25, 20, 45') },
    ]);
    const both = await admin.patch(`/restaurants/${id}`, { escalateMinutes: 50, decisionTimeoutMinutes: 40 });
    expect(both.body.error.details.map((d: { path: string }) => d.path)).toEqual(['escalateMinutes', 'decisionTimeoutMinutes']);
    expect((await admin.patch(`/restaurants/${id}`, { decisionReminderMinutes: 25, escalateMinutes: 30 })).status).toBe(200);
  });

  test('field errors and unknown restaurants', async () => {
    const id = await newRestaurant();
    const bad = await admin.patch(`/restaurants/${id}`, { slotMinutes: 0, escalateMinutes: 1.5, timezone: 'Nowhere' });
    expectError(bad, 400, 'validation_failed');
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'escalateMinutes',
      'slotMinutes',
      'timezone',
    ]);
    expectError(await admin.patch('/restaurants/987654', { name: 'X' }), 404, 'not_found');
  });
});

describe('POST /admin-api/restaurants/:id/tables', () => {
  test('creates a table; features are optional and deduplicated', async () => {
    const id = await newRestaurant();
    const res = await admin.post(`/restaurants/${id}/tables`, { name: 'Window 1', seats: 4, features: ['window', 'quiet', 'window'] });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(Number), restaurantId: id, name: 'Window 1', seats: 4, features: ['window', 'quiet'] });
    const plain = await admin.post(`/restaurants/${id}/tables`, { name: 'Bar', seats: 1 });
    expect(plain.body.features).toEqual([]);
    expect(await getTable(t.db, res.body.id)).toEqual(res.body);
  });

  test('a duplicate name in the same restaurant is 409; in another restaurant it is fine', async () => {
    const id = await newRestaurant();
    await admin.post(`/restaurants/${id}/tables`, { name: 'T1', seats: 2 }).expect(201);
    const dup = await admin.post(`/restaurants/${id}/tables`, { name: 'T1', seats: 6 });
    expectError(dup, 409, 'conflict');
    expect(dup.body.error.message).toContain('"T1"');
    await admin.post(`/restaurants/${await newRestaurant()}/tables`, { name: 'T1', seats: 2 }).expect(201);
  });

  test('validation and unknown restaurants', async () => {
    const id = await newRestaurant();
    const bad = await admin.post(`/restaurants/${id}/tables`, { name: '', seats: 0, features: ['ok', ''] });
    expectError(bad, 400, 'validation_failed');
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['features.1', 'name', 'seats']);
    expectError(await admin.post('/restaurants/987654/tables', { name: 'T', seats: 2 }), 404, 'not_found');
  });
});

describe('POST /admin-api/restaurants/:id/menu-items', () => {
  test('creates an item with a price, or without one', async () => {
    const id = await newRestaurant();
    const priced = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Lagman', priceMinor: 250000, currency: 'KZT' });
    expect(priced.status).toBe(201);
    expect(priced.body).toEqual({ id: expect.any(Number), restaurantId: id, name: 'Lagman', priceMinor: 250000, currency: 'KZT' });
    const free = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Water' });
    expect(free.status).toBe(201);
    expect(free.body).toMatchObject({ priceMinor: null, currency: null });
  });

  test('priceMinor and currency go together; currency is 3 uppercase letters', async () => {
    const id = await newRestaurant();
    const noCurrency = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Tea', priceMinor: 50000 });
    expectError(noCurrency, 400, 'validation_failed');
    expect(noCurrency.body.error.details).toEqual([{ in: 'body', path: 'currency', message: expect.stringMatching(/both or neither/) }]);
    const noPrice = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Tea', currency: 'KZT' });
    expect(noPrice.body.error.details).toEqual([{ in: 'body', path: 'priceMinor', message: expect.stringMatching(/both or neither/) }]);
    const lower = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Tea', priceMinor: 1, currency: 'kzt' });
    expect(lower.body.error.details).toEqual([{ in: 'body', path: 'currency', message: expect.stringMatching(/ISO 4217/) }]);
    const negative = await admin.post(`/restaurants/${id}/menu-items`, { name: 'Tea', priceMinor: -1, currency: 'KZT' });
    expect(negative.body.error.details.map((d: { path: string }) => d.path)).toEqual(['priceMinor']);
    expectError(await admin.post('/restaurants/987654/menu-items', { name: 'Tea' }), 404, 'not_found');
  });
});

describe('managers', () => {
  test('the phone is stored in E.164 and the manager returned', async () => {
    const id = await newRestaurant();
    const res = await admin.post(`/restaurants/${id}/managers`, { name: 'Dana', phone: '+7 (701) 000-20-01', language: 'kk' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(Number), name: 'Dana', phone: '+77010002001', role: 'manager', language: 'kk' });
    expect(await t.db('users').where({ id: res.body.id }).first('phone')).toEqual({ phone: '+77010002001' });
  });

  test('an invalid phone is 400 saying so', async () => {
    const id = await newRestaurant();
    const res = await admin.post(`/restaurants/${id}/managers`, { name: 'Dana', phone: '8701 000', role: 'boss' });
    expectError(res, 400, 'validation_failed');
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([
        { in: 'body', path: 'phone', message: expect.stringMatching(/not a valid phone number/) },
        { in: 'body', path: 'role', message: expect.any(String) },
      ]),
    );
  });

  test('one user per phone across restaurants; one membership per restaurant', async () => {
    const first = await newRestaurant('First');
    const second = await newRestaurant('Second');
    const a = await admin.post(`/restaurants/${first}/managers`, { name: 'Erlan', phone: '+77010003001', language: 'ru' });
    const b = await admin.post(`/restaurants/${second}/managers`, { name: 'Erlan K.', phone: '+7 701 000 30 01', role: 'owner' });
    expect(b.status).toBe(201);
    expect(b.body).toEqual({ id: a.body.id, name: 'Erlan K.', phone: '+77010003001', role: 'owner', language: 'ru' });
    expect(await t.db('users').where({ phone: '+77010003001' }).count({ n: '*' })).toEqual([{ n: 1 }]);

    const again = await admin.post(`/restaurants/${first}/managers`, { name: 'Someone Else', phone: '+77010003001', role: 'owner' });
    expectError(again, 409, 'conflict');
    expect(again.body.error.details).toEqual({ userId: a.body.id });
    // The refused request changed nothing.
    expect(await findMembershipByUserId(t.db, first, a.body.id)).toMatchObject({ name: 'Erlan K.', role: 'manager' });
  });

  test('DELETE removes the membership only', async () => {
    const first = await newRestaurant('First');
    const second = await newRestaurant('Second');
    const { body: m } = await admin.post(`/restaurants/${first}/managers`, { name: 'Gulnar', phone: '+77010004001' });
    await admin.post(`/restaurants/${second}/managers`, { name: 'Gulnar', phone: '+77010004001' }).expect(201);
    const res = await admin.delete(`/restaurants/${first}/managers/${m.id}`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(await findMembershipByUserId(t.db, first, m.id)).toBeUndefined();
    expect(await findMembershipByUserId(t.db, second, m.id)).toBeDefined();

    const gone = await admin.delete(`/restaurants/${first}/managers/${m.id}`);
    expectError(gone, 404, 'not_found');
    expect(gone.body.error.message).toBe(`manager ${m.id} not found`);
    expectError(await admin.delete(`/restaurants/${first}/managers/abc`), 404, 'not_found');
    expectError(await admin.delete(`/restaurants/987654/managers/${m.id}`), 404, 'not_found');
  });

  test('membership look-ups for the webhook and the workflow', async () => {
    const id = await newRestaurant();
    const { body: manager } = await admin.post(`/restaurants/${id}/managers`, { name: 'Manager', phone: '+77010005001' });
    const { body: owner } = await admin.post(`/restaurants/${id}/managers`, { name: 'Owner', phone: '+77010005002', role: 'owner' });
    const expected = { userId: manager.id, name: 'Manager', phone: '+77010005001', role: 'manager', language: null };
    expect(await findMembershipByPhone(t.db, id, '+77010005001')).toEqual(expected);
    expect(await findMembershipByUserId(t.db, id, manager.id)).toEqual(expected);
    expect(await findMembershipByPhone(t.db, id, '+77010009999')).toBeUndefined();
    expect(await findMembershipByPhone(t.db, await newRestaurant(), '+77010005001')).toBeUndefined();
    expect((await listMembers(t.db, id)).map((m) => m.userId)).toEqual([manager.id, owner.id]);
    expect((await listMembers(t.db, id, ['owner'])).map((m) => m.userId)).toEqual([owner.id]);
  });
});

describe('input Postgres cannot take is a 400, never a 500', () => {
  test('NUL and lone surrogates in any text field are 400 validation_failed naming the field', async () => {
    const id = await newRestaurant();
    const cases: [string, object, string][] = [
      ['/restaurants', { name: 'Bad\u0000Name', timezone: 'UTC' }, 'name'],
      [`/restaurants/${id}/tables`, { name: 'T', seats: 2, features: ['window', 'sea\ud800'] }, 'features.1'],
      [`/restaurants/${id}/tables`, { name: '\udc00', seats: 2 }, 'name'],
      [`/restaurants/${id}/menu-items`, { name: 'Plov\u0000' }, 'name'],
      [`/restaurants/${id}/managers`, { name: 'M', phone: '+7701\u00001234567' }, 'phone'],
      [`/booking/1/confirm`, { phone: '+77011234567', name: 'G\u0000' }, 'name'],
      [`/r/${id}/booking/1/reject`, { reason: '\ud83d' }, 'reason'],
    ];
    for (const [path, body, field] of cases) {
      // The confirm/reject routes look the booking up first; give them one that exists.
      const res = await admin.post(path.replace('/1/', `/${await aBookingOf(id)}/`), body);
      expectError(res, 400, 'validation_failed');
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
    }
    expectError(await admin.patch(`/restaurants/${id}`, { name: 'x\u0000' }), 400, 'validation_failed');
  });

  test('booking list: cursors with ids above 2^31 or impossible dates, and dates outside years 1900..9999, are 400', async () => {
    const id = await newRestaurant();
    const cursor = (raw: string) => Buffer.from(raw).toString('base64url');
    for (const query of [
      `cursor=${cursor('2030-01-01T10:00:00.000Z|2147483648')}`,
      `cursor=${cursor('2030-01-01T10:00:00.000Z|99999999999999999999')}`,
      `cursor=${cursor('2030-02-31T10:00:00.000Z|5')}`,
      `cursor=${cursor('0000-01-01T00:00:00.000Z|5')}`,
      `cursor=${cursor('+275760-09-13T00:00:00.000Z|5')}`,
      `cursor=${cursor('2030-01-01T10:00:00.000Z|5|x')}`,
      `from=${encodeURIComponent('0000-01-01T00:00:00Z')}`,
      `to=${encodeURIComponent('9999-12-31T23:00:00-05:00')}`,
      'limit=1e400',
      'status=PENDING&status=DRAFT',
    ]) {
      const res = await admin.get(`/r/${id}/bookings?${query}`);
      expectError(res, 400, 'validation_failed');
    }
    const ok = await admin.get(`/r/${id}/bookings?cursor=${cursor('2030-01-01T10:00:00.000Z|2147483647')}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ items: [], nextCursor: null });
  });
});

/** A DRAFT booking of the restaurant, written straight to the database (these routes need no workflow to refuse bad input). */
async function aBookingOf(restaurantId: number): Promise<number> {
  const table = await t.db('tables').where('restaurant_id', restaurantId).first('id');
  const tableId = table?.id ?? (await t.db('tables').insert({ restaurant_id: restaurantId, name: 'Fixture', seats: 4 }).returning('id'))[0].id;
  const existing = await t.db('bookings').where('restaurant_id', restaurantId).first('id');
  if (existing) return existing.id;
  const [{ id }] = await t.db('bookings')
    .insert({
      restaurant_id: restaurantId,
      table_id: tableId,
      starts_at: '2030-01-01T18:00Z',
      ends_at: '2030-01-01T20:00Z',
      party_size: 2,
      claim_code: `c-${restaurantId}`,
      claim_expires_at: '2030-01-01T17:00Z',
      workflow_id: `wf-${restaurantId}`,
    })
    .returning('id');
  return id;
}
