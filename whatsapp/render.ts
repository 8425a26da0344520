import i18next from 'i18next';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { actionId, type BookingAction } from '../domain/actions';
import type { Language } from '../domain/booking';
import type { BookingDetails, Notification, NotificationPurpose } from '../domain/notifications';
import { phoneDigits } from '../domain/phone';
import en from '../locales/en.json';
import kk from '../locales/kk.json';
import ru from '../locales/ru.json';
import {
  buttonsMessage,
  ctaUrlMessage,
  shorten,
  templateMessage,
  textMessage,
  type OutboundMessage,
  type TemplateMessage,
} from './messages';

export const LOCALES = { en, ru, kk } as const satisfies Record<Language, unknown>;

// One synchronous instance for the process: resources are bundled, nothing loads at run time.
const i18n = i18next.createInstance();
void i18n.init({
  resources: { en: { translation: en }, ru: { translation: ru }, kk: { translation: kk } },
  fallbackLng: 'en',
  initAsync: false,
  interpolation: { escapeValue: false },
  // Our logs are JSON lines; a console banner would break them.
  showSupportNotice: false,
});

function translate(language: Language, key: string, vars: Record<string, unknown> = {}): string {
  return i18n.t(key, { ...vars, lng: language });
}

/** Purposes sent to managers with Approve / Reject / Contact guest, and with the template outside the 24-hour window. */
export const MANAGER_DECISION_PURPOSES: ReadonlySet<NotificationPurpose> = new Set(['managerRequest', 'managerReminder', 'escalation']);

const DECISION_BUTTONS: { action: BookingAction; key: string }[] = [
  { action: 'approve', key: 'buttons.approve' },
  { action: 'reject', key: 'buttons.reject' },
  { action: 'contact', key: 'buttons.contact' },
];

/** The booking's date and time in the restaurant's timezone, written the way the language writes them. */
export function formatWhen(startsAt: string, timeZone: string, language: Language): { date: string; time: string } {
  const at = new Date(startsAt);
  const format = (o: Intl.DateTimeFormatOptions) => {
    try {
      return new Intl.DateTimeFormat(language, { ...o, timeZone }).format(at);
    } catch {
      // An unknown zone must not stop a message; UTC is labelled so nobody mistakes it.
      return `${new Intl.DateTimeFormat(language, { ...o, timeZone: 'UTC' }).format(at)}${o.hour ? ' UTC' : ''}`;
    }
  };
  return {
    date: format({ weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }),
    time: format({ hour: '2-digit', minute: '2-digit' }),
  };
}

function displayPhone(phone: string): string {
  return parsePhoneNumberFromString(phone)?.formatInternational() ?? phone;
}

function tableLabel(b: BookingDetails): string {
  return b.table.features.length ? `${b.table.name} (${b.table.features.join(', ')})` : b.table.name;
}

function preorderItems(b: BookingDetails): string[] {
  return b.items.map((i) => `${i.quantity} × ${i.name}${i.notes ? ` (${i.notes})` : ''}`);
}

// Special requests are free text from the website; a long one must not push the preorder out of the body.
const SPECIAL_REQUESTS_MAX = 300;

type DetailLine = 'restaurant' | 'table' | 'date' | 'time' | 'party' | 'guest' | 'phone' | 'requests' | 'preorder';

function detailLines(language: Language, b: BookingDetails, which: DetailLine[]): string {
  const t = (key: string, vars?: Record<string, unknown>) => translate(language, `details.${key}`, vars);
  const when = formatWhen(b.startsAt, b.restaurant.timezone, language);
  const line: Record<DetailLine, () => string | undefined> = {
    restaurant: () => t('restaurant', { value: b.restaurant.name }),
    table: () => t('table', { value: tableLabel(b) }),
    date: () => t('date', { value: when.date }),
    time: () => t('time', { value: when.time }),
    party: () => t('party', { count: b.partySize }),
    guest: () => t('guest', { value: b.guest?.name || t('noName') }),
    phone: () => t('phone', { value: b.guest?.phone ? displayPhone(b.guest.phone) : t('noPhone') }),
    requests: () => (b.specialRequests?.trim() ? t('requests', { value: shorten(b.specialRequests, SPECIAL_REQUESTS_MAX) }) : undefined),
    preorder: () => (b.items.length ? [t('preorder'), ...preorderItems(b).map((i) => `• ${i}`)].join('\n') : undefined),
  };
  return which
    .map((w) => line[w]())
    .filter(Boolean)
    .join('\n');
}

const MANAGER_DETAILS: DetailLine[] = ['restaurant', 'table', 'date', 'time', 'party', 'guest', 'phone', 'requests', 'preorder'];
const GUEST_DETAILS: DetailLine[] = ['restaurant', 'table', 'date', 'time', 'party', 'preorder'];

function requireBooking(n: Notification): BookingDetails {
  if (!n.booking) throw new Error(`a ${n.purpose} message needs the booking`);
  return n.booking;
}

const paragraphs = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('\n\n');

type TextPurpose = Exclude<NotificationPurpose, 'managerRequest' | 'managerReminder' | 'escalation' | 'contactGuest'>;

/** Every text purpose has a renderer; the Record makes a new purpose a compile error until it has one. */
const TEXTS: Record<TextPurpose, (n: Notification, t: (key: string, vars?: Record<string, unknown>) => string) => string> = {
  managerExpired: (n, t) => bookingSentence(n, t, 'managerExpired'),
  managerCancelled: (n, t) => paragraphs(bookingSentence(n, t, 'managerCancelled'), reasonLine(n, t)),
  decisionAck: (n, t) => t('decisionAck', { id: requireBooking(n).id, decision: decisionWord(n, t) }),
  alreadyDecided: (n, t) =>
    t(n.facts?.decidedBy ? 'alreadyDecidedBy' : 'alreadyDecided', {
      id: requireBooking(n).id,
      decision: decisionWord(n, t),
      decidedBy: n.facts?.decidedBy,
    }),
  guestWaiting: (n, t) =>
    paragraphs(t('guestWaiting', { restaurant: requireBooking(n).restaurant.name }), detailLines(n.recipient.language, requireBooking(n), GUEST_DETAILS)),
  guestApproved: (n, t) => paragraphs(t('guestApproved.intro'), detailLines(n.recipient.language, requireBooking(n), GUEST_DETAILS), t('guestApproved.outro')),
  guestRejected: (n, t) => paragraphs(bookingSentence(n, t, 'guestRejected'), reasonLine(n, t)),
  guestExpired: (n, t) => bookingSentence(n, t, 'guestExpired'),
  guestCancelled: (n, t) => paragraphs(bookingSentence(n, t, 'guestCancelled'), reasonLine(n, t)),
  claimRefused: (_n, t) => t('claimRefused'),
  claimInvalid: (_n, t) => t('claimInvalid'),
  guestHelp: (_n, t) => t('guestHelp'),
  guestStatus: (n, t) =>
    n.booking
      ? paragraphs(
          t('guestStatus.booking', { id: n.booking.id, status: t(`status.${n.booking.status}`) }),
          detailLines(n.recipient.language, n.booking, GUEST_DETAILS),
        )
      : t('guestStatus.none'),
  notAuthorized: (_n, t) => t('notAuthorized'),
  slowDown: (_n, t) => t('slowDown'),
};

function bookingSentence(n: Notification, t: (key: string, vars?: Record<string, unknown>) => string, key: string): string {
  const b = requireBooking(n);
  return t(key, { id: b.id, restaurant: b.restaurant.name, ...formatWhen(b.startsAt, b.restaurant.timezone, n.recipient.language) });
}

function reasonLine(n: Notification, t: (key: string, vars?: Record<string, unknown>) => string): string | undefined {
  return n.facts?.reason?.trim() ? t('reason', { reason: n.facts.reason.trim() }) : undefined;
}

function decisionWord(n: Notification, t: (key: string, vars?: Record<string, unknown>) => string): string {
  return t(`status.${n.facts?.decision ?? requireBooking(n).status}`);
}

/** The free-form message for a notification, in the recipient's language, within Meta's limits. */
export function renderNotification(n: Notification): OutboundMessage {
  const language = n.recipient.language;
  const t = (key: string, vars?: Record<string, unknown>) => translate(language, key, vars);
  const opts = { replyTo: n.replyTo };
  const to = n.recipient.phone;

  if (n.purpose === 'managerRequest' || n.purpose === 'managerReminder' || n.purpose === 'escalation') {
    const b = requireBooking(n);
    const intro = n.purpose === 'managerRequest' ? undefined : t(`${n.purpose}.intro`);
    return buttonsMessage(
      to,
      {
        header: t(`${n.purpose}.header`, { id: b.id }),
        body: paragraphs(intro, detailLines(language, b, MANAGER_DETAILS)),
        footer: t(`${n.purpose}.footer`),
        buttons: DECISION_BUTTONS.map((d) => ({ id: actionId(d.action, b.id), title: t(d.key) })),
      },
      opts,
    );
  }
  if (n.purpose === 'contactGuest') {
    const b = requireBooking(n);
    const phone = b.guest?.phone;
    if (!phone) return textMessage(to, t('contactGuest.noPhone', { id: b.id }), opts);
    return ctaUrlMessage(
      to,
      {
        body: t('contactGuest.body', { id: b.id, name: b.guest?.name || t('details.noName'), phone: displayPhone(phone) }),
        displayText: t('buttons.openChat'),
        url: `https://wa.me/${phoneDigits(phone)}`,
      },
      opts,
    );
  }
  return textMessage(to, TEXTS[n.purpose](n, t), opts);
}

/**
 * Body parameters of the manager template ({{1}}, {{2}}, ... in this order). The template
 * approved in WhatsApp Manager for every language must use exactly these ten, and three
 * quick-reply buttons in the order Approve, Reject, Contact guest.
 */
export const MANAGER_TEMPLATE_PARAMETERS = [
  'bookingId',
  'restaurant',
  'date',
  'time',
  'table',
  'partySize',
  'guestName',
  'guestPhone',
  'specialRequests',
  'preorder',
] as const;

/** The approved template that replaces a manager's interactive message outside the 24-hour window. */
export function renderManagerTemplate(n: Notification, templateName: string): TemplateMessage {
  const b = requireBooking(n);
  const language = n.recipient.language;
  const t = (key: string) => translate(language, `details.${key}`);
  const when = formatWhen(b.startsAt, b.restaurant.timezone, language);
  const values: Record<(typeof MANAGER_TEMPLATE_PARAMETERS)[number], string> = {
    bookingId: `#${b.id}`,
    restaurant: b.restaurant.name,
    date: when.date,
    time: when.time,
    table: tableLabel(b),
    partySize: String(b.partySize),
    guestName: b.guest?.name || t('noName'),
    guestPhone: b.guest?.phone ? displayPhone(b.guest.phone) : t('noPhone'),
    specialRequests: b.specialRequests?.trim() || t('none'),
    preorder: b.items.length ? preorderItems(b).join('; ') : t('none'),
  };
  return templateMessage(
    n.recipient.phone,
    {
      name: templateName,
      language,
      bodyParameters: MANAGER_TEMPLATE_PARAMETERS.map((p) => values[p]),
      quickReplyPayloads: DECISION_BUTTONS.map((d) => actionId(d.action, b.id)),
    },
    { replyTo: n.replyTo },
  );
}
