import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';
import type { PayloadKey } from '../config/payloadKeys';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts every payload (workflow arguments, signals, queries, updates, activity inputs and
 * results, memo and summaries — not search attributes, which the server must read) with
 * AES-256-GCM before it leaves the process, so guests' phones and names never reach Temporal
 * in clear. The whole payload, its metadata included, is the plaintext; the result carries
 * only the key id. Runs in clients and workers, never in the workflow sandbox.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly current: PayloadKey;

  /** `keys[0]` encrypts; every key decrypts (rotation: a new key goes in front). */
  constructor(keys: PayloadKey[]) {
    if (!keys.length) throw new Error('EncryptionCodec needs at least one key');
    this.current = keys[0]!;
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, this.current.key, iv, { authTagLength: TAG_BYTES });
      const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: encode(ENCRYPTED_ENCODING),
          [METADATA_ENCRYPTION_KEY_ID]: encode(this.current.id),
        },
        data: Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      // Histories written before encryption (and the recorded test fixtures) stay readable.
      if (!encoding || decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyIdBytes = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
      if (!keyIdBytes) throw new ValueError('an encrypted payload has no encryption-key-id');
      const keyId = decode(keyIdBytes);
      const key = this.keys.get(keyId);
      if (!key) {
        throw new ValueError(
          `a payload is encrypted with key "${keyId}", which is not in TEMPORAL_PAYLOAD_KEYS (known: ${[...this.keys.keys()].join(', ')})`,
        );
      }
      const data = payload.data ?? new Uint8Array();
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`an encrypted payload (key "${keyId}") is truncated`);
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new ValueError(`an encrypted payload (key "${keyId}") failed authentication: it was altered or the key is wrong`);
      }
      return temporal.api.common.v1.Payload.decode(plaintext);
    });
  }
}

export interface PayloadEncryption {
  codec: EncryptionCodec;
  /** For every Temporal client and worker the system creates. */
  dataConverter: DataConverter;
}

/** For bundleWorkflowCode: a prebuilt workflow bundle must carry the same failure converter. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failureConverter');

export function createPayloadEncryption(keys: PayloadKey[]): PayloadEncryption {
  const codec = new EncryptionCodec(keys);
  return { codec, dataConverter: { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH } };
}
