import type { Response } from 'express';
import { z } from 'zod';
import { findMembershipByUserId } from '../db/restaurants';
import type { Db } from '../db/knex';
import { ApiError } from './errors';
import { idSchema } from './validation';

/**
 * Who is asking an admin read route: the admin (the bearer token), or a manager or owner, who
 * sees only the restaurants they belong to at the moment of the request and phone numbers
 * masked. A console session sets `res.locals.viewer`; an admin may pass `managerId` to see
 * exactly what that member sees (as the decision routes act on behalf of a `managerId`).
 */
export type Viewer = { role: 'admin' } | { role: 'member'; userId: number };

/** The query parameter with which an admin views as a member; part of each route's query schema. */
export const viewAsField = { managerId: z.coerce.number().pipe(idSchema).optional() };

export function viewerOf(res: Response, query: { managerId?: number }): Viewer {
  const viewer = (res.locals as { viewer?: Viewer }).viewer ?? { role: 'admin' };
  if (viewer.role === 'admin' && query.managerId !== undefined) return { role: 'member', userId: query.managerId };
  return viewer;
}

/** 403 unless the viewer may see this restaurant. */
export async function requireRestaurantAccess(db: Db, viewer: Viewer, restaurantId: number): Promise<void> {
  if (viewer.role === 'admin') return;
  if (await findMembershipByUserId(db, restaurantId, viewer.userId)) return;
  throw new ApiError('forbidden', `restaurant ${restaurantId} is not one of this manager's restaurants`, { details: { restaurantId } });
}
