import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../../config';
import { LANGUAGES, MEMBERSHIP_ROLES } from '../../../domain/booking';
import { resolveTiming } from '../../../domain/timing';
import {
  addMember,
  createMenuItem,
  createRestaurant,
  createTable,
  getRestaurant,
  listMembers,
  listMenuItems,
  listTables,
  removeMember,
  updateRestaurant,
  type Member,
  type Restaurant,
  type RestaurantPatch,
} from '../../../db/restaurants';
import type { AppDeps } from '../../app';
import { conflict, notFound, validationFailed } from '../../errors';
import { idSchema, parseBody, parseId, PG_INT_MAX, phoneNumber, text } from '../../validation';

/**
 * Admin API for restaurants, mounted at /admin-api/restaurants behind requireAdmin.
 *
 * Choices callers rely on:
 * - a menu item has both priceMinor and currency, or neither (a price without a currency means nothing);
 * - POST .../managers for a phone that is already a member of the restaurant is 409 conflict
 *   (details.userId names it); change a role by DELETE and POST again;
 * - the user behind a manager is shared by phone across restaurants, and POST updates its name
 *   (and its language when given) for all of them.
 */

function canonicalTimeZone(value: string): string | undefined {
  // Intl also accepts offsets such as "+05:00" on newer Node versions; those are not IANA zones.
  if (!/^[A-Za-z]/.test(value)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

const name = text({ min: 1, max: 200 });
const timezone = text({ max: 100 }).transform((value, ctx) => {
  const zone = canonicalTimeZone(value);
  if (zone) return zone;
  ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone such as Asia/Almaty' });
  return z.NEVER;
});
const language = z.enum(LANGUAGES);
/** null resets the setting to the default from config. */
const minutes = z.number().int().min(1).max(24 * 60).nullable().optional();
const WEEK_MINUTES = 7 * 24 * 60;
/** Guest reminders, minutes before the start: up to two, [] for none, null for the config default. */
const reminderMinutes = z
  .array(z.number().int().min(1).max(WEEK_MINUTES))
  .max(2)
  .refine((m) => new Set(m).size === m.length, 'two reminders at the same time')
  .transform((m) => [...m].sort((a, b) => b - a))
  .nullable()
  .optional();
/** The WhatsApp account it sends from (/admin-api/whatsapp-accounts); null: the default account from config. */
const whatsappAccountId = idSchema.nullable().optional();
/** 0: guests may cancel in WhatsApp until the start. */
const cutoffMinutes = z.number().int().min(0).max(WEEK_MINUTES).nullable().optional();

export const restaurantPatchSchema = z.strictObject({
  name: name.optional(),
  timezone: timezone.optional(),
  managerLanguageCode: language.optional(),
  decisionReminderMinutes: minutes,
  escalateMinutes: minutes,
  decisionTimeoutMinutes: minutes,
  slotMinutes: minutes,
  /** The number a guest is told to call (a cancel too close to the start); null: the first owner's or manager's. */
  phone: phoneNumber.nullable().optional(),
  reminderMinutes,
  guestCancelCutoffMinutes: cutoffMinutes,
  whatsappAccountId,
});

export const tableSchema = z.strictObject({
  name: text({ min: 1, max: 100 }),
  seats: z.number().int().min(1).max(100),
  features: z
    .array(text({ min: 1, max: 50 }))
    .max(20)
    .default([])
    .transform((features) => [...new Set(features)]),
});

export const menuItemSchema = z
  .strictObject({
    name,
    priceMinor: z.number().int().min(0).max(PG_INT_MAX).nullish(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code of 3 uppercase letters, such as KZT')
      .nullish(),
  })
  .superRefine((item, ctx) => {
    if ((item.priceMinor == null) !== (item.currency == null)) {
      ctx.addIssue({
        code: 'custom',
        path: [item.priceMinor == null ? 'priceMinor' : 'currency'],
        message: 'priceMinor and currency go together: give both or neither',
      });
    }
  });

export const memberSchema = z.strictObject({
  name,
  phone: phoneNumber,
  role: z.enum(MEMBERSHIP_ROLES).default('manager'),
  language: language.optional(),
});

/** managerLanguageCode defaults to DEFAULT_LANGUAGE from config. */
export const newRestaurantSchema = z.strictObject({ name, timezone, managerLanguageCode: language.optional(), whatsappAccountId });

const TIMING_FIELDS = ['decisionReminderMinutes', 'escalateMinutes', 'decisionTimeoutMinutes'] as const;

function restaurantView(restaurant: Restaurant, config: Config) {
  const timing = resolveTiming(restaurant, config);
  return {
    ...restaurant,
    // The settings in force, with the config defaults filled in.
    effective: {
      decisionReminderMinutes: timing.decisionReminderAfterMs / 60_000,
      escalateMinutes: timing.escalateAfterMs / 60_000,
      decisionTimeoutMinutes: timing.decisionTimeoutMs / 60_000,
      slotMinutes: timing.slotMs / 60_000,
      reminderMinutes: timing.reminderOffsetsMs.map((ms) => ms / 60_000),
      guestCancelCutoffMinutes: timing.guestCancelCutoffMs / 60_000,
    },
  };
}

const memberView = ({ userId, ...member }: Member) => ({ id: userId, ...member });

/**
 * A patch that touches the reminder/escalation/timeout settings must leave them in order
 * once the unset ones take their config defaults. A patch that leaves them alone is not
 * refused for an order that a later change of the defaults broke.
 */
function checkTimingOrder(current: Restaurant, patch: RestaurantPatch, config: Config): void {
  const touched = TIMING_FIELDS.filter((field) => patch[field] !== undefined);
  if (touched.length === 0) return;
  const effective = restaurantView({ ...current, ...patch }, config).effective;
  const [reminder, escalate, timeout] = TIMING_FIELDS.map((field) => effective[field]);
  if (reminder < escalate && escalate < timeout) return;
  const message =
    `decisionReminderMinutes < escalateMinutes < decisionTimeoutMinutes must hold; ` +
    `with config defaults for unset ones they would be ${reminder}, ${escalate}, ${timeout}`;
  throw validationFailed(touched.map((field) => ({ in: 'body', path: field, message })));
}

export function restaurantsRouter({ db, config }: Pick<AppDeps, 'db' | 'config'>): Router {
  const router = Router();

  async function loadRestaurant(req: Request): Promise<Restaurant> {
    const id = parseId(req, 'id', 'restaurant');
    const restaurant = await getRestaurant(db, id);
    if (!restaurant) throw notFound('restaurant', id);
    return restaurant;
  }

  router.post('/', async (req, res) => {
    const input = parseBody(req, newRestaurantSchema);
    const restaurant = await createRestaurant(db, { ...input, managerLanguageCode: input.managerLanguageCode ?? config.DEFAULT_LANGUAGE });
    res.status(201).location(`${req.baseUrl}/${restaurant.id}`).json(restaurantView(restaurant, config));
  });

  router.get('/:id', async (req, res) => {
    const restaurant = await loadRestaurant(req);
    const [tables, menuItems, members] = await Promise.all([
      listTables(db, restaurant.id),
      listMenuItems(db, restaurant.id),
      listMembers(db, restaurant.id),
    ]);
    res.json({ ...restaurantView(restaurant, config), tables, menuItems, members: members.map(memberView) });
  });

  router.patch('/:id', async (req, res) => {
    const id = parseId(req, 'id', 'restaurant');
    const patch = parseBody(req, restaurantPatchSchema);
    // Locked so two concurrent patches cannot each pass the order check and together break it.
    const updated = await db.transaction(async (trx) => {
      const current = await getRestaurant(trx, id, { forUpdate: true });
      if (!current) return undefined;
      checkTimingOrder(current, patch, config);
      return updateRestaurant(trx, id, patch);
    });
    if (!updated) throw notFound('restaurant', id);
    res.json(restaurantView(updated, config));
  });

  router.post('/:id/tables', async (req, res) => {
    const restaurant = await loadRestaurant(req);
    const input = parseBody(req, tableSchema);
    const table = await createTable(db, restaurant.id, input);
    if (!table) throw conflict(`restaurant ${restaurant.id} already has a table named "${input.name}"`);
    res.status(201).json(table);
  });

  router.post('/:id/menu-items', async (req, res) => {
    const restaurant = await loadRestaurant(req);
    const input = parseBody(req, menuItemSchema);
    const item = await createMenuItem(db, restaurant.id, {
      name: input.name,
      priceMinor: input.priceMinor ?? null,
      currency: input.currency ?? null,
    });
    res.status(201).json(item);
  });

  router.post('/:id/managers', async (req, res) => {
    const restaurant = await loadRestaurant(req);
    const input = parseBody(req, memberSchema);
    const { member, created } = await addMember(db, restaurant.id, { ...input, language: input.language ?? null });
    if (!created) {
      throw conflict(`this phone is already a ${member.role} of restaurant ${restaurant.id}`, { userId: member.userId });
    }
    res.status(201).json(memberView(member));
  });

  router.delete('/:id/managers/:userId', async (req, res) => {
    const restaurant = await loadRestaurant(req);
    const userId = parseId(req, 'userId', 'manager');
    if (!(await removeMember(db, restaurant.id, userId))) throw notFound('manager', userId);
    res.status(204).end();
  });

  return router;
}
