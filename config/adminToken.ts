import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from './index';
import { readOrCreateSecretFile } from './secretFile';

/** Same floor as ADMIN_API_TOKEN in the config schema. */
const MIN_LENGTH = 16;

export interface AdminToken {
  token: string;
  /**
   * `env`: ADMIN_API_TOKEN; `file`: an existing `<dataDir>/admin-token`; `generated`: that
   * file was created just now. Only a generated token may be shown, once, to the operator.
   */
  origin: 'env' | 'file' | 'generated';
  /** The file it is kept in, unless it came from the environment. */
  file?: string;
}

/**
 * The token the admin API accepts. ADMIN_API_TOKEN when set; in embedded mode (where
 * loadConfig lets it be unset) the one kept in `<dataDir>/admin-token`, created on first
 * use, so a local stack is protected without any setup. Callers must never log it.
 */
export function resolveAdminToken(config: Pick<Config, 'ADMIN_API_TOKEN' | 'embedded' | 'dataDir'>): string {
  return obtainAdminToken(config).token;
}

/** resolveAdminToken, also saying where the token came from. */
export function obtainAdminToken(config: Pick<Config, 'ADMIN_API_TOKEN' | 'embedded' | 'dataDir'>): AdminToken {
  if (config.ADMIN_API_TOKEN) return { token: config.ADMIN_API_TOKEN, origin: 'env' };
  if (!config.embedded) {
    throw new Error('ADMIN_API_TOKEN is required when DATABASE_URL or TEMPORAL_ADDRESS is set');
  }
  const file = path.join(config.dataDir, 'admin-token');
  const { content: token, created: generated } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64url'));
  if (token.length < MIN_LENGTH) {
    throw new Error(`${file} must hold a token of at least ${MIN_LENGTH} characters; delete it to get a new one`);
  }
  return { token, origin: generated ? 'generated' : 'file', file };
}
