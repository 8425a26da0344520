import type { Language, MembershipRole } from '../domain/booking';
import type { Db } from './knex';

export interface Restaurant {
  id: number;
  name: string;
  timezone: string;
  managerLanguageCode: Language;
  /** Escalation settings in minutes; null means "the default from config". */
  decisionReminderMinutes: number | null;
  escalateMinutes: number | null;
  decisionTimeoutMinutes: number | null;
  slotMinutes: number | null;
  /** E.164; told to a guest who must call (a cancel too close to the start). */
  phone: string | null;
  /** Guest reminders, minutes before the start; null means the default from config, [] none. */
  reminderMinutes: number[] | null;
  /** null means the default from config. */
  guestCancelCutoffMinutes: number | null;
  /** The WhatsApp account it sends from (whatsapp_accounts); null: the default account from config. */
  whatsappAccountId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Table {
  id: number;
  restaurantId: number;
  name: string;
  seats: number;
  features: string[];
}

export interface MenuItem {
  id: number;
  restaurantId: number;
  name: string;
  /** In the currency's minor unit (tiyn, cents); null with currency when the item has no price. */
  priceMinor: number | null;
  currency: string | null;
}

/** A manager or owner of one restaurant: the shared user row plus this restaurant's role. */
export interface Member {
  userId: number;
  name: string;
  phone: string; // E.164
  role: MembershipRole;
  /** The person's own language; null means the restaurant's managerLanguageCode. */
  language: Language | null;
}

export type NewRestaurant = Pick<Restaurant, 'name' | 'timezone' | 'managerLanguageCode'> & Partial<Pick<Restaurant, 'whatsappAccountId'>>;
export type RestaurantPatch = Partial<Omit<Restaurant, 'id' | 'createdAt' | 'updatedAt'>>;
export type NewTable = Pick<Table, 'name' | 'seats' | 'features'>;
export type NewMenuItem = Pick<MenuItem, 'name' | 'priceMinor' | 'currency'>;
export type NewMember = Omit<Member, 'userId'>;

/** camelCase field → snake_case column, for the writable fields of a table. */
type ColumnMap<T> = { readonly [K in keyof T]-?: string };

const RESTAURANT_FIELDS: ColumnMap<RestaurantPatch> = {
  name: 'name',
  timezone: 'timezone',
  managerLanguageCode: 'manager_language_code',
  decisionReminderMinutes: 'decision_reminder_minutes',
  escalateMinutes: 'escalate_minutes',
  decisionTimeoutMinutes: 'decision_timeout_minutes',
  slotMinutes: 'slot_minutes',
  phone: 'phone',
  reminderMinutes: 'reminder_minutes',
  guestCancelCutoffMinutes: 'guest_cancel_cutoff_minutes',
  whatsappAccountId: 'whatsapp_account_id',
};
const TABLE_FIELDS: ColumnMap<Omit<Table, 'id'>> = {
  restaurantId: 'restaurant_id',
  name: 'name',
  seats: 'seats',
  features: 'features',
};
const MENU_ITEM_FIELDS: ColumnMap<Omit<MenuItem, 'id'>> = {
  restaurantId: 'restaurant_id',
  name: 'name',
  priceMinor: 'price_minor',
  currency: 'currency',
};

/** A select/returning list that renames columns to the fields, so rows come back camelCase. */
function selectList(fields: Record<string, string>, prefix = ''): string[] {
  return Object.entries(fields).map(([field, column]) => `${prefix}${column} as ${field}`);
}

/** The columns to write for the fields present in `values`. */
function toRow<T>(fields: ColumnMap<T>, values: { [K in keyof T]?: unknown }): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(fields) as [keyof T, string][]) {
    if (values[field] !== undefined) row[column] = values[field];
  }
  return row;
}

const RESTAURANT_COLUMNS = [
  'id',
  ...selectList(RESTAURANT_FIELDS),
  'created_at as createdAt',
  'updated_at as updatedAt',
];
const TABLE_COLUMNS = ['id', ...selectList(TABLE_FIELDS)];
const MENU_ITEM_COLUMNS = ['id', ...selectList(MENU_ITEM_FIELDS)];
const MEMBER_COLUMNS = ['u.id as userId', 'u.name as name', 'u.phone as phone', 'm.role as role', 'u.language as language'];

export async function createRestaurant(db: Db, input: NewRestaurant): Promise<Restaurant> {
  const [restaurant] = await db('restaurants').insert(toRow(RESTAURANT_FIELDS, input)).returning(RESTAURANT_COLUMNS);
  return restaurant;
}

/** `forUpdate` locks the row until the transaction `db` belongs to ends (read-check-write updates). */
export async function getRestaurant(
  db: Db,
  id: number,
  options: { forUpdate?: boolean } = {},
): Promise<Restaurant | undefined> {
  const query = db('restaurants').where({ id }).first(RESTAURANT_COLUMNS);
  return options.forUpdate ? query.forUpdate() : query;
}

export async function updateRestaurant(db: Db, id: number, patch: RestaurantPatch): Promise<Restaurant | undefined> {
  const [restaurant] = await db('restaurants')
    .where({ id })
    .update({ ...toRow(RESTAURANT_FIELDS, patch), updated_at: db.fn.now() })
    .returning(RESTAURANT_COLUMNS);
  return restaurant;
}

export async function listTables(db: Db, restaurantId: number): Promise<Table[]> {
  return db('tables').where({ restaurant_id: restaurantId }).orderBy('id').select(TABLE_COLUMNS);
}

export async function getTable(db: Db, id: number): Promise<Table | undefined> {
  return db('tables').where({ id }).first(TABLE_COLUMNS);
}

/** The new table, or undefined when the restaurant already has a table of that name. */
export async function createTable(db: Db, restaurantId: number, input: NewTable): Promise<Table | undefined> {
  const [table] = await db('tables')
    // pg would send a JS array as a Postgres array literal; jsonb needs JSON text.
    .insert(toRow(TABLE_FIELDS, { ...input, restaurantId, features: JSON.stringify(input.features) }))
    .onConflict(['restaurant_id', 'name'])
    .ignore()
    .returning(TABLE_COLUMNS);
  return table;
}

export async function listMenuItems(db: Db, restaurantId: number): Promise<MenuItem[]> {
  return db('menu_items').where({ restaurant_id: restaurantId }).orderBy('id').select(MENU_ITEM_COLUMNS);
}

export async function createMenuItem(db: Db, restaurantId: number, input: NewMenuItem): Promise<MenuItem> {
  const [item] = await db('menu_items')
    .insert(toRow(MENU_ITEM_FIELDS, { ...input, restaurantId }))
    .returning(MENU_ITEM_COLUMNS);
  return item;
}

function members(db: Db, restaurantId: number) {
  return db('restaurant_memberships as m')
    .join('users as u', 'u.id', 'm.user_id')
    .where('m.restaurant_id', restaurantId)
    .select<Member[]>(MEMBER_COLUMNS);
}

/** Managers and owners of a restaurant, optionally only some roles, oldest membership first. */
export async function listMembers(db: Db, restaurantId: number, roles?: readonly MembershipRole[]): Promise<Member[]> {
  const query = members(db, restaurantId).orderBy('m.id');
  return roles ? query.whereIn('m.role', roles) : query;
}

/** Whether the sender of a WhatsApp message is a manager or owner of this restaurant. */
export async function findMembershipByPhone(db: Db, restaurantId: number, phoneE164: string): Promise<Member | undefined> {
  return members(db, restaurantId).where('u.phone', phoneE164).first();
}

export async function findMembershipByUserId(db: Db, restaurantId: number, userId: number): Promise<Member | undefined> {
  return members(db, restaurantId).where('u.id', userId).first();
}

/** Every restaurant a person (by user id or by phone) manages or owns, with the role there, oldest membership first. */
export async function listMembershipsOf(
  db: Db,
  who: { userId: number } | { phone: string },
): Promise<(Member & { restaurantId: number; restaurantName: string })[]> {
  const query = db('restaurant_memberships as m')
    .join('users as u', 'u.id', 'm.user_id')
    .join('restaurants as r', 'r.id', 'm.restaurant_id')
    .orderBy('m.id')
    .select([...MEMBER_COLUMNS, 'r.id as restaurantId', 'r.name as restaurantName']);
  return 'userId' in who ? query.where('u.id', who.userId) : query.where('u.phone', who.phone);
}

/**
 * Makes the person with this phone a member. Users are shared across restaurants by phone:
 * an existing user takes the new name (and the language, when one is given). When the phone
 * is already a member here nothing changes and `created` is false.
 */
export async function addMember(
  db: Db,
  restaurantId: number,
  input: NewMember,
): Promise<{ member: Member; created: boolean }> {
  return db.transaction(async (trx) => {
    const existing = await findMembershipByPhone(trx, restaurantId, input.phone);
    if (existing) return { member: existing, created: false };
    const [user] = await trx('users')
      .insert({ name: input.name, phone: input.phone, language: input.language })
      .onConflict('phone')
      .merge({
        name: input.name,
        language: trx.raw('coalesce(excluded.language, users.language)'),
        updated_at: trx.fn.now(),
      })
      .returning(['id', 'language']);
    await trx('restaurant_memberships').insert({ user_id: user.id, restaurant_id: restaurantId, role: input.role });
    return { member: { ...input, userId: user.id, language: user.language }, created: true };
  });
}

/** False when the user was not a member of the restaurant. */
export async function removeMember(db: Db, restaurantId: number, userId: number): Promise<boolean> {
  const deleted = await db('restaurant_memberships').where({ restaurant_id: restaurantId, user_id: userId }).delete();
  return deleted > 0;
}
