import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Language } from './booking';

/** E.164 (`+77011234567`) for a number a person typed, or undefined when it is not a valid number. */
export function normalizePhone(input: string, defaultCountry?: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(input.trim(), defaultCountry);
  return parsed?.isValid() ? parsed.number : undefined;
}

/** WhatsApp's `from`/`wa_id` are digits without `+`. */
export function phoneFromWaId(waId: string): string {
  return `+${waId.replace(/\D/g, '')}`;
}

export function phoneDigits(e164: string): string {
  return e164.replace(/\D/g, '');
}

/** Logs keep the country code and the last two digits only: `+7*******67`. */
export function maskPhone(phone: string | undefined | null): string {
  if (!phone) return '';
  const digits = phoneDigits(phone);
  if (digits.length <= 4) return '*'.repeat(digits.length);
  const cc = parsePhoneNumberFromString(`+${digits}`)?.countryCallingCode ?? digits.slice(0, 1);
  return `+${cc}${'*'.repeat(Math.max(digits.length - cc.length - 2, 1))}${digits.slice(-2)}`;
}

const LANGUAGE_BY_CALLING_CODE: Record<string, Language> = {
  '7': 'ru', // Russia and Kazakhstan share +7; Russian is understood in both
  '375': 'ru',
  '996': 'ru',
  '1': 'en',
  '44': 'en',
  '61': 'en',
  '353': 'en',
};

/** A guest's language guessed from the phone's country code, when nothing better is known. */
export function languageFromPhone(phone: string): Language | undefined {
  const cc = parsePhoneNumberFromString(phone)?.countryCallingCode;
  return cc ? LANGUAGE_BY_CALLING_CODE[cc] : undefined;
}
