import { createBooking, seedRestaurant, type Booking, type Restaurant } from '../../bench/lib/fixtures';
import { startStack, type Stack, type StackOptions } from '../../bench/lib/stack';

export const log = (line: string) => console.log(`    ${new Date().toISOString().slice(11, 19)} ${line}`);

/** A stack whose Temporal keeps its state on disk (it is killed), with a seeded restaurant. */
export async function chaosStack(name: string, o: Partial<StackOptions> = {}): Promise<{ stack: Stack; r: Restaurant }> {
  const stack = await startStack({ name, durableTemporal: true, statusWebhooks: true, ...o, env: { LOG_LEVEL: 'info', ...o.env } });
  try {
    return { stack, r: await seedRestaurant(stack, 10) };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

export async function createBookings(stack: Stack, r: Restaurant, n: number): Promise<Booking[]> {
  const out: Booking[] = [];
  for (let i = 0; i < n; i++) out.push(await createBooking(stack, r));
  return out;
}

/** Each item 2..5 times, in a random order: Meta's at-least-once delivery at its worst. */
export function redeliveries<T>(items: T[], random = Math.random): T[] {
  const all = items.flatMap((x) => Array.from({ length: 2 + Math.floor(random() * 4) }, () => x));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all;
}

export const randomBetween = (min: number, max: number) => min + Math.random() * (max - min);
