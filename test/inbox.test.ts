import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { request } from './helpers/openapi';
import { createDb, type Db } from '../db/knex';
import { recordWebhookBatch, type InboundRecord, type WhatsAppMessageRow } from '../db/messages';
import { registry } from '../observability/metrics';
import { createInbox, type Inbox, type InboxOptions } from '../whatsapp/inbox';
import { createTestApp, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { testPhone } from './helpers/fixtures';

let t: TestDatabase;
const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());
beforeEach(() => t.db('whatsapp_messages').del());

const wamid = () => `wamid.INBOX${randomBytes(8).toString('hex')}`;
const message = (phone: string, text = 'hi'): InboundRecord => {
  const id = wamid();
  return { providerMessageId: id, phone, purpose: 'text', payload: { type: 'message', kind: 'text', messageId: id, text }, foreign: false };
};
const store = (messages: InboundRecord[], floodLimit = 1_000) => recordWebhookBatch(t.db, { messages, statuses: [], floodLimit });

function inbox(over: Partial<InboxOptions> & Pick<InboxOptions, 'process'>): Inbox {
  return createInbox({ db: t.db, logger, concurrency: 8, maxAttempts: 3, retryDelayMs: 10, ...over });
}

/** Drains until no row is due, waiting out retry backoffs in between. */
async function drainAll(...inboxes: Inbox[]): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    await Promise.all(inboxes.map((b) => b.drain()));
    const open = await t.db('whatsapp_messages').whereNull('processed_at').whereNull('dead_at').count({ n: '*' }).first();
    if (Number(open?.n) === 0) return;
    await sleep(20);
  }
  throw new Error('inbox did not settle');
}

describe('leases and retries', () => {
  it('dead-letters a row that keeps throwing, after its attempts, and its sender goes on', async () => {
    const phone = testPhone();
    const [poison, next] = [message(phone, 'poison'), message(phone, 'fine')];
    await store([poison, next]);
    const seen: string[] = [];
    const box = inbox({
      process: async (row) => {
        seen.push(row.providerMessageId!);
        if (row.providerMessageId === poison.providerMessageId) throw new Error('cannot read this');
        return {};
      },
    });
    await drainAll(box);

    const dead = await t.db('whatsapp_messages').where({ provider_message_id: poison.providerMessageId }).first();
    expect(dead).toMatchObject({ attempts: 3, last_error: 'cannot read this', processed_at: null, dead_at: expect.any(Date) });
    // The later message of the same sender waited for every attempt, then ran.
    expect(seen).toEqual([poison.providerMessageId, poison.providerMessageId, poison.providerMessageId, next.providerMessageId]);
    expect(await t.db('whatsapp_messages').where({ provider_message_id: next.providerMessageId }).first()).toMatchObject({
      processed_at: expect.any(Date),
      attempts: 1,
    });
    const metrics = await registry.getSingleMetricAsString('whatsapp_inbox_rows_total');
    expect(metrics).toMatch(/outcome="dead"} [1-9]/);
  });

  it('spends no attempts on an outage, however long, and acts on the row once it is over', async () => {
    const m = message(testPhone());
    await store([m]);
    let failures = 0;
    const outage = new Error('temporal unreachable');
    const box = inbox({
      isOutage: (err) => err === outage,
      process: async () => {
        if (failures < 6) {
          failures++;
          throw outage;
        }
        return {};
      },
    });
    await drainAll(box);
    expect(failures).toBe(6); // twice the row's attempts
    expect(await t.db('whatsapp_messages').where({ provider_message_id: m.providerMessageId }).first()).toMatchObject({
      attempts: 1,
      dead_at: null,
      processed_at: expect.any(Date),
      last_error: 'temporal unreachable',
    });
  });

  it('backs off exponentially between attempts', async () => {
    const m = message(testPhone());
    await store([m]);
    const box = inbox({ retryDelayMs: 60_000, process: async () => Promise.reject(new Error('down')) });
    expect(await box.drain()).toEqual({ processed: 0, failed: 1 });
    // Not due again before its backoff: a second pass finds nothing.
    expect(await box.drain()).toEqual({ processed: 0, failed: 0 });
    const row = await t.db('whatsapp_messages').where({ provider_message_id: m.providerMessageId }).first();
    const delay = row.next_attempt_at.getTime() - Date.now();
    expect(delay).toBeGreaterThan(50_000);
    expect(delay).toBeLessThanOrEqual(60_000);
    await t.db('whatsapp_messages').where({ id: row.id }).update({ next_attempt_at: t.db.fn.now() });
    await box.drain();
    const again = await t.db('whatsapp_messages').where({ id: row.id }).first();
    expect(again.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(110_000); // 2 × 60 s
  });

  it('takes a row back once the lease of a process that died on it runs out, and dead-letters it when that keeps happening', async () => {
    const m = message(testPhone());
    await store([m]);
    // A "process" that leased the row and died: the lease is simply never released.
    await t.db('whatsapp_messages').where({ provider_message_id: m.providerMessageId }).update({ attempts: 3, lease_until: t.db.raw("now() - interval '1 second'") });
    const processed: number[] = [];
    const box = inbox({ process: async (row) => (processed.push(row.id), {}) });
    await box.drain();
    expect(processed).toEqual([]);
    expect(await t.db('whatsapp_messages').where({ provider_message_id: m.providerMessageId }).first()).toMatchObject({
      attempts: 4,
      dead_at: expect.any(Date),
      last_error: expect.stringMatching(/lease ran out/),
    });
  });
});

describe('order and parallelism', () => {
  it('keeps each sender in order while senders run in parallel, and two inboxes act on every row once', async () => {
    const senders = Array.from({ length: 12 }, () => testPhone());
    const rows: InboundRecord[] = [];
    for (let round = 0; round < 6; round++) for (const s of senders) rows.push(message(s));
    // Several deliveries, as Meta would send them.
    for (let i = 0; i < rows.length; i += 10) await store(rows.slice(i, i + 10));

    const second: Db = createDb(t.url, { min: 0, max: 5 });
    const log: { inbox: string; id: number; phone: string; start: number; end: number }[] = [];
    let running = 0;
    let maxRunning = 0;
    const work = (name: string) => async (row: WhatsAppMessageRow) => {
      const start = performance.now();
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(5 + Math.random() * 10);
      running--;
      log.push({ inbox: name, id: row.id, phone: row.phone, start, end: performance.now() });
      return {};
    };
    const a = inbox({ process: work('a') });
    const b = createInbox({ db: second, logger, concurrency: 8, maxAttempts: 3, process: work('b') });
    try {
      await drainAll(a, b);
    } finally {
      await second.destroy();
    }

    // Every row exactly once.
    expect(log.map((l) => l.id).sort((x, y) => x - y)).toEqual((await t.db('whatsapp_messages').orderBy('id').pluck('id')) as number[]);
    expect(new Set(log.map((l) => l.id)).size).toBe(rows.length);
    expect(new Set(log.map((l) => l.inbox))).toEqual(new Set(['a', 'b']));
    // A sender's rows one after the other, in id order, whichever inbox took them.
    for (const s of senders) {
      const own = log.filter((l) => l.phone === s).sort((x, y) => x.start - y.start);
      expect(own.map((l) => l.id)).toEqual([...own.map((l) => l.id)].sort((x, y) => x - y));
      for (let i = 1; i < own.length; i++) expect(own[i].start).toBeGreaterThanOrEqual(own[i - 1].end);
    }
    expect(maxRunning).toBeGreaterThan(4);
  });

  /** Drains 12 stored rows, noting how many were being processed as each one started. */
  async function widthsWhile(narrow: (startedSoFar: number) => boolean): Promise<number[]> {
    let running = 0;
    const widths: number[] = [];
    await drainAll(
      inbox({
        narrow: () => narrow(widths.length),
        process: async () => {
          widths.push(++running);
          await sleep(10);
          running--;
          return {};
        },
      }),
    );
    expect(widths).toHaveLength(12);
    return widths;
  }

  it('works one row at a time while told to narrow, and widens again when told', async () => {
    await store(Array.from({ length: 12 }, () => message(testPhone())));
    const widths = await widthsWhile((started) => started < 6);
    expect(widths.slice(0, 6)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Math.max(...widths.slice(6))).toBeGreaterThan(1);
  });

  it('narrows only until rows wait two seconds: then full width, however long it is told to narrow', async () => {
    await store(Array.from({ length: 12 }, () => message(testPhone())));
    await t.db('whatsapp_messages').where({ direction: 'in' }).whereNull('processed_at').update({ created_at: t.db.raw("now() - interval '3 seconds'") });
    expect(Math.max(...(await widthsWhile(() => true)))).toBeGreaterThan(1);
  });

  it('lets other senders through while one sender floods, and skips the flood beyond the limit', async () => {
    const flooder = testPhone();
    const flood = Array.from({ length: 50 }, () => message(flooder));
    const recorded = await store(flood, 5);
    expect(recorded.messages).toMatchObject({ inserted: 50, skipped: 45 });
    // A later delivery in the same minute counts what is stored already.
    const more = await store(Array.from({ length: 30 }, () => message(flooder)), 5);
    expect(more.messages).toMatchObject({ inserted: 30, skipped: 30 });
    const guest = message(testPhone(), 'BOOKING:1-abcdefghjk');
    await store([guest], 5);

    const order: string[] = [];
    const box = inbox({
      concurrency: 4,
      process: async (row) => {
        order.push(row.phone === flooder ? (row.status === 'skipped' ? 'slowDown' : 'flood') : 'guest');
        await sleep(10);
        return {};
      },
    });
    await drainAll(box);
    // 5 acted on, 1 answered with "slow down", 44 never due; the guest never waited behind them.
    expect(order.filter((o) => o === 'flood')).toHaveLength(5);
    expect(order.filter((o) => o === 'slowDown')).toHaveLength(1);
    expect(order.indexOf('guest')).toBeLessThanOrEqual(1);
    const states: { status: string; n: number }[] = await t.db('whatsapp_messages').where({ phone: flooder }).select('status').count({ n: '*' }).groupBy('status');
    expect(Object.fromEntries(states.map((s) => [s.status, Number(s.n)]))).toEqual({ received: 5, skipped: 75 });
  });
});

describe('taps', () => {
  it('lets one manager\'s taps on different bookings run side by side, and keeps taps on one booking in order', async () => {
    const phone = testPhone();
    const tap = (buttonId: string): InboundRecord => {
      const id = wamid();
      return { providerMessageId: id, phone, purpose: 'button', payload: { type: 'message', kind: 'button', messageId: id, buttonId }, foreign: false };
    };
    await store([tap('APPROVE_BOOKING:1'), tap('APPROVE_BOOKING:2'), tap('REJECT_BOOKING:1')]);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const box = inbox({
      process: async (row) => {
        const { buttonId } = row.payload as { buttonId: string };
        started.push(buttonId);
        if (buttonId === 'APPROVE_BOOKING:1') await held;
        return {};
      },
    });
    const draining = box.drain();
    for (const deadline = Date.now() + 2_000; started.length < 2 && Date.now() < deadline; ) await sleep(10);
    // Booking 2's tap did not wait for booking 1's; booking 1's Reject does.
    expect(started).toEqual(['APPROVE_BOOKING:1', 'APPROVE_BOOKING:2']);
    release();
    await draining;
    await drainAll(box);
    expect(started).toEqual(['APPROVE_BOOKING:1', 'APPROVE_BOOKING:2', 'REJECT_BOOKING:1']);
  });
});

describe('bookkeeping statements', () => {
  it('marks the rows finished while one processed-mark is written with the next one, not one UPDATE each', async () => {
    await store(Array.from({ length: 40 }, () => message(testPhone())));
    const marks: string[] = [];
    const count = (q: { sql: string }) => {
      if (/^update "?whatsapp_messages"? .*set "?processed_at"? = (now\(\)|CURRENT_TIMESTAMP)/s.test(q.sql)) marks.push(q.sql);
    };
    t.db.on('query', count);
    try {
      await drainAll(inbox({ process: async () => ({}) }));
    } finally {
      t.db.off('query', count);
    }
    const open = await t.db('whatsapp_messages').whereNull('processed_at').count({ n: '*' }).first();
    expect(Number(open?.n)).toBe(0);
    expect(marks.length).toBeGreaterThan(0);
    expect(marks.length).toBeLessThan(20);
  });

  it('keeps generic plans in the webhook\'s functions, so a delivery is not planned again on every call', async () => {
    const { rows } = await t.db.raw<{ rows: { proname: string; proconfig: string[] | null }[] }>(
      `select proname, proconfig from pg_proc where proname in ('whatsapp_record_delivery', 'whatsapp_apply_statuses') order by proname`,
    );
    expect(rows).toEqual([
      { proname: 'whatsapp_apply_statuses', proconfig: ['plan_cache_mode=force_generic_plan'] },
      { proname: 'whatsapp_record_delivery', proconfig: ['plan_cache_mode=force_generic_plan'] },
    ]);
  });
});

describe('flood control', () => {
  it('never throttles staff: a manager tapping through a busy evening is not a flood', async () => {
    const manager = testPhone();
    await t.db('users').insert({ name: 'Aigerim', phone: manager });
    const recorded = await store(Array.from({ length: 12 }, () => message(manager)), 5);
    expect(recorded.messages).toMatchObject({ inserted: 12, skipped: 0 });
  });
});

describe('admin: /admin-api/inbox', () => {
  const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

  it('lists dead rows (keyset pages) and sends one back for another round', async () => {
    const app = createTestApp({ db: t.db });
    const phones = [testPhone(), testPhone(), testPhone()];
    const msgs = phones.map((p) => message(p));
    await store(msgs);
    await drainAll(inbox({ maxAttempts: 1, process: async () => Promise.reject(new Error('poison')) }));

    expect((await request(app).get('/admin-api/inbox?state=dead')).status).toBe(401);
    const first = await request(app).get('/admin-api/inbox?state=dead&limit=2').set(auth);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items[0]).toMatchObject({ state: 'dead', attempts: 1, lastError: 'poison', phone: phones[2], direction: 'in' });
    const second = await request(app).get(`/admin-api/inbox?state=dead&limit=2&cursor=${first.body.nextCursor}`).set(auth);
    expect(second.body).toMatchObject({ items: [expect.objectContaining({ phone: phones[0] })], nextCursor: null });
    expect((await request(app).get('/admin-api/inbox?state=sleeping').set(auth)).body.error.code).toBe('validation_failed');
    expect((await request(app).get('/admin-api/inbox?cursor=%%%').set(auth)).status).toBe(400);

    const id = first.body.items[0].id;
    const retried = await request(app).post(`/admin-api/inbox/${id}/retry`).set(auth);
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ id, state: 'pending' });
    expect((await request(app).get('/admin-api/inbox?state=pending').set(auth)).body.items.map((r: { id: number }) => r.id)).toEqual([id]);
    const again = await request(app).post(`/admin-api/inbox/${id}/retry`).set(auth);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'conflict', details: { state: 'pending' } });
    expect((await request(app).post('/admin-api/inbox/999999/retry').set(auth)).body.error.code).toBe('not_found');
    expect((await request(app).post('/admin-api/inbox/99999999999/retry').set(auth)).status).toBe(404);

    // With fresh attempts it is acted on now.
    const done: number[] = [];
    await drainAll(inbox({ process: async (row) => (done.push(row.id), {}) }));
    expect(done).toEqual([id]);
    expect((await request(app).get('/admin-api/inbox?state=processed').set(auth)).body.items.map((r: { id: number }) => r.id)).toEqual([id]);
  });

  it('reports the pending and dead rows and the lag in /metrics', async () => {
    await store([message(testPhone())]);
    const dead = message(testPhone());
    await store([dead]);
    await t.db('whatsapp_messages').where({ provider_message_id: dead.providerMessageId }).update({ dead_at: t.db.fn.now() });
    await t.db('whatsapp_messages').whereNull('dead_at').update({ created_at: t.db.raw("now() - interval '30 seconds'") });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const box = inbox({ intervalMs: 20, process: async () => held.then(() => ({})) });
    box.start();
    try {
      const app = createTestApp({ db: t.db });
      await sleep(100);
      const text = (await request(app).get('/metrics')).text;
      expect(text).toMatch(/^whatsapp_inbox_dead_rows 1$/m);
      // The row is leased by now, but still not processed: pending, and 30 s old.
      expect(text).toMatch(/^whatsapp_inbox_pending_rows 1$/m);
      expect(Number(/^whatsapp_inbox_lag_seconds (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(30);
    } finally {
      release();
      await box.stop();
    }
  });
});

describe('group commit of deliveries', () => {
  it('stores a message once when two deliveries carrying it share one write', async () => {
    const m = message(testPhone());
    const recorded = await store([m, { ...m }, message(testPhone())]);
    expect(recorded.messages).toMatchObject({ inserted: 2, duplicates: 1 });
    expect(await t.db('whatsapp_messages').where({ provider_message_id: m.providerMessageId }).count({ n: '*' }).first()).toEqual({ n: 1 });
  });
});
