/**
 * `npm run seed`: a demo restaurant to try the system with. Running it again adds only what
 * is missing, so it is safe after a partial run or on top of hand-made changes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config';
import type { MembershipRole } from '../domain/booking';
import { createDb, migrateLatest, type Db } from '../db/knex';
import {
  addMember,
  createMenuItem,
  createRestaurant,
  createTable,
  getRestaurant,
  listMenuItems,
  listTables,
  type NewMenuItem,
  type NewRestaurant,
  type NewTable,
  type Restaurant,
} from '../db/restaurants';

const DEMO = {
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

/** DATABASE_URL, else the embedded server's address that `npm start` leaves in the data dir. */
function databaseUrl(config: Config): string | undefined {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const file = path.join(config.dataDir, 'database-url');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
}

async function findOrCreateRestaurant(db: Db): Promise<{ restaurant: Restaurant; created: boolean }> {
  const existing = await db('restaurants').where({ name: DEMO.restaurant.name }).orderBy('id').first('id');
  const restaurant = existing && (await getRestaurant(db, existing.id));
  if (restaurant) return { restaurant, created: false };
  return { restaurant: await createRestaurant(db, DEMO.restaurant), created: true };
}

async function seed(db: Db): Promise<void> {
  const { restaurant, created } = await findOrCreateRestaurant(db);
  console.log(`${restaurant.name}: restaurant id ${restaurant.id}${created ? '' : ' (already there)'}`);

  const tableIds = new Map((await listTables(db, restaurant.id)).map((t) => [t.name, t.id]));
  for (const table of DEMO.tables) {
    tableIds.set(table.name, tableIds.get(table.name) ?? (await createTable(db, restaurant.id, table))!.id);
  }
  console.log('  tables:     ' + DEMO.tables.map((t) => `${t.name}=${tableIds.get(t.name)}`).join(', '));

  const itemIds = new Map((await listMenuItems(db, restaurant.id)).map((i) => [i.name, i.id]));
  for (const item of DEMO.menu) {
    itemIds.set(item.name, itemIds.get(item.name) ?? (await createMenuItem(db, restaurant.id, item)).id);
  }
  console.log('  menu items: ' + DEMO.menu.map((i) => `${i.name}=${itemIds.get(i.name)}`).join(', '));

  for (const person of DEMO.members) {
    const { member } = await addMember(db, restaurant.id, { ...person, language: null });
    console.log(`  ${member.role.padEnd(8)}    ${member.name}: user id ${member.userId}, phone ${member.phone}`);
  }
}

async function main(): Promise<number> {
  const config = loadConfig();
  const url = databaseUrl(config);
  if (!url) {
    console.error(
      'No database to seed: set DATABASE_URL, or start the stack first with `npm start` ' +
        `(it leaves the embedded database's address in ${path.join(config.dataDir, 'database-url')}).`,
    );
    return 1;
  }
  const db = createDb(url, { min: 0, max: 2 });
  try {
    await migrateLatest(db);
    await seed(db);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      const { host, pathname } = new URL(url);
      console.error(`Cannot reach PostgreSQL at ${host}${pathname}: is the stack (\`npm start\`) running?`);
      return 1;
    }
    throw err;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  },
);
