import { BlockList, isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { durationMs } from '../domain/duration';
import { parsePayloadKeys } from './payloadKeys';

/**
 * The one schema for every environment variable the system reads. `.env.example`
 * and the README's configuration table document the same names; keep them together.
 */
const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
// PORT=0 lets the OS pick (tests run several APIs side by side).
const listenPort = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** `host:port` to listen on, e.g. 0.0.0.0:9464; unset means the listener is off. */
const bindAddress = optionalString.pipe(
  z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([1-9]\d{0,4})$/, 'must be host:port, e.g. 0.0.0.0:9464')
    .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'the port must be at most 65535')
    .optional(),
);

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = durationMs(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration such as 30s, 10m, 2h or 1d` });
        return z.NEVER;
      }
      return ms;
    });

/** "24h,2h" → [86400000, 7200000]; "off" or empty → none. */
const durations = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const parts = value.trim() === 'off' ? [] : value.split(',').map((p) => p.trim()).filter(Boolean);
      const ms = parts.map(durationMs);
      if (ms.some((m) => m === undefined)) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a list of durations such as 24h,2h (or off)` });
        return z.NEVER;
      }
      return ms as number[];
    });

const flag = z
  .enum(['0', '1', 'true', 'false', ''])
  .optional()
  .transform((v) => v === '1' || v === 'true');

const envSchema = z.object({
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  // Unset means "depends on the mode": see listenHost().
  HOST: optionalString,
  PORT: listenPort(3000),
  DATA_DIR: z.string().default('./.data'),
  WA_BOOKING_CACHE_DIR: z.string().default(path.join(os.homedir(), '.cache', 'wa-booking')),

  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  EMBEDDED_POSTGRES_PORT: port(5433),

  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('bookings'),
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_TEST_SERVER_PATH: optionalString,
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(100),
  // 0 = off; otherwise the worker logs its heap, RSS and cached workflows this often (sizing).
  WORKER_MEMORY_LOG_SECONDS: z.coerce.number().int().min(0).default(0),
  // host:port; unset = off. The Temporal SDK's Prometheus exporter (worker metrics), and the
  // worker process's own metrics (transitions, decision latency) where no API serves them.
  TEMPORAL_METRICS_BIND: bindAddress,
  WORKER_METRICS_BIND: bindAddress,
  // Parsed here so a bad key is reported with every other problem; never echoed back.
  TEMPORAL_PAYLOAD_KEYS: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const { keys, problems } = parsePayloadKeys(value);
    problems.forEach((message) => ctx.addIssue({ code: 'custom', message }));
    return problems.length ? z.NEVER : keys;
  }),
  /** Origins of a Temporal UI allowed to call the codec endpoint (the embedded UI always is). */
  TEMPORAL_UI_ORIGIN: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ protocol: /^https?$/ })))
    // Browsers send the bare origin; a configured trailing slash or path must still match it.
    .transform((urls) => urls.map((u) => new URL(u).origin)),

  ADMIN_API_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  METRICS_TOKEN: optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  // Signs the console's sign-in links and sessions; unset: derived from the admin token.
  CONSOLE_LINK_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  CONSOLE_LINK_TTL: duration('15m'),
  // The address people reach the API at, for links sent in WhatsApp; unset: where it listens.
  PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  CORS_ORIGINS: z
    .string()
    .default('*')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  BOOKINGS_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(30),

  BOOKING_CLAIM_TTL: duration('30m'),
  DECISION_REMINDER_AFTER: duration('10m'),
  ESCALATE_AFTER: duration('20m'),
  DECISION_TIMEOUT: duration('45m'),
  EXPIRE_BEFORE_START: duration('15m'),
  BOOKING_SLOT_LENGTH: duration('2h'),
  BOOKING_MAX_ADVANCE: duration('365d'),
  RECONCILE_INTERVAL: duration('1m'),
  // The visit (defaults of the restaurant settings, except the reason wait and the arrival check).
  VISIT_REMINDERS: durations('24h,2h'),
  GUEST_CANCEL_CUTOFF: duration('2h'),
  REJECT_REASON_WAIT: duration('2m'),
  ARRIVAL_CHECK_AFTER: duration('20m'),

  WHATSAPP_API_URL: z.url().default('https://graph.facebook.com'),
  WHATSAPP_API_VERSION: z.string().regex(/^v\d+\.\d+$/, 'must look like v23.0').default('v23.0'),
  WHATSAPP_PHONE_NUMBER_ID: optionalString,
  WHATSAPP_ACCESS_TOKEN: optionalString,
  WHATSAPP_APP_SECRET: optionalString,
  WHATSAPP_VERIFY_TOKEN: optionalString,
  WHATSAPP_BOT_NUMBER: z
    .string()
    .default('15550001111')
    .transform((v) => v.replace(/\D/g, ''))
    .pipe(z.string().regex(/^[1-9]\d{6,14}$/, 'must be the full international number, digits only')),
  WHATSAPP_MANAGER_TEMPLATE: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'template names are lowercase letters, digits and underscores')
    .default('booking_request'),
  // Encrypt the credentials of whatsapp_accounts at rest; same format and rotation as TEMPORAL_PAYLOAD_KEYS.
  WHATSAPP_CREDENTIALS_KEYS: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const { keys, problems } = parsePayloadKeys(value);
    problems.forEach((message) => ctx.addIssue({ code: 'custom', message }));
    return problems.length ? z.NEVER : keys;
  }),
  WHATSAPP_REMINDER_TEMPLATE: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'template names are lowercase letters, digits and underscores')
    .default('booking_reminder'),
  // Messages a WAHA session sends per minute at most: WhatsApp bans Web numbers that burst.
  WAHA_MAX_MESSAGES_PER_MINUTE: z.coerce.number().int().min(1).max(6000).default(20),
  DEFAULT_LANGUAGE: z.enum(['en', 'ru', 'kk']).default('en'),
  SANDBOX: flag,

  INBOX_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  INBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  INBOUND_FLOOD_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(20),
});

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  /** True when neither Postgres nor Temporal is external: `npm start` runs both itself. */
  embedded: boolean;
  dataDir: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; reports every problem together so one restart fixes them all. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  // Cross-field rules read the raw values too, so one run reports every problem at once.
  const set = (name: string) => Boolean(env[name]?.trim());
  const embedded = !set('DATABASE_URL') && !set('TEMPORAL_ADDRESS');
  if (!embedded && !set('ADMIN_API_TOKEN')) {
    problems.push('ADMIN_API_TOKEN: required when DATABASE_URL or TEMPORAL_ADDRESS points to an external server');
  }
  if (set('WHATSAPP_ACCESS_TOKEN')) {
    for (const name of ['WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN']) {
      if (!set(name)) problems.push(`${name}: required when WHATSAPP_ACCESS_TOKEN is set`);
    }
  }
  const cfg = parsed.data;
  // Credentials mean a real deployment, most likely a server: its sandbox page, which taps for every phone, stays off the network.
  if (cfg?.SANDBOX && cfg.WHATSAPP_ACCESS_TOKEN && !isLoopback(listenHost(cfg, true))) {
    problems.push(`SANDBOX: SANDBOX=1 with WHATSAPP_ACCESS_TOKEN set listens only on loopback, so unset HOST or set it to 127.0.0.1 (not ${cfg.HOST}).`);
  }
  if (cfg && !(cfg.DECISION_REMINDER_AFTER < cfg.ESCALATE_AFTER && cfg.ESCALATE_AFTER < cfg.DECISION_TIMEOUT)) {
    problems.push('DECISION_REMINDER_AFTER < ESCALATE_AFTER < DECISION_TIMEOUT must hold');
  }
  if (problems.length || !cfg) throw new ConfigError(problems);
  return { ...cfg, embedded, dataDir: path.resolve(cfg.DATA_DIR) };
}

/**
 * Where the API listens: HOST when set, else 127.0.0.1 in sandbox mode (its /sandbox page
 * acts for every phone, so it is not offered to the network unasked), else every interface.
 */
export function listenHost(config: Pick<Env, 'HOST'>, sandbox: boolean): string {
  return config.HOST ?? (sandbox ? '127.0.0.1' : '0.0.0.0');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export function isLoopback(host: string): boolean {
  const family = isIP(host);
  return host === 'localhost' || (family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4'));
}
