import type { CredentialField } from '../whatsapp/accounts/credentials';
import type { Db } from './knex';

export const WHATSAPP_PROVIDERS = ['cloud_api', 'waha'] as const;
export type WhatsAppProvider = (typeof WHATSAPP_PROVIDERS)[number];

/**
 * A row of whatsapp_accounts (migration 007). Credentials stay sealed here: only the code
 * that sends or verifies with one opens it (whatsapp/accounts/credentials.ts).
 */
export interface WhatsAppAccount {
  id: number;
  name: string;
  provider: WhatsAppProvider;
  /** E.164. */
  displayNumber: string;
  /** cloud_api only. */
  phoneNumberId: string | null;
  /** waha only: the WAHA server and the session on it. */
  baseUrl: string | null;
  session: string | null;
  sealed: Record<CredentialField, string | null>;
  /** waha only: the last `session.status` WAHA reported, and when. */
  sessionStatus: string | null;
  sessionStatusAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a write sets: the plain fields, and credentials already sealed (null clears one). */
export interface AccountWrite {
  name?: string;
  provider?: WhatsAppProvider;
  displayNumber?: string;
  phoneNumberId?: string | null;
  baseUrl?: string | null;
  session?: string | null;
  sealed?: Partial<Record<CredentialField, string | null>>;
}

const FIELDS = {
  name: 'name',
  provider: 'provider',
  displayNumber: 'display_number',
  phoneNumberId: 'phone_number_id',
  baseUrl: 'base_url',
  session: 'session',
} as const;
const SEALED_COLUMNS: Record<CredentialField, string> = {
  accessToken: 'access_token_sealed',
  appSecret: 'app_secret_sealed',
  apiKey: 'api_key_sealed',
  webhookHmacKey: 'webhook_hmac_key_sealed',
};

const COLUMNS = [
  'id',
  ...Object.entries(FIELDS).map(([field, column]) => `${column} as ${field}`),
  ...Object.values(SEALED_COLUMNS),
  'session_status as sessionStatus',
  'session_status_at as sessionStatusAt',
  'created_at as createdAt',
  'updated_at as updatedAt',
];

type Row = Omit<WhatsAppAccount, 'sealed'> & Record<string, unknown>;

function fromRow(row: Row | undefined): WhatsAppAccount | undefined {
  if (!row) return undefined;
  const sealed = {} as Record<CredentialField, string | null>;
  for (const [field, column] of Object.entries(SEALED_COLUMNS) as [CredentialField, string][]) {
    sealed[field] = (row[column] as string | null) ?? null;
    delete row[column];
  }
  return { ...(row as Omit<WhatsAppAccount, 'sealed'>), sealed };
}

function toRow(write: AccountWrite): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(FIELDS) as [keyof typeof FIELDS, string][]) {
    if (write[field] !== undefined) row[column] = write[field];
  }
  for (const [field, column] of Object.entries(SEALED_COLUMNS) as [CredentialField, string][]) {
    if (write.sealed?.[field] !== undefined) row[column] = write.sealed[field];
  }
  return row;
}

export async function createAccount(db: Db, write: AccountWrite): Promise<WhatsAppAccount> {
  const [row] = await db('whatsapp_accounts').insert(toRow(write)).returning(COLUMNS);
  return fromRow(row)!;
}

/** `forUpdate` locks the row until the transaction `db` belongs to ends (read-check-write patches). */
export async function getAccount(db: Db, id: number, options: { forUpdate?: boolean } = {}): Promise<WhatsAppAccount | undefined> {
  const query = db('whatsapp_accounts').where({ id }).first(COLUMNS);
  return fromRow(await (options.forUpdate ? query.forUpdate() : query));
}

export async function listAccounts(db: Db): Promise<WhatsAppAccount[]> {
  const rows: Row[] = await db('whatsapp_accounts').orderBy('id').select(COLUMNS);
  return rows.map((row) => fromRow(row)!);
}

export async function updateAccount(db: Db, id: number, write: AccountWrite): Promise<WhatsAppAccount | undefined> {
  const [row] = await db('whatsapp_accounts')
    .where({ id })
    .update({ ...toRow(write), updated_at: db.fn.now() })
    .returning(COLUMNS);
  return fromRow(row);
}

/** The ids of the restaurants that send from the account, lowest first. */
async function restaurantsUsingAccount(db: Db, id: number): Promise<number[]> {
  return db('restaurants').where({ whatsapp_account_id: id }).orderBy('id').pluck('id');
}

/**
 * Deletes an account no restaurant uses. `inUse` lists the restaurants that still do (then
 * nothing is deleted); the row lock keeps a restaurant from taking the account meanwhile,
 * and the foreign key refuses it in any case.
 */
export async function deleteAccount(db: Db, id: number): Promise<{ deleted: boolean; inUse: number[] }> {
  return db.transaction(async (trx) => {
    const account = await trx('whatsapp_accounts').where({ id }).forUpdate().first('id');
    if (!account) return { deleted: false, inUse: [] };
    const inUse = await restaurantsUsingAccount(trx, id);
    if (inUse.length) return { deleted: false, inUse };
    await trx('whatsapp_accounts').where({ id }).delete();
    return { deleted: true, inUse: [] };
  });
}

/** The WAHA account of a session name, which routes WAHA's webhook deliveries. */
export async function findAccountBySession(db: Db, session: string): Promise<WhatsAppAccount | undefined> {
  return fromRow(await db('whatsapp_accounts').where({ provider: 'waha', session }).first(COLUMNS));
}

/**
 * A `session.status` WAHA reported. WAHA may redeliver an old event after a newer one: a
 * report older than the one stored changes nothing.
 */
export async function recordSessionStatus(db: Db, id: number, status: string, at: Date): Promise<boolean> {
  const updated = await db('whatsapp_accounts')
    .where({ id })
    .andWhere((q) => q.whereNull('session_status_at').orWhere('session_status_at', '<=', at))
    .update({ session_status: status, session_status_at: at, updated_at: db.fn.now() });
  return updated > 0;
}

/**
 * The account a restaurant sends from, read with the account in one query; undefined when the
 * restaurant has none (it uses the default account) or does not exist.
 */
export async function findRestaurantAccount(db: Db, restaurantId: number): Promise<WhatsAppAccount | undefined> {
  const row = await db('restaurants as r')
    .join('whatsapp_accounts', 'whatsapp_accounts.id', 'r.whatsapp_account_id')
    .where('r.id', restaurantId)
    .first(COLUMNS.map((c) => `whatsapp_accounts.${c}`));
  return fromRow(row);
}

/** The Cloud API account of a phone_number_id, which routes the Cloud API's webhook deliveries. */
export async function findAccountByPhoneNumberId(db: Db, phoneNumberId: string): Promise<WhatsAppAccount | undefined> {
  return fromRow(await db('whatsapp_accounts').where({ provider: 'cloud_api', phone_number_id: phoneNumberId }).first(COLUMNS));
}
