import { Router } from 'express';
import { z } from 'zod';
import { resolveTiming } from '../../../domain/timing';
import { getRestaurant } from '../../../db/restaurants';
import { restaurantStats } from '../../../db/stats';
import type { AppDeps } from '../../app';
import { notFound } from '../../errors';
import { dateTime, idSchema, parseQuery } from '../../validation';
import { requireRestaurantAccess, viewAsField, viewerOf } from '../../viewer';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_WINDOW_DAYS = 30;
/** A year at most: the queries stay proportional to a restaurant's bookings in a window. */
const MAX_WINDOW_DAYS = 366;

/** GET /admin-api/stats: the window is over bookings.created_at, [from, to); to defaults to now, from to 30 days before it. */
export const statsQuery = z
  .strictObject({
    restaurantId: z.coerce.number().pipe(idSchema),
    from: dateTime().optional(),
    to: dateTime().optional(),
    ...viewAsField,
  })
  .transform((q, ctx) => {
    const to = q.to ? new Date(q.to) : new Date();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_WINDOW_DAYS * DAY_MS);
    if (from >= to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    else if (to.getTime() - from.getTime() > MAX_WINDOW_DAYS * DAY_MS) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: `the window may span at most ${MAX_WINDOW_DAYS} days` });
    }
    return { ...q, from, to };
  });

export function adminStatsRouter({ db, config }: Pick<AppDeps, 'db' | 'config'>): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const q = parseQuery(req, statsQuery);
    await requireRestaurantAccess(db, viewerOf(res, q), q.restaurantId);
    const restaurant = await getRestaurant(db, q.restaurantId);
    if (!restaurant) throw notFound('restaurant', q.restaurantId);
    const timing = resolveTiming(restaurant, config);
    res.json(
      await restaurantStats(db, {
        restaurantId: restaurant.id,
        from: q.from,
        to: q.to,
        reminderAfterMs: timing.decisionReminderAfterMs,
        escalateAfterMs: timing.escalateAfterMs,
      }),
    );
  });

  return router;
}
