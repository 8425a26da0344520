import { Router } from 'express';
import { z } from 'zod';
import { INBOX_STATES, listInbox, retryDeadRow } from '../../../db/messages';
import type { AppDeps } from '../../app';
import { conflict, notFound } from '../../errors';
import { decodeIdCursor, encodeIdCursor, parseId, parseQuery } from '../../validation';

export const listQuery = z
  .object({
    state: z.enum(INBOX_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(50),
    cursor: z.string().max(40).optional(),
  })
  .strict();

/**
 * The WhatsApp inbox for operators: what is waiting, what was skipped or foreign, and the
 * dead letter, whose rows can be sent back for another round of attempts. Admins are
 * trusted with phone numbers and payloads here; nothing of it is logged.
 */
export function adminInboxRouter({ db }: Pick<AppDeps, 'db'>): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const q = parseQuery(req, listQuery);
    const rows = await listInbox(db, { state: q.state, limit: q.limit + 1, beforeId: q.cursor ? decodeIdCursor(q.cursor) : undefined });
    const page = rows.slice(0, q.limit);
    res.json({ items: page, nextCursor: rows.length > q.limit ? encodeIdCursor(page[page.length - 1]) : null });
  });

  // The row is due again at once; an inbox picks it up on its next look (every few seconds).
  router.post('/:id/retry', async (req, res) => {
    const id = parseId(req, 'id', 'inbox row');
    const result = await retryDeadRow(db, id);
    if (!result) throw notFound('inbox row', id);
    if (!result.retried) throw conflict(`only a dead row can be retried; this one is ${result.state}`, { state: result.state });
    res.json({ id, state: result.state });
  });

  return router;
}
