import { createHash } from 'node:crypto';
import cors from 'cors';
import { Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import { LANGUAGES } from '../../domain/booking';
import { phoneDigits } from '../../domain/phone';
import { findRestaurantAccount } from '../../db/whatsappAccounts';
import { claimText } from '../../domain/claim';
import { resolveTiming } from '../../domain/timing';
import { findBookingByIdempotencyKey, findBookingTarget, getBooking, SlotTakenError, type BookingRow } from '../../db/bookings';
import { WorkflowIdTakenError } from '../../temporal/bookingClient';
import { createDraftBooking, ensureWorkflowOf } from '../../temporal/draftBooking';
import type { AppDeps } from '../app';
import { ApiError, conflict, isDependencyUnavailable, notFound, unavailable, validationFailed, type FieldProblem } from '../errors';
import { dateTime, idSchema, parseBody, parseId, text } from '../validation';
import { bookingEventsHandler } from './bookingEvents';

export const bookingRequest = z
  .object({
    restaurantId: idSchema,
    tableId: idSchema,
    startsAt: dateTime(),
    partySize: z.number().int().min(1),
    guestName: text({ min: 1, max: 100 }).optional(),
    specialRequests: text({ max: 500 }).optional(),
    preorder: z
      .array(
        z
          .object({
            menuItemId: idSchema,
            quantity: z.number().int().min(1).max(50),
            notes: text({ max: 200 }).optional(),
          })
          .strict(),
      )
      .max(50)
      .optional(),
    language: z.enum(LANGUAGES).optional(),
  })
  .strict();
type BookingRequest = z.infer<typeof bookingRequest>;

export const idempotencyKeyHeader = z.string().trim().min(1).max(200);

/**
 * The public API restaurant websites call: create a DRAFT booking and hand back the
 * WhatsApp link whose prefilled text claims it. Validates, persists and starts the
 * workflow; the booking's life is the workflow's business.
 */
export function bookingsRouter({ config, db, temporal, bookingEvents, logger }: AppDeps): Router {
  const router = Router();
  router.use(cors({ origin: config.CORS_ORIGINS.includes('*') ? '*' : config.CORS_ORIGINS }));

  const limiter = rateLimit({
    windowMs: 60_000,
    limit: config.BOOKINGS_RATE_LIMIT_PER_MINUTE,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new ApiError('rate_limited', 'too many bookings from this address; try again in a minute')),
  });

  // The claim is written to the restaurant's own number, the one its messages come from. A new
  // booking learns it with the rest of its request (findBookingTarget); a replay looks it up.
  const answer = (b: BookingRow, accountNumber: string | undefined) => {
    const number = accountNumber ? phoneDigits(accountNumber) : config.WHATSAPP_BOT_NUMBER;
    return {
      id: b.id,
      status: b.status,
      claimText: claimText(b.claimCode),
      whatsappUrl: `https://wa.me/${number}?text=${encodeURIComponent(claimText(b.claimCode))}`,
      expiresAt: b.claimExpiresAt.toISOString(),
    };
  };
  const answerReplay = async (b: BookingRow) => answer(b, (await findRestaurantAccount(db, b.restaurantId))?.displayNumber);

  router.post('/bookings', limiter, async (req, res) => {
    const body = parseBody(req, bookingRequest);
    const key = req.get('idempotency-key');
    if (key !== undefined && !idempotencyKeyHeader.safeParse(key).success) {
      throw validationFailed([{ path: 'Idempotency-Key', message: 'the header must be 1 to 200 characters' }]);
    }
    const idempotencyKey = key?.trim();
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');

    const replay = async () => {
      const earlier = idempotencyKey && (await findBookingByIdempotencyKey(db, idempotencyKey));
      if (!earlier) return undefined;
      if (earlier.requestHash !== requestHash) {
        throw conflict('this Idempotency-Key was already used with a different request body', { reason: 'idempotency_key_reused' });
      }
      return earlier;
    };

    const earlier = await replay();
    if (earlier) {
      // The first attempt may have committed the row and then failed to start its workflow.
      if (earlier.status === 'DRAFT') await withWorkflowErrors(() => ensureWorkflowOf({ db, temporal, config }, earlier));
      return void res.status(201).json(await answerReplay(earlier));
    }

    const { id, restaurant, table, timing, startsAt } = await checkBookable(body);
    try {
      const booking = await withWorkflowErrors(() =>
        createDraftBooking(db, temporal, config.TEMPORAL_TASK_QUEUE, {
          id,
          restaurant,
          table,
          startsAt,
          partySize: body.partySize,
          guestName: body.guestName,
          specialRequests: body.specialRequests,
          language: body.language,
          items: body.preorder ?? [],
          timing,
          now: new Date(),
          idempotencyKey,
          requestHash,
          requireFreeSlot: true,
        }),
      );
      res.status(201).json(answer(booking, restaurant.accountNumber));
    } catch (err) {
      if (err instanceof SlotTakenError) throw conflict(`table ${table.name} is already booked around that time`, { reason: 'slot_taken' });
      // Two requests with one Idempotency-Key raced: the loser answers with the winner's booking.
      if ((err as { constraint?: string }).constraint === 'bookings_idempotency_key_unique') {
        const winner = await replay();
        if (winner) return void res.status(201).json(await answerReplay(winner));
      }
      throw err;
    }
  });

  /**
   * A start Temporal could not take (unreachable, or the id held by another database's
   * workflow) is a 503: the DRAFT row is committed, and a retry with the same
   * Idempotency-Key, or the reconciler, starts its workflow later.
   */
  async function withWorkflowErrors<T>(start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } catch (err) {
      if (err instanceof WorkflowIdTakenError) {
        logger.error({ bookingId: err.bookingId, runId: err.runId }, 'booking workflow id is taken by another booking row; not binding to it');
        throw unavailable('the booking cannot be started right now; retry later');
      }
      if (isDependencyUnavailable(err)) {
        logger.warn({ err }, 'booking workflow not started: Temporal unavailable');
        throw unavailable('the booking service is temporarily unavailable; retry later with the same Idempotency-Key');
      }
      throw err;
    }
  }

  /** Everything a request is checked against comes in one query; the free slot is checked by the insert. */
  async function checkBookable(body: BookingRequest) {
    const preorder = body.preorder ?? [];
    const target = await findBookingTarget(db, body.restaurantId, body.tableId, preorder.map((p) => p.menuItemId));
    const { restaurant, table } = target;
    if (!restaurant) throw notFound('restaurant', body.restaurantId);
    if (!table) throw notFound('table', body.tableId);

    const problems: FieldProblem[] = [];
    const startsAt = new Date(body.startsAt);
    if (startsAt.getTime() <= Date.now()) problems.push({ in: 'body', path: 'startsAt', message: 'must be in the future' });
    if (startsAt.getTime() > Date.now() + config.BOOKING_MAX_ADVANCE) {
      problems.push({ in: 'body', path: 'startsAt', message: `must be at most ${config.BOOKING_MAX_ADVANCE / 86_400_000} days ahead` });
    }
    if (table.restaurantId !== restaurant.id) {
      problems.push({ in: 'body', path: 'tableId', message: `table ${table.id} belongs to another restaurant` });
    } else if (body.partySize > table.seats) {
      problems.push({ in: 'body', path: 'partySize', message: `table ${table.name} seats at most ${table.seats}` });
    }
    preorder.forEach((p, i) => {
      if (!target.knownMenuItemIds.has(p.menuItemId)) {
        problems.push({ in: 'body', path: `preorder.${i}.menuItemId`, message: `menu item ${p.menuItemId} is not on this restaurant's menu` });
      }
    });
    if (problems.length) throw validationFailed(problems);
    return { id: target.reservedId, restaurant, table, timing: resolveTiming(restaurant, config), startsAt };
  }

  if (bookingEvents) router.get('/bookings/:id/events', bookingEventsHandler({ db, feed: bookingEvents }));

  router.get('/bookings/:id', async (req, res) => {
    const bookingId = parseId(req, 'id', 'booking');
    const booking = await getBooking(db, bookingId);
    if (!booking) throw notFound('booking', bookingId);
    // Anyone with the id may look: nothing personal is in the answer.
    res.json({
      id: booking.id,
      status: booking.status,
      restaurantId: booking.restaurantId,
      tableId: booking.tableId,
      startsAt: booking.startsAt.toISOString(),
      partySize: booking.partySize,
    });
  });

  return router;
}
