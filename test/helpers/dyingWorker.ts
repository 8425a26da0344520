import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import type { Notification } from '../../domain/notifications';
import type { Logger } from '../../observability/logger';
import { createWhatsAppChannel } from '../../whatsapp/channel';
import type { GraphClient } from '../../whatsapp/graphClient';

/**
 * A worker SIGKILLed right after Meta accepted its message (issue #8): the real request goes
 * out, the channel never hears back, so the row stays `sending` without a wamid. Resolves with
 * the wamid Meta assigned.
 */
export function sendAndDie(
  deps: { config: Pick<Config, 'WHATSAPP_MANAGER_TEMPLATE' | 'WHATSAPP_REMINDER_TEMPLATE'>; db: Db; logger: Logger; graph: GraphClient },
  n: Notification,
): Promise<string> {
  return new Promise((accepted) => {
    const dying: GraphClient = {
      async send(message) {
        accepted((await deps.graph.send(message)).messageId);
        return new Promise(() => undefined);
      },
      close: async () => undefined,
    };
    void createWhatsAppChannel({ ...deps, graph: dying }).send(n);
  });
}
