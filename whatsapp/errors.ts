/**
 * Meta's send errors, classified by `code` (never by HTTP status or title) as in the
 * reference table (shared/reference/whatsapp-cloud-api.md). Callers turn the result into a
 * retry decision: Temporal activities retry `retryable` errors inside their retry policy
 * (honouring `retryAfterMs` as the next delay) and end `permanent` / `outsideWindow` ones
 * as non-retryable failures carrying the code.
 */
export type MetaErrorKind = 'retryable' | 'permanent' | 'outsideWindow';

export type MetaErrorReason =
  | 'outsideWindow'
  | 'throughput'
  | 'pairRateLimit'
  | 'accountRateLimit'
  | 'server'
  | 'maintenance'
  | 'network'
  | 'inProgress'
  | 'recipient'
  | 'request'
  | 'token'
  | 'policy'
  | 'template'
  /** A WAHA session that is not WORKING (stopped, starting, waiting for its QR code to be scanned). */
  | 'session'
  | 'unknown';

export interface MetaErrorClass {
  kind: MetaErrorKind;
  reason: MetaErrorReason;
  /** Wait at least this long before the next attempt (to the same recipient, for 131056). */
  retryAfterMs?: number;
  /** Give up after this many attempts even though the error is transient. */
  maxAttempts?: number;
}

/** Outside the 24-hour customer-service window: a manager's message must go out as the template. */
export const OUTSIDE_WINDOW = 131047;

// Meta's pair limit is about one message every 6 s per recipient.
const PAIR_RATE_DELAY_MS = 6_000;
// Maintenance lasts up to about a minute.
const MAINTENANCE_DELAY_MS = 60_000;
const SERVER_ERROR_MAX_ATTEMPTS = 5;

const BY_CODE = new Map<number, MetaErrorClass>();
const add = (codes: number[], c: MetaErrorClass) => codes.forEach((code) => BY_CODE.set(code, c));
add([OUTSIDE_WINDOW], { kind: 'outsideWindow', reason: 'outsideWindow' });
add([130429], { kind: 'retryable', reason: 'throughput' });
add([131056], { kind: 'retryable', reason: 'pairRateLimit', retryAfterMs: PAIR_RATE_DELAY_MS });
add([80007, 4], { kind: 'retryable', reason: 'accountRateLimit' });
add([1, 2, 131016, 131000], { kind: 'retryable', reason: 'server', maxAttempts: SERVER_ERROR_MAX_ATTEMPTS });
add([131057], { kind: 'retryable', reason: 'maintenance', retryAfterMs: MAINTENANCE_DELAY_MS });
add([131026], { kind: 'permanent', reason: 'recipient' });
add([100, 131008, 131009], { kind: 'permanent', reason: 'request' });
add([190], { kind: 'permanent', reason: 'token' });
add([368, 131048, 131049, 131050, 130403], { kind: 'permanent', reason: 'policy' });
add([132000, 132001, 132012, 132015, 132018], { kind: 'permanent', reason: 'template' });

/**
 * An unknown code is permanent: resending a message Meta refused for a reason we do not
 * understand risks spamming the person; the failure reaches the workflow and the logs instead.
 */
export function classifyMetaError(code: number): MetaErrorClass {
  return BY_CODE.get(code) ?? { kind: 'permanent', reason: 'unknown' };
}

const NETWORK: MetaErrorClass = { kind: 'retryable', reason: 'network' };

export class WhatsAppSendError extends Error {
  override readonly name = 'WhatsAppSendError';
  readonly kind: MetaErrorKind;
  readonly reason: MetaErrorReason;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly maxAttempts?: number;
  readonly details?: string;
  readonly httpStatus?: number;
  readonly fbtraceId?: string;

  constructor(
    /** Meta's error code; undefined when no Meta answer was read (network failure, bare 5xx). */
    readonly code: number | undefined,
    /** Meta's error message, or what went wrong on the way; never contains the token. */
    readonly title: string,
    opts: { details?: string; httpStatus?: number; fbtraceId?: string; classification?: MetaErrorClass } = {},
  ) {
    super(code === undefined ? title : `(#${code}) ${title}`);
    const c = opts.classification ?? (code === undefined ? NETWORK : classifyMetaError(code));
    this.kind = c.kind;
    this.reason = c.reason;
    this.retryable = c.kind === 'retryable';
    this.retryAfterMs = c.retryAfterMs;
    this.maxAttempts = c.maxAttempts;
    this.details = opts.details;
    this.httpStatus = opts.httpStatus;
    this.fbtraceId = opts.fbtraceId;
  }
}

export function isWhatsAppSendError(err: unknown): err is WhatsAppSendError {
  return err instanceof WhatsAppSendError;
}
