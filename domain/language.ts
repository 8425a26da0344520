import { LANGUAGES, type Language } from './booking';
import { languageFromPhone } from './phone';

export function asLanguage(code: string | null | undefined): Language | undefined {
  const short = code?.trim().toLowerCase().slice(0, 2);
  return (LANGUAGES as readonly string[]).includes(short ?? '') ? (short as Language) : undefined;
}

/**
 * A guest is addressed in the booking's language, else the language stored for them,
 * else the one their phone's country suggests, else the configured default.
 */
export function guestLanguage(opts: {
  bookingLanguage?: string | null;
  clientLanguage?: string | null;
  phone?: string | null;
  fallback: Language;
}): Language {
  return (
    asLanguage(opts.bookingLanguage) ??
    asLanguage(opts.clientLanguage) ??
    (opts.phone ? languageFromPhone(opts.phone) : undefined) ??
    opts.fallback
  );
}
