import { Router } from 'express';
import { z } from 'zod';
import { maskPhone } from '../../../domain/phone';
import { listMessageLog } from '../../../db/messageLog';
import type { AppDeps } from '../../app';
import { decodeIdCursor, encodeIdCursor, idSchema, parseQuery, phoneNumber } from '../../validation';
import { requireRestaurantAccess, viewAsField, viewerOf } from '../../viewer';

/** Purposes and statuses are our own identifiers (domain/notifications.ts, db/messages.ts): letters and underscores. */
const identifier = z.string().regex(/^[A-Za-z_]{1,64}$/, 'must be 1 to 64 letters or underscores');

export const messageLogQuery = z.strictObject({
  bookingId: z.coerce.number().pipe(idSchema).optional(),
  restaurantId: z.coerce.number().pipe(idSchema).optional(),
  phone: phoneNumber.optional(),
  direction: z.enum(['in', 'out']).optional(),
  status: identifier.optional(),
  purpose: identifier.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(40).optional(),
  ...viewAsField,
});

/**
 * GET /admin-api/messages. The admin sees every message with full phone numbers and payloads;
 * a manager (or an admin with managerId) sees only messages about bookings of their
 * restaurants, phones masked and without payloads (which repeat names and numbers), and
 * naming another restaurant in `restaurantId` is 403 forbidden.
 */
export function adminMessagesRouter({ db }: Pick<AppDeps, 'db'>): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const q = parseQuery(req, messageLogQuery);
    const viewer = viewerOf(res, q);
    const member = viewer.role === 'member';
    if (q.restaurantId !== undefined) await requireRestaurantAccess(db, viewer, q.restaurantId);
    const rows = await listMessageLog(db, {
      bookingId: q.bookingId,
      restaurantId: q.restaurantId,
      phone: q.phone,
      direction: q.direction,
      status: q.status,
      purpose: q.purpose,
      memberUserId: member ? viewer.userId : undefined,
      beforeId: q.cursor ? decodeIdCursor(q.cursor) : undefined,
      limit: q.limit + 1, // one more than asked tells whether another page exists
    });
    const page = rows.slice(0, q.limit);
    res.json({
      items: page.map(({ payload, ...row }) => (member ? { ...row, phone: maskPhone(row.phone) } : { ...row, payload })),
      nextCursor: rows.length > q.limit ? encodeIdCursor(page[page.length - 1]) : null,
    });
  });

  return router;
}
