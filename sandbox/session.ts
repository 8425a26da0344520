import { randomBytes, randomInt } from 'node:crypto';
import type { Config } from '../config';
import { LANGUAGES } from '../domain/booking';
import { MANAGER_TEMPLATE_PARAMETERS, REMINDER_TEMPLATE_PARAMETERS } from '../whatsapp/render';
import { startFakeGraphApi, type FakeGraphApi } from './graph';
import { startFakeWaha, type FakeWaha } from './waha';

/** The sandbox's WAHA session, as a whatsapp_accounts row would hold it (credentials in clear here). */
export interface SandboxWahaAccount {
  name: string;
  displayNumber: string;
  baseUrl: string;
  session: string;
  apiKey: string;
  webhookHmacKey: string;
}

export interface SandboxSession {
  graph: FakeGraphApi;
  /** A fake WAHA beside it, with one working session a restaurant can be switched to. */
  waha: FakeWaha;
  wahaAccount: SandboxWahaAccount;
  /**
   * The process's settings with the WhatsApp ones of this session: the fake's address and
   * freshly generated credentials, so the channel and the webhook router agree on them.
   */
  config: Config;
  /**
   * Opens /sandbox and its API for this start only. Whoever holds it can read every chat and
   * tap for any phone, so it appears nowhere but in the sandbox URL printed at start.
   */
  key: string;
  /** Points the fakes' signed webhooks at our own webhook routes: the Cloud API's and WAHA's. */
  connect(webhooks: { whatsapp: string; waha: string }): void;
  close(): Promise<void>;
}

/**
 * The local stand-in for WhatsApp behind `npm start` without credentials: a fake WAHA (a
 * restaurant switched to it gets numbered text instead of buttons) and a fake Graph API
 * on 127.0.0.1 that knows the manager and reminder templates in every language we send them in,
 * like an account where they are approved. The 24-hour window is not enforced, so managers
 * get the interactive request (the template path has tests of its own).
 */
export async function startSandboxSession(base: Config): Promise<SandboxSession> {
  const credentials = {
    // Fifteen digits, like Meta's phone number ids.
    WHATSAPP_PHONE_NUMBER_ID: `10${randomInt(1e12, 1e13)}`,
    WHATSAPP_ACCESS_TOKEN: `sandbox-${randomBytes(24).toString('hex')}`,
    WHATSAPP_APP_SECRET: randomBytes(16).toString('hex'),
    WHATSAPP_VERIFY_TOKEN: randomBytes(12).toString('hex'),
  };
  const graph = await startFakeGraphApi({
    accessToken: credentials.WHATSAPP_ACCESS_TOKEN,
    phoneNumberId: credentials.WHATSAPP_PHONE_NUMBER_ID,
    displayPhoneNumber: base.WHATSAPP_BOT_NUMBER,
    templates: [
      { name: base.WHATSAPP_MANAGER_TEMPLATE, languages: [...LANGUAGES], bodyParameters: MANAGER_TEMPLATE_PARAMETERS.length, quickReplies: 3 },
      { name: base.WHATSAPP_REMINDER_TEMPLATE, languages: [...LANGUAGES], bodyParameters: REMINDER_TEMPLATE_PARAMETERS.length, quickReplies: 2 },
    ],
  });
  const wahaDigits = String(Number(base.WHATSAPP_BOT_NUMBER) + 1);
  const wahaAccount = { name: 'Sandbox WAHA session', displayNumber: `+${wahaDigits}`, session: 'sandbox', apiKey: randomBytes(24).toString('hex'), webhookHmacKey: randomBytes(24).toString('hex') };
  const waha = await startFakeWaha({ apiKey: wahaAccount.apiKey, sessions: [{ name: wahaAccount.session, me: wahaDigits }] });
  return {
    graph,
    waha,
    wahaAccount: { ...wahaAccount, baseUrl: waha.url },
    config: { ...base, ...credentials, WHATSAPP_API_URL: graph.url },
    key: randomBytes(32).toString('base64url'),
    connect: (webhooks) => {
      graph.configureWebhook({ url: webhooks.whatsapp, appSecret: credentials.WHATSAPP_APP_SECRET });
      waha.configureWebhook({ url: webhooks.waha, hmacKey: wahaAccount.webhookHmacKey });
    },
    async close() {
      // Our API is gone by now: webhooks still queued would only wait out their retries.
      graph.configureWebhook(undefined);
      waha.configureWebhook(undefined);
      await Promise.all([graph.close(), waha.close()]);
    },
  };
}
