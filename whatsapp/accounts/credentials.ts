import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayloadKey } from '../../config/payloadKeys';

/** The secrets an account may hold; each is sealed on its own, bound to its field. */
export const CREDENTIAL_FIELDS = ['accessToken', 'appSecret', 'apiKey', 'webhookHmacKey'] as const;
export type CredentialField = (typeof CREDENTIAL_FIELDS)[number];

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

/** A sealed value that cannot be opened: wrong or missing key, or an altered value. Never carries the secret. */
export class CredentialSealError extends Error {
  override readonly name = 'CredentialSealError';
}

export interface CredentialCipher {
  /** `v1:<key id>:<base64 of iv, ciphertext and tag>`, the key id telling which key opens it again. */
  seal(field: CredentialField, secret: string): string;
  /** Throws CredentialSealError for a value sealed with a key not configured, for another field, or altered. */
  open(field: CredentialField, sealed: string): string;
}

/**
 * AES-256-GCM with a fresh IV per value, as temporal/codec.ts does for workflow payloads.
 * The field name is the additional authenticated data, so a sealed API key copied into the
 * access-token column does not open. `keys[0]` seals; every key opens (rotation).
 */
export function createCredentialCipher(keys: PayloadKey[]): CredentialCipher {
  if (!keys.length) throw new Error('a credential cipher needs at least one key');
  const current = keys[0]!;
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const aad = (field: CredentialField) => Buffer.from(`whatsapp_accounts.${field}`);

  return {
    seal(field, secret) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, current.key, iv, { authTagLength: TAG_BYTES }).setAAD(aad(field));
      const data = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${FORMAT}:${current.id}:${data.toString('base64')}`;
    },
    open(field, sealed) {
      const [format, keyId, encoded, ...rest] = sealed.split(':');
      if (format !== FORMAT || !keyId || encoded === undefined || rest.length) throw new CredentialSealError(`the ${field} is not a sealed credential`);
      const key = byId.get(keyId);
      if (!key) {
        throw new CredentialSealError(`the ${field} is sealed with key "${keyId}", which is not in WHATSAPP_CREDENTIALS_KEYS (known: ${[...byId.keys()].join(', ')})`);
      }
      const data = Buffer.from(encoded, 'base64');
      if (data.length < IV_BYTES + TAG_BYTES) throw new CredentialSealError(`the sealed ${field} (key "${keyId}") is truncated`);
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES }).setAAD(aad(field));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new CredentialSealError(`the sealed ${field} (key "${keyId}") failed authentication: it was altered, or the key is wrong`);
      }
    },
  };
}

/**
 * The cipher of a process, made on first use: a process that never touches an account's
 * credentials never needs the keys (nor creates the embedded stack's key file). Throws
 * CredentialSealError when no keys are configured, naming the variable to set.
 */
export function lazyCredentialCipher(resolveKeys: () => PayloadKey[] | undefined): () => CredentialCipher {
  let cipher: CredentialCipher | undefined;
  return () => {
    if (cipher) return cipher;
    const keys = resolveKeys();
    if (!keys?.length) {
      throw new CredentialSealError('WHATSAPP_CREDENTIALS_KEYS is not set, so WhatsApp account credentials cannot be sealed or opened');
    }
    return (cipher = createCredentialCipher(keys));
  };
}
