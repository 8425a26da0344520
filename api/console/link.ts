import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import { listMembershipsOf, type Member } from '../../db/restaurants';
import { consoleSigningKey, signConsoleToken } from './tokens';

export const CONSOLE_PATH = '/console';
/** The query parameter of a sign-in link: GET /console/?link=<token>. */
export const LINK_QUERY = 'link';

export interface ConsoleLink {
  url: string;
  expiresAt: Date;
  /** Who it signs in: the first of their memberships (its role and language suit the WhatsApp reply). */
  member: Member & { restaurantId: number };
  /** Every restaurant the link opens. */
  restaurants: { id: number; name: string }[];
}

export interface ConsoleLinks {
  /**
   * A sign-in link for the manager or owner with this phone, covering each restaurant they
   * belong to; undefined for anyone else. What the `/console` WhatsApp command sends.
   */
  forPhone(phoneE164: string): Promise<ConsoleLink | undefined>;
}

export interface ConsoleLinksOptions {
  db: Db;
  config: Pick<Config, 'CONSOLE_LINK_SECRET' | 'CONSOLE_LINK_TTL' | 'PUBLIC_URL'>;
  /** From resolveAdminToken(config), as the API has it: both must derive the same key. */
  adminToken: string;
  /** Where the API listens, for when PUBLIC_URL is unset; known only once it does. */
  listeningAt: () => string | undefined;
}

export function createConsoleLinks(o: ConsoleLinksOptions): ConsoleLinks {
  const key = consoleSigningKey(o.config, o.adminToken);
  return {
    async forPhone(phone) {
      const memberships = await listMembershipsOf(o.db, { phone });
      const base = o.config.PUBLIC_URL ?? o.listeningAt();
      if (!memberships.length || !base) return undefined;
      const { restaurantName: _name, ...member } = memberships[0];
      const restaurants = memberships.map((m) => ({ id: m.restaurantId, name: m.restaurantName }));
      const expiresAt = new Date(Date.now() + o.config.CONSOLE_LINK_TTL);
      const token = signConsoleToken(key, { kind: 'link', sub: member.userId, restaurants: restaurants.map((r) => r.id), exp: expiresAt.getTime() });
      // Relative to the base, so a PUBLIC_URL with a path (behind a proxy) keeps it.
      const url = new URL(`${CONSOLE_PATH.slice(1)}/`, base.endsWith('/') ? base : `${base}/`);
      url.searchParams.set(LINK_QUERY, token);
      return { url: url.toString(), expiresAt, member, restaurants };
    },
  };
}
