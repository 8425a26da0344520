import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveAdminToken } from '../config/adminToken';
import { ConfigError, loadConfig } from '../config';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected loadConfig to fail');
};

const EXTERNAL_DB = 'postgres://app:secret@db.internal:5432/wa_booking';

describe('loadConfig', () => {
  test('an empty environment gives the embedded development defaults', () => {
    const config = loadConfig({});
    // HOST unset: the listen address then depends on the mode (listenHost).
    expect(config.HOST).toBeUndefined();
    expect(config).toMatchObject({
      LOG_LEVEL: 'info',
      PORT: 3000,
      EMBEDDED_POSTGRES_PORT: 5433,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'bookings',
      CORS_ORIGINS: ['*'],
      BOOKINGS_RATE_LIMIT_PER_MINUTE: 30,
      BOOKING_CLAIM_TTL: 30 * 60_000,
      DECISION_REMINDER_AFTER: 10 * 60_000,
      ESCALATE_AFTER: 20 * 60_000,
      DECISION_TIMEOUT: 45 * 60_000,
      EXPIRE_BEFORE_START: 15 * 60_000,
      BOOKING_SLOT_LENGTH: 2 * 3_600_000,
      WHATSAPP_API_VERSION: 'v23.0',
      WHATSAPP_BOT_NUMBER: '15550001111',
      WHATSAPP_MANAGER_TEMPLATE: 'booking_request',
      DEFAULT_LANGUAGE: 'en',
      SANDBOX: false,
      embedded: true,
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.ADMIN_API_TOKEN).toBeUndefined();
    expect(path.isAbsolute(config.dataDir)).toBe(true);
  });

  test('empty strings count as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: ' ', ADMIN_API_TOKEN: '' });
    expect(config.embedded).toBe(true);
    expect(config.ADMIN_API_TOKEN).toBeUndefined();
  });

  test('durations take a unit', () => {
    const config = loadConfig({
      BOOKING_CLAIM_TTL: '90s',
      DECISION_REMINDER_AFTER: '500ms',
      ESCALATE_AFTER: '1h',
      DECISION_TIMEOUT: '1d',
      BOOKING_SLOT_LENGTH: ' 90m ',
    });
    expect(config.BOOKING_CLAIM_TTL).toBe(90_000);
    expect(config.DECISION_REMINDER_AFTER).toBe(500);
    expect(config.ESCALATE_AFTER).toBe(3_600_000);
    expect(config.DECISION_TIMEOUT).toBe(86_400_000);
    expect(config.BOOKING_SLOT_LENGTH).toBe(90 * 60_000);
    expect(problemsOf({ BOOKING_CLAIM_TTL: '30 minutes' })).toEqual([
      'BOOKING_CLAIM_TTL: "30 minutes" is not a duration such as 30s, 10m, 2h or 1d',
    ]);
    expect(problemsOf({ BOOKING_CLAIM_TTL: '0m' })).toHaveLength(1);
  });

  test('every problem of the schema is reported in one error', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      ESCALATE_AFTER: 'soon',
      DATABASE_URL: 'mysql://db/app',
      DEFAULT_LANGUAGE: 'de',
      WHATSAPP_API_VERSION: '23',
    });
    // The malformed DATABASE_URL still counts as set: the missing admin token is reported with the rest.
    expect(problems).toHaveLength(7);
    for (const name of ['PORT', 'LOG_LEVEL', 'ESCALATE_AFTER', 'DATABASE_URL', 'DEFAULT_LANGUAGE', 'WHATSAPP_API_VERSION', 'ADMIN_API_TOKEN']) {
      expect(problems.some((p) => p.startsWith(`${name}: `))).toBe(true);
    }
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^Invalid configuration:\n {2}- PORT: /);
  });

  test('every cross-field problem is reported in one error', () => {
    const problems = problemsOf({
      DATABASE_URL: EXTERNAL_DB,
      WHATSAPP_ACCESS_TOKEN: 'token',
      DECISION_REMINDER_AFTER: '30m',
    });
    expect(problems).toEqual([
      'ADMIN_API_TOKEN: required when DATABASE_URL or TEMPORAL_ADDRESS points to an external server',
      'WHATSAPP_PHONE_NUMBER_ID: required when WHATSAPP_ACCESS_TOKEN is set',
      'WHATSAPP_APP_SECRET: required when WHATSAPP_ACCESS_TOKEN is set',
      'WHATSAPP_VERIFY_TOKEN: required when WHATSAPP_ACCESS_TOKEN is set',
      'DECISION_REMINDER_AFTER < ESCALATE_AFTER < DECISION_TIMEOUT must hold',
    ]);
  });

  test('ADMIN_API_TOKEN is required once Postgres or Temporal is external', () => {
    const token = 'a-long-enough-admin-token';
    expect(problemsOf({ DATABASE_URL: EXTERNAL_DB })).toEqual([expect.stringMatching(/^ADMIN_API_TOKEN: required/)]);
    expect(problemsOf({ TEMPORAL_ADDRESS: 'temporal:7233' })).toEqual([expect.stringMatching(/^ADMIN_API_TOKEN: required/)]);
    expect(problemsOf({ DATABASE_URL: EXTERNAL_DB, ADMIN_API_TOKEN: 'short' })).toEqual([
      'ADMIN_API_TOKEN: must be at least 16 characters',
    ]);
    const config = loadConfig({ DATABASE_URL: EXTERNAL_DB, ADMIN_API_TOKEN: token });
    expect(config).toMatchObject({ embedded: false, DATABASE_URL: EXTERNAL_DB, ADMIN_API_TOKEN: token });
  });

  test('the WhatsApp channel needs all four of its credentials', () => {
    const whatsapp = {
      WHATSAPP_ACCESS_TOKEN: 'access',
      WHATSAPP_PHONE_NUMBER_ID: '123456789',
      WHATSAPP_APP_SECRET: 'app-secret',
      WHATSAPP_VERIFY_TOKEN: 'verify',
    };
    expect(loadConfig(whatsapp)).toMatchObject(whatsapp);
    expect(problemsOf({ ...whatsapp, WHATSAPP_APP_SECRET: '' })).toEqual([
      'WHATSAPP_APP_SECRET: required when WHATSAPP_ACCESS_TOKEN is set',
    ]);
    // The others alone are harmless: without an access token nothing is sent.
    expect(() => loadConfig({ WHATSAPP_VERIFY_TOKEN: 'verify' })).not.toThrow();
  });

  test('values are normalised', () => {
    const config = loadConfig({
      WHATSAPP_BOT_NUMBER: '+7 (701) 000-00-99',
      CORS_ORIGINS: 'https://a.example, https://b.example,,',
      SANDBOX: 'true',
      PORT: '8080',
    });
    expect(config.WHATSAPP_BOT_NUMBER).toBe('77010000099');
    expect(config.CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(config.SANDBOX).toBe(true);
    expect(config.PORT).toBe(8080);
    expect(problemsOf({ SANDBOX: 'yes' })).toHaveLength(1);
    expect(problemsOf({ WHATSAPP_MANAGER_TEMPLATE: 'Booking Request' })).toHaveLength(1);
  });

  test('the visit: reminders as a list of durations or off, the cutoff, the reason wait, the arrival check, the template', () => {
    expect(loadConfig({})).toMatchObject({
      VISIT_REMINDERS: [24 * 3_600_000, 2 * 3_600_000],
      GUEST_CANCEL_CUTOFF: 2 * 3_600_000,
      REJECT_REASON_WAIT: 2 * 60_000,
      ARRIVAL_CHECK_AFTER: 20 * 60_000,
      WHATSAPP_REMINDER_TEMPLATE: 'booking_reminder',
    });
    expect(loadConfig({ VISIT_REMINDERS: '48h, 3h' }).VISIT_REMINDERS).toEqual([48 * 3_600_000, 3 * 3_600_000]);
    expect(loadConfig({ VISIT_REMINDERS: 'off' }).VISIT_REMINDERS).toEqual([]);
    expect(problemsOf({ VISIT_REMINDERS: '24h,soon' })).toEqual([expect.stringMatching(/^VISIT_REMINDERS: /)]);
    expect(problemsOf({ ARRIVAL_CHECK_AFTER: '20' })).toHaveLength(1);
    expect(problemsOf({ WHATSAPP_REMINDER_TEMPLATE: 'Booking Reminder' })).toHaveLength(1);
  });
});

describe('resolveAdminToken', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-token-')), 'data');
  });
  afterEach(() => fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }));

  test('ADMIN_API_TOKEN wins and nothing is written', () => {
    expect(resolveAdminToken({ ADMIN_API_TOKEN: 'configured-token-123', embedded: true, dataDir })).toBe(
      'configured-token-123',
    );
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  test('embedded mode creates a private random token once and reuses it', () => {
    const token = resolveAdminToken({ embedded: true, dataDir });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes in base64url
    const file = path.join(dataDir, 'admin-token');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(resolveAdminToken({ embedded: true, dataDir })).toBe(token);
    expect(fs.readdirSync(dataDir)).toEqual(['admin-token']);
  });

  test('an existing token file is used as it is', () => {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'admin-token'), 'a-token-someone-chose\n');
    expect(resolveAdminToken({ embedded: true, dataDir })).toBe('a-token-someone-chose');
    fs.writeFileSync(path.join(dataDir, 'admin-token'), 'short');
    expect(() => resolveAdminToken({ embedded: true, dataDir })).toThrow(/at least 16 characters/);
  });

  test('outside embedded mode a missing token is an error', () => {
    expect(() => resolveAdminToken({ embedded: false, dataDir })).toThrow(/ADMIN_API_TOKEN/);
  });
});
