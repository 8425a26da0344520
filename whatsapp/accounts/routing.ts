import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import { findRestaurantAccount, getAccount, type WhatsAppAccount } from '../../db/whatsappAccounts';
import type { Notification, NotificationChannel } from '../../domain/notifications';
import type { Logger } from '../../observability/logger';
import { createWahaChannel, createWhatsAppChannel } from '../channel';
import { WhatsAppSendError } from '../errors';
import { createGraphClient } from '../graphClient';
import { createWahaClient } from '../waha/client';
import { CredentialSealError, type CredentialCipher, type CredentialField } from './credentials';
import type { SendLimiter } from '../rateLimit';

export interface RoutedChannel {
  channel: NotificationChannel;
  /** Closes every account's client. */
  close(): Promise<void>;
}

interface Built {
  /** The account row's updated_at: a changed account (a new token, another session) gets a new client. */
  version: number;
  channel: NotificationChannel;
  close(): Promise<void>;
}

/**
 * Every message through its restaurant's WhatsApp account (#12): the account the notification
 * names (a reply goes out through the account its message arrived on), else the booking's
 * restaurant's, else the default account from the environment (`fallback`, exactly as before
 * accounts existed). Each account's client is built from its credentials, opened only here,
 * and kept until the account row changes: the row is read on each send (one indexed query),
 * so an update made by another process (the admin API) is picked up on the next message.
 */
export function createAccountRoutedChannel(deps: {
  config: Pick<Config, 'WHATSAPP_API_URL' | 'WHATSAPP_API_VERSION' | 'WHATSAPP_MANAGER_TEMPLATE' | 'WHATSAPP_REMINDER_TEMPLATE'>;
  db: Db;
  logger: Logger;
  fallback: NotificationChannel;
  credentials: () => CredentialCipher;
  /** The account's rate limiter (whatsapp/rateLimit.ts); none: unlimited. */
  limiterFor?: (account: WhatsAppAccount) => SendLimiter;
}): RoutedChannel {
  const { db } = deps;
  const logger = deps.logger.child({ component: 'whatsapp-accounts' });
  const built = new Map<number, Built>();
  // Kept apart from the clients: a changed token does not give the number a fresh allowance.
  const limiters = new Map<string, SendLimiter | undefined>();
  function limiterOf(account: WhatsAppAccount): SendLimiter | undefined {
    const key = `${account.id}:${account.provider}`;
    if (!limiters.has(key)) limiters.set(key, deps.limiterFor?.(account));
    return limiters.get(key);
  }

  function open(account: WhatsAppAccount, field: CredentialField): string | undefined {
    const sealed = account.sealed[field];
    if (sealed === null) return undefined;
    try {
      return deps.credentials().open(field, sealed);
    } catch (err) {
      if (!(err instanceof CredentialSealError)) throw err;
      logger.error({ err, accountId: account.id, field }, "an account's credential cannot be opened; its messages wait until it can");
      // The operator's to fix (WHATSAPP_CREDENTIALS_KEYS): retried, so nothing is lost meanwhile.
      throw new WhatsAppSendError(undefined, `the ${field} of WhatsApp account ${account.id} cannot be opened`, {
        classification: { kind: 'retryable', reason: 'token' },
      });
    }
  }

  function build(account: WhatsAppAccount): Built {
    const common = { config: deps.config, db, logger: deps.logger, accountId: account.id, limiter: limiterOf(account) };
    const version = account.updatedAt.getTime();
    if (account.provider === 'cloud_api') {
      const graph = createGraphClient({
        apiUrl: deps.config.WHATSAPP_API_URL,
        apiVersion: deps.config.WHATSAPP_API_VERSION,
        phoneNumberId: account.phoneNumberId!,
        accessToken: open(account, 'accessToken')!,
      });
      return { version, channel: createWhatsAppChannel({ ...common, graph }), close: () => graph.close() };
    }
    const waha = createWahaClient({ baseUrl: account.baseUrl!, session: account.session!, apiKey: open(account, 'apiKey') });
    return { version, channel: createWahaChannel({ ...common, waha }), close: () => waha.close() };
  }

  function channelOf(account: WhatsAppAccount): NotificationChannel {
    const current = built.get(account.id);
    if (current?.version === account.updatedAt.getTime()) return current.channel;
    const next = build(account);
    built.set(account.id, next);
    // A send still under way on the old client finishes first: undici's close waits for it.
    if (current) void current.close().catch((err) => logger.warn({ err, accountId: account.id }, 'closing an account client failed'));
    logger.info({ accountId: account.id, provider: account.provider }, current ? 'whatsapp account changed: client rebuilt' : 'whatsapp account client built');
    return next.channel;
  }

  async function accountOf(n: Notification): Promise<WhatsAppAccount | null> {
    if (n.account === null) return null;
    if (n.account !== undefined) {
      const account = await getAccount(db, n.account);
      if (account) return account;
      // Deleted since the message arrived: no number of ours may answer in its place.
      throw new WhatsAppSendError(undefined, `WhatsApp account ${n.account} no longer exists`, {
        classification: { kind: 'permanent', reason: 'request' },
      });
    }
    const restaurantId = n.booking?.restaurant.id ?? n.bookings?.[0]?.restaurant.id;
    return (restaurantId !== undefined && (await findRestaurantAccount(db, restaurantId))) || null;
  }

  return {
    channel: {
      async send(n) {
        const account = await accountOf(n);
        return account ? channelOf(account).send(n) : deps.fallback.send(n);
      },
    },
    async close() {
      const clients = [...built.values()];
      built.clear();
      await Promise.all(clients.map((b) => b.close()));
    },
  };
}
