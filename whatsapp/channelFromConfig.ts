import type { Config } from '../config';
import type { Db } from '../db/knex';
import type { NotificationChannel } from '../domain/notifications';
import type { Logger } from '../observability/logger';
import { resolveCredentialKeys } from '../config/credentialKeys';
import { startSandboxSession, type SandboxSession } from '../sandbox/session';
import { lazyCredentialCipher } from './accounts/credentials';
import { createAccountRoutedChannel } from './accounts/routing';
import { createOutboxChannel, createWhatsAppChannel } from './channel';
import { graphClientFromConfig } from './graphClient';
import { CLOUD_API_NUMBER_RATE, CLOUD_API_PAIR_RATE, createSendLimiter, type Rate } from './rateLimit';

/** WAHA_MAX_MESSAGES_PER_MINUTE, evenly spread: a tenth of a minute's allowance may go at once. */
const wahaRate = (perMinute: number): Rate => ({ perSecond: perMinute / 60, burst: Math.max(1, Math.ceil(perMinute / 10)) });

export interface ConfiguredChannel {
  channel: NotificationChannel;
  /** What the rest of the process must use: in sandbox mode, with the session's WhatsApp settings. */
  config: Config;
  /** Sandbox mode only: the fake Graph API the channel sends to. */
  sandbox?: SandboxSession;
  /** Addresses worth printing at startup. */
  urls: { label: string; url: string }[];
  close(): Promise<void>;
}

/**
 * Every restaurant's messages through its own WhatsApp account (whatsapp/accounts/routing.ts),
 * each account paced in this process (whatsapp/rateLimit.ts: a Cloud API number at Meta's 80
 * messages/s and pair limit, a WAHA session at WAHA_MAX_MESSAGES_PER_MINUTE). A restaurant
 * without one uses the default account, configured as follows and unpaced as before (Meta's
 * 130429 and 131056 answers are retried with their delays).
 *
 * Sandbox mode when SANDBOX is set, or when WHATSAPP_ACCESS_TOKEN is not and this process
 * runs both the API and the worker (`npm start`): the Cloud API channel, unchanged, talking
 * to a local fake Graph API whose webhooks come back to our own webhook route. Otherwise the
 * Cloud API channel when the token is set (loadConfig has then checked the other WHATSAPP_*
 * settings), else the outbox channel, which records every message as `queued` in
 * whatsapp_messages and sends nothing: a lone API or worker cannot share an in-memory fake.
 */
export async function createChannelFromConfig(deps: ChannelFromConfigDeps): Promise<ConfiguredChannel> {
  const configured = await defaultAccountChannel(deps);
  // The accounts' own clients use the same Graph API origin (in sandbox mode, the fake's).
  const { config } = configured;
  const routed = createAccountRoutedChannel({
    config,
    db: deps.db,
    logger: deps.logger,
    fallback: configured.channel,
    credentials: lazyCredentialCipher(() => resolveCredentialKeys(config)),
    limiterFor: (account) =>
      account.provider === 'waha'
        ? createSendLimiter({ account: wahaRate(config.WAHA_MAX_MESSAGES_PER_MINUTE) })
        : createSendLimiter({ account: CLOUD_API_NUMBER_RATE, perRecipient: CLOUD_API_PAIR_RATE }),
  });
  return {
    ...configured,
    channel: routed.channel,
    close: async () => {
      await routed.close();
      await configured.close();
    },
  };
}

interface ChannelFromConfigDeps {
  config: Config;
  db: Db;
  logger: Logger;
  /** Whether the API and the worker run in this process. */
  apiAndWorker: boolean;
}

/** The default account's channel: what every message used before restaurants had their own accounts. */
async function defaultAccountChannel(deps: ChannelFromConfigDeps): Promise<ConfiguredChannel> {
  const { db, logger } = deps;
  if (deps.config.SANDBOX || (!deps.config.WHATSAPP_ACCESS_TOKEN && deps.apiAndWorker)) {
    if (!deps.apiAndWorker) throw new Error('SANDBOX needs the API and the worker in one process: run it with `npm start`');
    if (deps.config.WHATSAPP_ACCESS_TOKEN) logger.warn('SANDBOX is set: the WhatsApp credentials are ignored and nothing reaches Meta');
    const sandbox = await startSandboxSession(deps.config);
    const { config } = sandbox;
    const graph = graphClientFromConfig(config)!;
    logger.info({ apiUrl: config.WHATSAPP_API_URL }, 'sandbox mode: WhatsApp messages go to the local fake Graph API');
    return {
      channel: createWhatsAppChannel({ config, db, logger, graph }),
      config,
      sandbox,
      urls: [{ label: 'Graph API', url: `${config.WHATSAPP_API_URL} (local fake)` }],
      close: async () => {
        await graph.close();
        await sandbox.close();
      },
    };
  }
  const { config } = deps;
  const graph = graphClientFromConfig(config);
  if (graph) {
    logger.info({ apiUrl: config.WHATSAPP_API_URL, version: config.WHATSAPP_API_VERSION }, 'sending WhatsApp messages through the Cloud API');
    return { channel: createWhatsAppChannel({ config, db, logger, graph }), config, urls: [], close: () => graph.close() };
  }
  logger.warn('WHATSAPP_ACCESS_TOKEN is not set: messages are recorded as queued in whatsapp_messages, not sent');
  return {
    channel: createOutboxChannel({ db, templates: { manager: config.WHATSAPP_MANAGER_TEMPLATE, reminder: config.WHATSAPP_REMINDER_TEMPLATE } }),
    config,
    urls: [],
    close: async () => undefined,
  };
}
