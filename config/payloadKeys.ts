import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from './index';
import { readOrCreateSecretFile } from './secretFile';

/** One AES-256 key of TEMPORAL_PAYLOAD_KEYS. The id travels with every payload it encrypts. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

export const PAYLOAD_KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parses `id1:base64key,id2:base64key`: the first key encrypts, every key decrypts, so a
 * rotation puts a new key in front and drops the old one once nothing needs it. Returns the
 * problems instead of throwing, for the config schema to report them with the others; they
 * name key ids and positions only, never key material.
 */
export function parsePayloadKeys(text: string): { keys: PayloadKey[]; problems: string[] } {
  const keys: PayloadKey[] = [];
  const problems: string[] = [];
  text
    .split(',')
    .map((entry) => entry.trim())
    .forEach((entry, index) => {
      const at = `entry ${index + 1}`;
      const colon = entry.indexOf(':');
      const id = colon < 0 ? '' : entry.slice(0, colon).trim();
      const encoded = colon < 0 ? '' : entry.slice(colon + 1).trim();
      if (!KEY_ID.test(id)) {
        problems.push(`${at}: expected <id>:<base64 key>, the id made of letters, digits, ".", "_" or "-"`);
        return;
      }
      const key = BASE64.test(encoded) ? Buffer.from(encoded, encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64') : undefined;
      if (!key || key.length !== PAYLOAD_KEY_BYTES) {
        problems.push(`key "${id}": must be ${PAYLOAD_KEY_BYTES} bytes in base64 (openssl rand -base64 32)`);
        return;
      }
      if (keys.some((k) => k.id === id)) {
        problems.push(`key "${id}": the id is used twice`);
        return;
      }
      keys.push({ id, key });
    });
  return { keys, problems };
}

export function formatPayloadKeys(keys: PayloadKey[]): string {
  return keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
}

/** A fresh key in TEMPORAL_PAYLOAD_KEYS format, with an id that says when it was made. */
export function generatePayloadKeys(now = new Date()): string {
  const id = `local-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  return formatPayloadKeys([{ id, key: randomBytes(PAYLOAD_KEY_BYTES) }]);
}

/**
 * The keys that encrypt Temporal payloads. TEMPORAL_PAYLOAD_KEYS when set; in embedded mode
 * the ones kept in `<dataDir>/payload-keys` (created on first use, same format), so workflow
 * histories of a local stack stay readable across restarts. A production process has no
 * such fallback: keys must be shared by every API and worker, so a missing variable stops it.
 */
export function resolvePayloadKeys(config: Pick<Config, 'TEMPORAL_PAYLOAD_KEYS' | 'embedded' | 'dataDir'>): PayloadKey[] {
  if (config.TEMPORAL_PAYLOAD_KEYS) return config.TEMPORAL_PAYLOAD_KEYS;
  if (!config.embedded) {
    throw new Error(
      'TEMPORAL_PAYLOAD_KEYS is required when DATABASE_URL or TEMPORAL_ADDRESS is set: every API and worker must share ' +
        'the keys that encrypt workflow data (see .env.example for the format)',
    );
  }
  const file = path.join(config.dataDir, 'payload-keys');
  const { keys, problems } = parsePayloadKeys(readOrCreateSecretFile(file, generatePayloadKeys).content);
  if (problems.length || !keys.length) {
    throw new Error(`${file} is not valid (${problems.join('; ')}); it holds TEMPORAL_PAYLOAD_KEYS for the embedded stack`);
  }
  return keys;
}
