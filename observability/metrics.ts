import client from 'prom-client';

/** Process-wide Prometheus registry, served at GET /metrics by the API. */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const webhookRejected = new client.Counter({
  name: 'whatsapp_webhook_rejected_total',
  help: 'Webhook deliveries refused, by reason (bad_signature, invalid_payload, too_large)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const webhookEvents = new client.Counter({
  name: 'whatsapp_webhook_events_total',
  help: 'Inbound messages and statuses stored, by kind and outcome (applied, duplicate, skipped: over the flood limit, foreign: another phone_number_id)',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const inboxRows = new client.Counter({
  name: 'whatsapp_inbox_rows_total',
  help: 'Inbox rows acted on, by outcome (processed, failed: will retry, dead: gave up after its attempts)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const inboxPendingRows = new client.Gauge({
  name: 'whatsapp_inbox_pending_rows',
  help: 'Inbox rows waiting to be acted on, read from the database at each scrape',
  registers: [registry],
});

export const inboxDeadRows = new client.Gauge({
  name: 'whatsapp_inbox_dead_rows',
  help: 'Inbox rows in the dead letter, waiting for POST /admin-api/inbox/:id/retry, read at each scrape',
  registers: [registry],
});

export const inboxLagSeconds = new client.Gauge({
  name: 'whatsapp_inbox_lag_seconds',
  help: 'Age of the oldest inbox row waiting to be acted on, read at each scrape',
  registers: [registry],
});

export const outboundMessages = new client.Counter({
  name: 'whatsapp_outbound_messages_total',
  help: 'Outbound WhatsApp sends, by purpose and outcome (sent, reused, queued, retrying, failed)',
  labelNames: ['purpose', 'outcome'] as const,
  registers: [registry],
});

export const undeliveredMessages = new client.Counter({
  name: 'booking_messages_undelivered_total',
  help: 'Booking messages the workflow gave up on: still failing when they stopped being useful, by purpose',
  labelNames: ['purpose'] as const,
  registers: [registry],
});

export const httpRequestDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'API request latency by route and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const bookingWorkflowsRepaired = new client.Counter({
  name: 'booking_workflows_repaired_total',
  help: 'Open bookings whose missing workflow the reconciler started, by the booking status it found',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const bookingTransitions = new client.Counter({
  name: 'booking_transitions_total',
  help: 'Booking status changes committed, by from and to status (from="none": a new DRAFT booking)',
  labelNames: ['from', 'to'] as const,
  registers: [registry],
});

export const decisionSeconds = new client.Histogram({
  name: 'booking_decision_seconds',
  help: 'Time a claimed booking waited in PENDING, by the status it left for (APPROVED, REJECTED: a decision; EXPIRED, CANCELLED)',
  labelNames: ['outcome'] as const,
  // Decisions come in seconds to minutes; the reminder, escalation and timeout defaults are 10, 20 and 45 minutes.
  buckets: [15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600],
  registers: [registry],
});

/** One committed status change; `waitedSeconds` for a booking leaving PENDING. */
export function recordTransition(from: string | undefined, to: string, waitedSeconds?: number): void {
  bookingTransitions.inc({ from: from ?? 'none', to });
  if (waitedSeconds !== undefined) decisionSeconds.observe({ outcome: to }, waitedSeconds);
}

export const decisionBacklogBookings = new client.Gauge({
  name: 'booking_decision_backlog',
  help: 'Bookings waiting for a manager decision (PENDING), read from the database at each scrape',
  registers: [registry],
});

export const decisionBacklogOldestSeconds = new client.Gauge({
  name: 'booking_decision_backlog_oldest_seconds',
  help: 'How long the oldest booking waiting for a decision has waited since its claim, read at each scrape',
  registers: [registry],
});

export const messageStatuses = new client.Counter({
  name: 'whatsapp_message_statuses_total',
  help: "Meta's status reports on our messages stored, by status (sent, delivered, read, failed); a redelivered report counts again",
  labelNames: ['status'] as const,
  registers: [registry],
});
