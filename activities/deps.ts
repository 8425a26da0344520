import type { Config } from '../config';
import type { Db } from '../db/knex';
import type { NotificationChannel } from '../domain/notifications';
import type { Logger } from '../observability/logger';

export interface ActivityDeps {
  config: Config;
  db: Db;
  channel: NotificationChannel;
  logger: Logger;
}
