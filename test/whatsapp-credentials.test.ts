/** Account credentials sealed at rest, and WAHA's webhook signature and events read the way its docs give them. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { resolveCredentialKeys } from '../config/credentialKeys';
import { generatePayloadKeys, parsePayloadKeys } from '../config/payloadKeys';
import { createCredentialCipher, CredentialSealError, lazyCredentialCipher } from '../whatsapp/accounts/credentials';
import { parseWahaDelivery, signWaha, statusOfAck, verifyWahaSignature, WahaPayloadError } from '../whatsapp/waha/events';

const keys = (text = generatePayloadKeys()) => parsePayloadKeys(text).keys;

describe('credential cipher', () => {
  const secret = 'EAAG-very-secret-token-0123456789';

  test('a sealed secret opens with the same keys, and the sealed text does not contain it', () => {
    const cipher = createCredentialCipher(keys());
    const sealed = cipher.seal('accessToken', secret);
    expect(sealed).toMatch(/^v1:local-\d{8}-[0-9a-f]{6}:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain(secret);
    expect(Buffer.from(sealed.split(':')[2]!, 'base64').toString('latin1')).not.toContain(secret);
    expect(cipher.open('accessToken', sealed)).toBe(secret);
    // A fresh IV each time: equal secrets do not look equal at rest.
    expect(cipher.seal('accessToken', secret)).not.toBe(sealed);
  });

  test('another key is refused, naming key ids only', () => {
    const sealed = createCredentialCipher(keys()).seal('apiKey', secret);
    const other = createCredentialCipher(keys());
    expect(() => other.open('apiKey', sealed)).toThrow(CredentialSealError);
    expect(() => other.open('apiKey', sealed)).toThrow(/is sealed with key "local-.*", which is not in WHATSAPP_CREDENTIALS_KEYS/);
    // The same id with other key material: authentication fails instead.
    const [id] = sealed.split(':').slice(1);
    const impostor = createCredentialCipher(keys(`${id}:${Buffer.alloc(32, 7).toString('base64')}`));
    expect(() => impostor.open('apiKey', sealed)).toThrow(/failed authentication/);
    try {
      impostor.open('apiKey', sealed);
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(secret);
    }
  });

  test('a value sealed for one field does not open as another, nor once altered', () => {
    const cipher = createCredentialCipher(keys());
    const sealed = cipher.seal('webhookHmacKey', secret);
    expect(() => cipher.open('accessToken', sealed)).toThrow(/failed authentication/);
    const data = Buffer.from(sealed.split(':')[2]!, 'base64');
    data[14] ^= 1;
    const altered = `${sealed.split(':').slice(0, 2).join(':')}:${data.toString('base64')}`;
    expect(() => cipher.open('webhookHmacKey', altered)).toThrow(/failed authentication/);
    expect(() => cipher.open('webhookHmacKey', 'plain text')).toThrow(/not a sealed credential/);
  });

  test('rotation: the first key seals, every key opens', () => {
    const [oldKey] = keys();
    const [newKey] = keys();
    const sealedBefore = createCredentialCipher([oldKey!]).seal('appSecret', secret);
    const rotated = createCredentialCipher([newKey!, oldKey!]);
    expect(rotated.open('appSecret', sealedBefore)).toBe(secret);
    expect(rotated.seal('appSecret', secret).split(':')[1]).toBe(newKey!.id);
  });

  test('the keys: from WHATSAPP_CREDENTIALS_KEYS, generated into DATA_DIR for the embedded stack, none otherwise', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-credentials-'));
    try {
      const embedded = loadConfig({ DATA_DIR: dir });
      const first = resolveCredentialKeys(embedded)!;
      expect(first).toHaveLength(1);
      expect(fs.statSync(path.join(dir, 'whatsapp-credentials-keys')).mode & 0o777).toBe(0o600);
      expect(resolveCredentialKeys(embedded)).toEqual(first);

      const text = generatePayloadKeys();
      expect(resolveCredentialKeys(loadConfig({ DATA_DIR: dir, WHATSAPP_CREDENTIALS_KEYS: text }))).toEqual(keys(text));

      const external = loadConfig({ DATA_DIR: dir, DATABASE_URL: 'postgres://x@localhost/db', ADMIN_API_TOKEN: 'a'.repeat(20) });
      expect(resolveCredentialKeys(external)).toBeUndefined();
      expect(() => lazyCredentialCipher(() => resolveCredentialKeys(external))()).toThrow(/WHATSAPP_CREDENTIALS_KEYS is not set/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a malformed WHATSAPP_CREDENTIALS_KEYS is a config problem that never echoes the key', () => {
    expect(() => loadConfig({ WHATSAPP_CREDENTIALS_KEYS: 'k1:c2hvcnQ=' })).toThrow(/WHATSAPP_CREDENTIALS_KEYS: key "k1": must be 32 bytes/);
    try {
      loadConfig({ WHATSAPP_CREDENTIALS_KEYS: 'k1:c2hvcnQ=' });
    } catch (err) {
      expect((err as Error).message).not.toContain('c2hvcnQ=');
    }
  });
});

describe("WAHA's webhook signature", () => {
  test("the documentation's example: HMAC-SHA512 of the raw body, in hex", () => {
    // https://waha.devlike.pro/docs/how-to/webhooks/#hmac-authentication
    const body = '{"event":"message","session":"default","engine":"WEBJS"}';
    const expected = '208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89';
    expect(signWaha(body, 'my-secret-key')).toBe(expected);
    expect(verifyWahaSignature(body, { hmac: expected, algorithm: 'sha512' }, 'my-secret-key')).toBe(true);
    expect(verifyWahaSignature(body, { hmac: expected.toUpperCase() }, 'my-secret-key')).toBe(true);
    expect(verifyWahaSignature(`${body} `, { hmac: expected }, 'my-secret-key')).toBe(false);
    expect(verifyWahaSignature(body, { hmac: expected }, 'another-key')).toBe(false);
    expect(verifyWahaSignature(body, { hmac: expected, algorithm: 'sha256' }, 'my-secret-key')).toBe(false);
    expect(verifyWahaSignature(body, {}, 'my-secret-key')).toBe(false);
  });
});

describe("WAHA's events as the inbox's", () => {
  const envelope = (event: string, payload: unknown) => ({ event, session: 'bistro', engine: 'WEBJS', payload });

  test('message: a person writing to the session, the quoted message named as we stored it', () => {
    const d = parseWahaDelivery(
      envelope('message', {
        id: 'false_77011234567@c.us_AAAA',
        timestamp: 1667561485,
        from: '77011234567@c.us',
        fromMe: false,
        to: '15550002222@c.us',
        body: '1',
        hasMedia: false,
        replyTo: { id: 'BBBB', participant: '15550002222@c.us', body: 'New booking ...' },
        _data: { notifyName: 'Aigerim' },
      }),
    );
    expect(d).toMatchObject({
      kind: 'events',
      events: [
        {
          type: 'message',
          phoneNumberId: 'waha:bistro',
          kind: 'text',
          messageId: 'false_77011234567@c.us_AAAA',
          from: '77011234567',
          name: 'Aigerim',
          timestamp: 1667561485,
          text: '1',
          contextId: 'true_77011234567@c.us_BBBB',
        },
      ],
    });
  });

  test('our own messages, groups and media', () => {
    const base = { id: 'x', from: '77011234567@c.us', body: 'hi' };
    expect(parseWahaDelivery(envelope('message', { ...base, fromMe: true }))).toMatchObject({ events: [], skipped: 1 });
    expect(parseWahaDelivery(envelope('message', { ...base, from: '120363@g.us' }))).toMatchObject({ events: [], skipped: 1 });
    expect(parseWahaDelivery(envelope('message', { ...base, body: '', hasMedia: true }))).toMatchObject({ events: [{ kind: 'other', metaType: 'waha:media' }] });
    // Known by a linked id instead of the number: kept, as Meta's users known by a business-scoped id.
    const linked = parseWahaDelivery(envelope('message', { ...base, from: '123456789012345@lid' }));
    expect(linked).toMatchObject({ events: [{ from: undefined, fromUserId: '123456789012345@lid', text: 'hi' }] });
  });

  test('message.ack levels map to our statuses; an ERROR carries a reason for the row', () => {
    expect([-1, 0, 1, 2, 3, 4].map((ack) => statusOfAck({ ack }))).toEqual(['failed', undefined, 'sent', 'delivered', 'read', 'played']);
    expect(statusOfAck({ ack: 1, ackName: 'READ' })).toBe('read');
    const ack = (n: number, name: string) => parseWahaDelivery({ ...envelope('message.ack', { id: 'true_77011234567@c.us_CCCC', to: '77011234567@c.us', fromMe: true, ack: n, ackName: name }), timestamp: 1_700_000_000_123 });
    expect(ack(2, 'DEVICE')).toMatchObject({ events: [{ type: 'status', messageId: 'true_77011234567@c.us_CCCC', status: 'delivered', timestamp: 1_700_000_000, recipientId: '77011234567' }] });
    expect(ack(-1, 'ERROR')).toMatchObject({ events: [{ status: 'failed', raw: { errors: [{ title: expect.stringMatching(/ack ERROR/) }] } }] });
    expect(ack(0, 'PENDING')).toMatchObject({ events: [], skipped: 0 });
  });

  test('session.status, other events, and what is not a WAHA event', () => {
    expect(parseWahaDelivery({ ...envelope('session.status', { status: 'SCAN_QR_CODE' }), timestamp: 1_700_000_000_000 })).toEqual({
      kind: 'sessionStatus',
      session: 'bistro',
      status: 'SCAN_QR_CODE',
      at: new Date(1_700_000_000_000),
    });
    expect(parseWahaDelivery(envelope('presence.update', {}))).toEqual({ kind: 'ignored', session: 'bistro', event: 'presence.update' });
    expect(() => parseWahaDelivery({ event: 'message' })).toThrow(WahaPayloadError);
    expect(() => parseWahaDelivery(envelope('session.status', {}))).toThrow(WahaPayloadError);
  });
});
