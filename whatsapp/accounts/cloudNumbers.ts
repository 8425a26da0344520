import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import { findAccountByPhoneNumberId } from '../../db/whatsappAccounts';
import type { CredentialCipher } from './credentials';

/** Whose a Cloud API business number is: an account of ours (null: the default one) and the app secret that signs its deliveries. */
export interface CloudNumber {
  accountId: number | null;
  /** undefined: no secret to check a signature with, so no delivery for it is believed. */
  appSecret: string | undefined;
}

// Deliveries come in bursts for the same few numbers: the webhook asks the database once per
// number per few seconds, and an account created or changed is routed within as long.
const TTL_MS = 5_000;

/**
 * The Cloud API numbers the webhook routes by `metadata.phone_number_id`: the default account
 * (WHATSAPP_PHONE_NUMBER_ID, signed with WHATSAPP_APP_SECRET, exactly as before accounts), and
 * every cloud_api account (signed with its own app secret, else WHATSAPP_APP_SECRET: numbers
 * of one Meta app share its secret). Without WHATSAPP_PHONE_NUMBER_ID, a number that is no
 * account's is the default's, as every number was before. undefined: none of ours (foreign).
 */
export function cloudNumbers(deps: {
  config: Pick<Config, 'WHATSAPP_PHONE_NUMBER_ID' | 'WHATSAPP_APP_SECRET'>;
  db: Db;
  credentials: () => CredentialCipher;
}): (phoneNumberId: string | undefined) => Promise<CloudNumber | undefined> {
  const { config } = deps;
  const defaultNumber: CloudNumber = { accountId: null, appSecret: config.WHATSAPP_APP_SECRET };
  const cache = new Map<string, { at: number; number: CloudNumber | undefined }>();

  async function lookUp(phoneNumberId: string): Promise<CloudNumber | undefined> {
    const account = await findAccountByPhoneNumberId(deps.db, phoneNumberId);
    if (account) {
      const sealed = account.sealed.appSecret;
      return { accountId: account.id, appSecret: sealed ? deps.credentials().open('appSecret', sealed) : config.WHATSAPP_APP_SECRET };
    }
    return config.WHATSAPP_PHONE_NUMBER_ID === undefined ? defaultNumber : undefined;
  }

  return async (phoneNumberId) => {
    if (phoneNumberId === undefined || phoneNumberId === config.WHATSAPP_PHONE_NUMBER_ID) return defaultNumber;
    const cached = cache.get(phoneNumberId);
    if (cached && Date.now() - cached.at < TTL_MS) return cached.number;
    const number = await lookUp(phoneNumberId);
    // Bounded by the numbers Meta delivers for: this app's, a handful. A flood of forged ids
    // would fail the signature anyway, but is not kept past the bound.
    if (cache.size >= 1000) cache.clear();
    cache.set(phoneNumberId, { at: Date.now(), number });
    return number;
  };
}
