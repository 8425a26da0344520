import path from 'node:path';
import type { Config } from './index';
import { generatePayloadKeys, parsePayloadKeys, type PayloadKey } from './payloadKeys';
import { readOrCreateSecretFile } from './secretFile';

/**
 * The keys that encrypt the WhatsApp accounts' credentials in the database (same format and
 * rotation as the payload keys: the first encrypts, every one decrypts). WHATSAPP_CREDENTIALS_KEYS
 * when set; in embedded mode the ones kept in `<dataDir>/whatsapp-credentials-keys`, created on
 * first use. Otherwise undefined: a deployment that never stores an account's credentials
 * needs no new variable, and one that tries is told which one to set.
 */
export function resolveCredentialKeys(
  config: Pick<Config, 'WHATSAPP_CREDENTIALS_KEYS' | 'embedded' | 'dataDir'>,
): PayloadKey[] | undefined {
  if (config.WHATSAPP_CREDENTIALS_KEYS) return config.WHATSAPP_CREDENTIALS_KEYS;
  if (!config.embedded) return undefined;
  const file = path.join(config.dataDir, 'whatsapp-credentials-keys');
  const { keys, problems } = parsePayloadKeys(readOrCreateSecretFile(file, generatePayloadKeys).content);
  if (problems.length || !keys.length) {
    throw new Error(`${file} is not valid (${problems.join('; ')}); it holds WHATSAPP_CREDENTIALS_KEYS for the embedded stack`);
  }
  return keys;
}
