import type { Client } from '@temporalio/client';
import type { Config } from '../../config';
import { claimCode } from '../../domain/claim';
import { claimDeadline, resolveTiming } from '../../domain/timing';
import { insertDraftBooking, type BookingRow } from '../../db/bookings';
import type { Db } from '../../db/knex';
import { createDraftBooking } from '../../temporal/draftBooking';
import { workflowIdFor } from '../../workflows/definitions';

let phoneSeq = 0;
/** Distinct valid Kazakh mobile numbers (+7 701 ...), so files never collide on users.phone. */
export const testPhone = () => `+7701${String(Date.now() % 1_000_000).padStart(6, '0').slice(0, 3)}${String(++phoneSeq).padStart(4, '0')}`;

export interface RestaurantFixture {
  restaurantId: number;
  tableId: number;
  menuItemId: number;
  managers: { userId: number; phone: string; name: string }[];
  owner: { userId: number; phone: string; name: string };
}

/** A restaurant with one table, one dish, two managers and an owner, written straight to the database. */
export async function createRestaurantFixture(
  db: Db,
  opts: { managerLanguage?: string; timezone?: string; slotMinutes?: number } = {},
): Promise<RestaurantFixture> {
  const [{ id: restaurantId }] = await db('restaurants')
    .insert({
      name: 'Test Bistro',
      timezone: opts.timezone ?? 'Asia/Almaty',
      manager_language_code: opts.managerLanguage ?? 'en',
      slot_minutes: opts.slotMinutes ?? null,
    })
    .returning('id');
  const [{ id: tableId }] = await db('tables')
    .insert({ restaurant_id: restaurantId, name: 'Table 5', seats: 4, features: JSON.stringify(['window']) })
    .returning('id');
  const [{ id: menuItemId }] = await db('menu_items')
    .insert({ restaurant_id: restaurantId, name: 'Beshbarmak', price_minor: 450000, currency: 'KZT' })
    .returning('id');
  const member = async (name: string, role: 'manager' | 'owner') => {
    const phone = testPhone();
    const [{ id: userId }] = await db('users').insert({ name, phone }).returning('id');
    await db('restaurant_memberships').insert({ user_id: userId, restaurant_id: restaurantId, role });
    return { userId, phone, name };
  };
  const managers = [await member('Aigerim', 'manager'), await member('Daniyar', 'manager')];
  const owner = await member('Olga', 'owner');
  return { restaurantId, tableId, menuItemId, managers, owner };
}

/** What POST /api/bookings creates once the request is valid, on the Temporal server's clock (time-skipping servers run ahead). */
export function createDraft(
  deps: { db: Db; client: Client; config: Config; taskQueue: string },
  f: RestaurantFixture,
  b: { now: number; startsInMs: number; partySize?: number; language?: string; withDish?: boolean },
): Promise<BookingRow> {
  return createDraftBooking(deps.db, deps.client, deps.taskQueue, {
    restaurant: { id: f.restaurantId, timezone: 'Asia/Almaty' },
    table: { id: f.tableId, name: 'Table 5' },
    startsAt: new Date(b.now + b.startsInMs),
    partySize: b.partySize ?? 2,
    language: b.language,
    items: b.withDish ? [{ menuItemId: f.menuItemId, quantity: 2 }] : [],
    timing: resolveTiming({}, deps.config),
    now: new Date(b.now),
  });
}

/**
 * A committed DRAFT row with no workflow: what the API leaves when Temporal is down, or a lost
 * workflow leaves behind. `now` is the clock its claim deadline counts from.
 */
export function insertDraftRow(db: Db, config: Config, f: RestaurantFixture, b: { now: number; startsAt: Date }): Promise<BookingRow> {
  const timing = resolveTiming({}, config);
  return insertDraftBooking(db, {
    restaurantId: f.restaurantId,
    tableId: f.tableId,
    startsAt: b.startsAt,
    endsAt: new Date(b.startsAt.getTime() + timing.slotMs),
    partySize: 2,
    claimSecret: (id) => claimCode(id, 'abcdefghjk'),
    claimExpiresAt: claimDeadline(new Date(b.now), b.startsAt, timing),
    workflowIdFor,
    items: [],
  });
}

/** A booking row of the fixture's table with no workflow behind it, for what only needs its details (messages about it). */
export async function insertBookingRow(db: Db, f: RestaurantFixture, status: 'PENDING' | 'APPROVED'): Promise<number> {
  const [{ id }] = await db('bookings')
    .insert({
      restaurant_id: f.restaurantId,
      table_id: f.tableId,
      status,
      starts_at: new Date('2026-01-12T14:30:00Z'),
      ends_at: new Date('2026-01-12T16:30:00Z'),
      party_size: 3,
      guest_name: 'Ana',
      claim_code: `claim-${Math.random()}`,
      claim_expires_at: new Date('2026-01-12T14:00:00Z'),
      workflow_id: `wf-${Math.random()}`,
    })
    .returning('id');
  return id;
}

/** Polls (in real time) until `read` gives a value `accept` likes; fails with the last value seen. */
export async function eventually<T>(read: () => Promise<T>, accept: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!accept(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}
