import type { Config } from '../config';
import type { Db } from '../db/knex';
import type { NotificationChannel } from '../domain/notifications';
import type { Logger } from '../observability/logger';
import { createOutboxChannel, createWhatsAppChannel } from './channel';
import { graphClientFromConfig } from './graphClient';

export interface ConfiguredChannel {
  channel: NotificationChannel;
  /** Addresses worth printing at startup (none yet; the sandbox's fake Graph API will add one). */
  urls?: { label: string; url: string }[];
  close(): Promise<void>;
}

/**
 * The Cloud API channel when WHATSAPP_ACCESS_TOKEN is set (loadConfig has then checked the
 * other WHATSAPP_* settings), else the outbox channel, which records every message as
 * `queued` in whatsapp_messages and sends nothing.
 */
export async function createChannelFromConfig(deps: { config: Config; db: Db; logger: Logger }): Promise<ConfiguredChannel> {
  const { config, db, logger } = deps;
  const graph = graphClientFromConfig(config);
  if (graph) {
    logger.info({ apiUrl: config.WHATSAPP_API_URL, version: config.WHATSAPP_API_VERSION }, 'sending WhatsApp messages through the Cloud API');
    return { channel: createWhatsAppChannel({ config, db, logger, graph }), close: () => graph.close() };
  }
  logger.warn('WHATSAPP_ACCESS_TOKEN is not set: messages are recorded as queued in whatsapp_messages, not sent');
  return { channel: createOutboxChannel({ db, managerTemplate: config.WHATSAPP_MANAGER_TEMPLATE }), close: async () => undefined };
}
