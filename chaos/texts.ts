import en from '../locales/en.json';

/** The English "no booking for this code" answer; the chaos guests have +44 numbers, so English. */
export const claimInvalidText = (): string => String((en as Record<string, unknown>).claimInvalid);
