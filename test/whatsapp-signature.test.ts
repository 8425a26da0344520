import { constantTimeEqual, sign, verifySignature } from '../whatsapp/signature';

// The test vector from shared/reference/whatsapp-cloud-api.md.
const SECRET = 'test_app_secret';
const BODY = '{"object":"whatsapp_business_account","entry":[]}';
const EXPECTED = 'sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756';

describe('X-Hub-Signature-256', () => {
  it('matches the reference test vector', () => {
    expect(sign(BODY, SECRET)).toBe(EXPECTED);
    expect(sign(Buffer.from(BODY), SECRET)).toBe(EXPECTED);
    expect(verifySignature(Buffer.from(BODY), EXPECTED, SECRET)).toBe(true);
  });

  it('accepts upper-case hex and surrounding spaces', () => {
    expect(verifySignature(BODY, ` sha256=${EXPECTED.slice(7).toUpperCase()} `, SECRET)).toBe(true);
  });

  it('refuses a missing, truncated or wrong signature, a wrong secret and changed bytes', () => {
    expect(verifySignature(BODY, undefined, SECRET)).toBe(false);
    expect(verifySignature(BODY, '', SECRET)).toBe(false);
    expect(verifySignature(BODY, EXPECTED.slice(0, -2), SECRET)).toBe(false);
    expect(verifySignature(BODY, EXPECTED.replace('sha256=', 'sha1='), SECRET)).toBe(false);
    expect(verifySignature(BODY, EXPECTED, 'other_secret')).toBe(false);
    // Same JSON, different bytes: the signature is over the raw body, not its meaning.
    expect(verifySignature('{"object": "whatsapp_business_account", "entry": []}', EXPECTED, SECRET)).toBe(false);
  });

  it('compares secrets of any length', () => {
    expect(constantTimeEqual('token', 'token')).toBe(true);
    expect(constantTimeEqual('token', 'token2')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});
