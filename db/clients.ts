import type { Db } from './knex';

/** Guests (`clients`): known by their WhatsApp phone once they claim a booking. */

/** Creates or updates the guest by phone; a name or language already known is kept unless a new one is given. */
export async function upsertClient(
  db: Db,
  c: { phone: string; name?: string; language?: string },
): Promise<{ id: number; name: string | null; language: string | null }> {
  const [row] = await db('clients')
    .insert({ phone: c.phone, name: c.name ?? null, language_code: c.language ?? null })
    .onConflict('phone')
    .merge({
      name: db.raw('coalesce(excluded.name, clients.name)'),
      language_code: db.raw('coalesce(clients.language_code, excluded.language_code)'),
      updated_at: db.fn.now(),
    })
    .returning(['id', 'name', 'language_code as language']);
  return row;
}

/** The claimed guest of a booking and what decides their language; undefined before the claim. */
export async function getGuestContact(db: Db, bookingId: number) {
  const row = await db('bookings as b')
    .join('clients as c', 'c.id', 'b.client_id')
    .where('b.id', bookingId)
    .first('c.id as clientId', 'c.phone', 'c.name', 'c.language_code as clientLanguage', 'b.language as bookingLanguage');
  return row as
    | { clientId: number; phone: string; name: string | null; clientLanguage: string | null; bookingLanguage: string | null }
    | undefined;
}
