import { buttonTap, inboundText } from './meta';
import type { GraphStandIn, AcceptedSend } from './graph';
import type { Stack } from './stack';
import { workflowIdFor } from '../../workflows/definitions';
import { until } from './stats';

/** A restaurant with enough tables that every booking of a run gets a free slot, and two managers. */
export interface Restaurant {
  id: number;
  tableIds: number[];
  dishId: number;
  /** E.164. */
  managers: { id: number; phone: string }[];
}

export async function seedRestaurant(stack: Stack, tables = 20): Promise<Restaurant> {
  const r = await stack.admin('POST', '/admin-api/restaurants', { name: 'Bench Bistro', timezone: 'Asia/Almaty', managerLanguageCode: 'ru' });
  const tableIds: number[] = [];
  for (let i = 0; i < tables; i++) tableIds.push((await stack.admin('POST', `/admin-api/restaurants/${r.id}/tables`, { name: `T${i + 1}`, seats: 6 })).id);
  const dish = await stack.admin('POST', `/admin-api/restaurants/${r.id}/menu-items`, { name: 'Plov', priceMinor: 350000, currency: 'KZT' });
  const managers = [];
  for (const [name, phone] of [['Aigerim', '+77010000001'], ['Daniyar', '+77010000002']]) {
    const m = await stack.admin('POST', `/admin-api/restaurants/${r.id}/managers`, { name, phone });
    managers.push({ id: m.id, phone: m.phone });
  }
  return { id: r.id, tableIds, dishId: dish.id, managers };
}

export interface Booking {
  id: number;
  claimText: string;
}

let slot = 0;
/** POST /api/bookings as a restaurant site would; each call its own table and 3-hour slot. */
export async function createBooking(stack: Stack, r: Restaurant): Promise<Booking> {
  const n = slot++;
  const res = await fetch(`${stack.apiUrl}/api/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      restaurantId: r.id,
      tableId: r.tableIds[n % r.tableIds.length],
      startsAt: new Date(Date.now() + 2 * 86_400_000 + Math.floor(n / r.tableIds.length) * 3 * 3_600_000).toISOString(),
      partySize: 2,
      preorder: [{ menuItemId: r.dishId, quantity: 1 }],
    }),
  });
  const body = (await res.json()) as any;
  if (res.status !== 201) throw new Error(`POST /api/bookings → ${res.status} ${JSON.stringify(body)}`);
  return { id: body.id, claimText: body.claimText };
}

/**
 * Until the booking's workflow has finished its first task and waits for the claim. A guest
 * claims from WhatsApp seconds after booking on the website, so a claim never meets a
 * workflow still starting; the floor's workflows are given the same head start.
 */
export async function untilWaitingForClaim(stack: Stack, b: Booking): Promise<void> {
  const handle = stack.client.workflow.getHandle(workflowIdFor(b.id));
  await until(`booking ${b.id}'s workflow to wait for its claim`, async () => {
    const d = await handle.describe();
    return d.historyLength >= 3 && !d.raw.pendingWorkflowTask ? true : undefined;
  }, 30_000, 10);
}

let guests = 0;
/** A fresh guest number (digits), so no two bookings share a guest. */
export const newGuest = () => `4479460${String(++guests).padStart(5, '0')}`;

export const digits = (e164: string) => e164.replace(/\D/g, '');
export const approveId = (bookingId: number) => `APPROVE_BOOKING:${bookingId}`;

export const claim = (stack: Stack, b: Booking, guest: string) => stack.webhook.post(inboundText(guest, b.claimText));
export const approve = (stack: Stack, b: Booking, manager: string) => stack.webhook.post(buttonTap(digits(manager), approveId(b.id)));

/**
 * Watches what the fake Graph API accepted and resolves waiters with the acceptance time,
 * scanning each message once however many bookings a run holds.
 */
export class SendWatch {
  private seen = 0;
  private waiters: { match: (m: AcceptedSend) => boolean; after: number; resolve: (at: number) => void }[] = [];
  private timer: NodeJS.Timeout;

  constructor(private graph: GraphStandIn) {
    this.seen = graph.accepted.length;
    this.timer = setInterval(() => this.scan(), 2);
  }

  private scan() {
    for (; this.seen < this.graph.accepted.length; this.seen++) {
      const m = this.graph.accepted[this.seen];
      this.waiters = this.waiters.filter((w) => {
        if (m.at.getTime() < w.after || !w.match(m)) return true;
        w.resolve(m.at.getTime());
        return false;
      });
    }
  }

  /** The time (epoch ms) the first matching message accepted at or after `after` arrived. */
  next(match: (m: AcceptedSend) => boolean, after: number, timeoutMs = 30_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = { match, after, resolve: (at: number) => (clearTimeout(timer), resolve(at)) };
      this.waiters.push(waiter);
    });
  }

  close() {
    clearInterval(this.timer);
  }
}

export const isManagerRequest = (bookingId: number) => (m: AcceptedSend) => m.type !== 'text' && JSON.stringify(m.body).includes(approveId(bookingId));
export const isTo = (phoneDigits: string) => (m: AcceptedSend) => m.to === phoneDigits;
