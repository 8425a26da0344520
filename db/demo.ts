import type { MembershipRole } from '../domain/booking';
import type { Db } from './knex';
import {
  addMember,
  createMenuItem,
  createRestaurant,
  createTable,
  getRestaurant,
  listMenuItems,
  listTables,
  type Member,
  type NewMenuItem,
  type NewRestaurant,
  type NewTable,
  type Restaurant,
} from './restaurants';

/** The restaurant `npm run seed` and the sandbox page create to try the system with. */
export const DEMO = {
  restaurant: { name: 'Demo Bistro', timezone: 'Asia/Almaty', managerLanguageCode: 'ru' } satisfies NewRestaurant,
  tables: [
    { name: 'Table 1', seats: 2, features: ['window'] },
    { name: 'Table 2', seats: 4, features: ['window', 'quiet'] },
    { name: 'Terrace 3', seats: 4, features: ['terrace', 'smoking'] },
    { name: 'Hall 4', seats: 8, features: ['private room', 'sofa'] },
  ] satisfies NewTable[],
  menu: [
    { name: 'Beshbarmak', priceMinor: 450_000, currency: 'KZT' },
    { name: 'Plov', priceMinor: 350_000, currency: 'KZT' },
    { name: 'Baursaki', priceMinor: 120_000, currency: 'KZT' },
    { name: 'Tea with milk', priceMinor: 80_000, currency: 'KZT' },
  ] satisfies NewMenuItem[],
  // Real-looking Kazakh mobile numbers that nobody has: +7 701 000 00 0x.
  members: [
    { name: 'Demo Manager Aigerim', phone: '+77010000001', role: 'manager' },
    { name: 'Demo Manager Daniyar', phone: '+77010000002', role: 'manager' },
    { name: 'Demo Owner Olga', phone: '+77010000003', role: 'owner' },
  ] satisfies { name: string; phone: string; role: MembershipRole }[],
};

export interface SeededDemo {
  restaurant: Restaurant;
  /** False when the restaurant was already there (what it lacked was still added). */
  created: boolean;
  tableIds: Map<string, number>;
  menuItemIds: Map<string, number>;
  members: Member[];
}

async function findOrCreateRestaurant(db: Db): Promise<{ restaurant: Restaurant; created: boolean }> {
  const existing = await db('restaurants').where({ name: DEMO.restaurant.name }).orderBy('id').first('id');
  const restaurant = existing && (await getRestaurant(db, existing.id));
  if (restaurant) return { restaurant, created: false };
  return { restaurant: await createRestaurant(db, DEMO.restaurant), created: true };
}

/** Creates the demo restaurant, or adds only what it is missing, so a second run is harmless. */
export async function seedDemoRestaurant(db: Db): Promise<SeededDemo> {
  const { restaurant, created } = await findOrCreateRestaurant(db);
  const tableIds = new Map((await listTables(db, restaurant.id)).map((t) => [t.name, t.id]));
  for (const table of DEMO.tables) {
    tableIds.set(table.name, tableIds.get(table.name) ?? (await createTable(db, restaurant.id, table))!.id);
  }
  const menuItemIds = new Map((await listMenuItems(db, restaurant.id)).map((i) => [i.name, i.id]));
  for (const item of DEMO.menu) {
    menuItemIds.set(item.name, menuItemIds.get(item.name) ?? (await createMenuItem(db, restaurant.id, item)).id);
  }
  const members: Member[] = [];
  for (const person of DEMO.members) members.push((await addMember(db, restaurant.id, { ...person, language: null })).member);
  return { restaurant, created, tableIds, menuItemIds, members };
}
