import { languageFromPhone, maskPhone, normalizePhone, phoneFromWaId } from '../domain/phone';

describe('normalizePhone', () => {
  test.each([
    ['+77010000001', '+77010000001'],
    ['+7 701 000 00 01', '+77010000001'],
    ['+7 (701) 000-00-01', '+77010000001'],
    ['  +1 202-555-0101 ', '+12025550101'],
    ['+44 20 7946 0958', '+442079460958'],
  ])('%j → %s', (input, e164) => {
    expect(normalizePhone(input)).toBe(e164);
  });

  test('a national number needs the default country', () => {
    expect(normalizePhone('8 701 000 00 01')).toBeUndefined();
    expect(normalizePhone('8 701 000 00 01', 'KZ')).toBe('+77010000001');
    expect(normalizePhone('(202) 555-0101', 'US')).toBe('+12025550101');
  });

  test.each(['', 'not a phone', '12345', '+7 000', '+999 1234567', '+7701000000123456'])('%j is invalid', (input) => {
    expect(normalizePhone(input)).toBeUndefined();
  });
});

describe('maskPhone', () => {
  test('keeps the country code and the last two digits', () => {
    expect(maskPhone('+77010000001')).toBe('+7********01');
    expect(maskPhone('+442079460958')).toBe('+44********58');
    expect(maskPhone('77010000001')).toBe('+7********01');
  });

  test('short or missing numbers reveal nothing', () => {
    expect(maskPhone('1234')).toBe('****');
    expect(maskPhone('')).toBe('');
    expect(maskPhone(null)).toBe('');
    expect(maskPhone(undefined)).toBe('');
  });
});

describe('languageFromPhone', () => {
  test.each([
    ['+77010000001', 'ru'], // Kazakhstan shares +7 with Russia
    ['+79161234567', 'ru'],
    ['+12025550101', 'en'],
    ['+442079460958', 'en'],
    ['+4915112345678', undefined],
    ['garbage', undefined],
  ])('%s → %s', (phone, language) => {
    expect(languageFromPhone(phone)).toBe(language);
  });
});

describe('phoneFromWaId', () => {
  test('WhatsApp ids are digits without the plus', () => {
    expect(phoneFromWaId('77010000001')).toBe('+77010000001');
    expect(phoneFromWaId('+7 701 000-00-01')).toBe('+77010000001');
  });
});
