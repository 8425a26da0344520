import { bookingActivities } from './bookings';
import type { ActivityDeps } from './deps';
import { notifyActivities } from './notify';

export type { ActivityDeps } from './deps';

/** Every activity the booking workflow calls, bound to its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return { ...bookingActivities(deps), ...notifyActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
