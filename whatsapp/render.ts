import i18next from 'i18next';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { actionId, parseActionId, REJECT_REASON_CODES, rejectReasonId, type BookingAction } from '../domain/actions';
import type { Language } from '../domain/booking';
import type { BookingDetails, Notification, NotificationPurpose } from '../domain/notifications';
import { phoneDigits } from '../domain/phone';
import en from '../locales/en.json';
import kk from '../locales/kk.json';
import ru from '../locales/ru.json';
import {
  buttonsMessage,
  ctaUrlMessage,
  listMessage,
  shorten,
  templateMessage,
  textMessage,
  LIMITS,
  type OutboundMessage,
  type TemplateMessage,
} from './messages';
import { numberedChoices } from './waha/numbered';

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

/** The buttons of each purpose that has some; titles are `buttons.<action>` in the recipient's language. */
const BUTTONS = {
  decision: ['approve', 'reject', 'contact'],
  reminder: ['confirmVisit', 'cancelBooking'],
  cancelQuestion: ['cancelYes', 'cancelNo'],
  arrival: ['arrived', 'noShow'],
} as const satisfies Record<string, readonly BookingAction[]>;

const buttonsFor = (actions: readonly BookingAction[], bookingId: number, t: Translate) =>
  actions.map((action) => ({ id: actionId(action, bookingId), title: t(`buttons.${action}`) }));

type Translate = (key: string, vars?: Record<string, unknown>) => string;

const DATE: Intl.DateTimeFormatOptions = { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' };
const TIME: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };
const SHORT: Intl.DateTimeFormatOptions = { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };

/**
 * Constructing an Intl.DateTimeFormat costs far more than formatting with one (it loads the
 * locale's data): every message shows a date, so formatters are kept per language, zone and
 * style. Languages and restaurants' zones are few; the bound only guards against surprises.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 500;

function formatterFor(language: Language, timeZone: string, style: 'date' | 'time' | 'short'): Intl.DateTimeFormat {
  const key = `${language}|${timeZone}|${style}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    // Throws for an unknown zone, before anything is kept.
    formatter = new Intl.DateTimeFormat(language, { ...{ date: DATE, time: TIME, short: SHORT }[style], timeZone });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(key, formatter);
  }
  return formatter;
}

/** In the zone, or, for a zone this runtime does not know, in UTC labelled so nobody mistakes it: a message must not stop. */
function inZone(at: Date, timeZone: string, language: Language, style: 'date' | 'time' | 'short'): string {
  try {
    return formatterFor(language, timeZone, style).format(at);
  } catch {
    return `${formatterFor(language, 'UTC', style).format(at)}${style === 'date' ? '' : ' UTC'}`;
  }
}

/** The booking's date and time in the restaurant's timezone, written the way the language writes them. */
export function formatWhen(startsAt: string, timeZone: string, language: Language): { date: string; time: string } {
  const at = new Date(startsAt);
  return { date: inZone(at, timeZone, language, 'date'), time: inZone(at, timeZone, language, 'time') };
}

/** A short date and time for a list row's title ("12 Jan, 19:30" in the language's own order). */
export function formatShortWhen(startsAt: string, timeZone: string, language: Language): string {
  return inZone(new Date(startsAt), timeZone, language, 'short');
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

type DetailLine = 'restaurant' | 'table' | 'date' | 'time' | 'party' | 'guest' | 'phone' | 'record' | 'requests' | 'preorder';

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
    record: () => (b.guestRecord ? t('record', { value: guestRecord(language, b.guestRecord) }) : undefined),
    requests: () => (b.specialRequests?.trim() ? t('requests', { value: shorten(b.specialRequests, SPECIAL_REQUESTS_MAX) }) : undefined),
    preorder: () => (b.items.length ? [t('preorder'), ...preorderItems(b).map((i) => `• ${i}`)].join('\n') : undefined),
  };
  return which
    .map((w) => line[w]())
    .filter(Boolean)
    .join('\n');
}

/** "4 visits, 1 no-show, 1 cancellation"; a first-time guest says so instead of "0 visits". */
function guestRecord(language: Language, r: NonNullable<BookingDetails['guestRecord']>): string {
  const t = (key: string, count: number) => translate(language, `guestRecord.${key}`, { count });
  if (!r.visits && !r.noShows && !r.cancellations) return translate(language, 'guestRecord.first');
  return [t('visits', r.visits), t('noShows', r.noShows), t('cancellations', r.cancellations)].join(', ');
}

const MANAGER_DETAILS: DetailLine[] = ['restaurant', 'table', 'date', 'time', 'party', 'guest', 'phone', 'record', 'requests', 'preorder'];
const ARRIVAL_DETAILS: DetailLine[] = ['table', 'time', 'party', 'guest', 'phone'];
const GUEST_DETAILS: DetailLine[] = ['restaurant', 'table', 'date', 'time', 'party', 'preorder'];

function requireBooking(n: Notification): BookingDetails {
  if (!n.booking) throw new Error(`a ${n.purpose} message needs the booking`);
  return n.booking;
}

const paragraphs = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('\n\n');

/** Purposes whose message is more than text: buttons, a list or a link. */
type InteractivePurpose =
  | 'managerRequest'
  | 'managerReminder'
  | 'escalation'
  | 'contactGuest'
  | 'guestCancelQuestion'
  | 'guestCancelChoose'
  | 'guestReminder'
  | 'rejectReasonRequest'
  | 'arrivalCheck';
type TextPurpose = Exclude<NotificationPurpose, InteractivePurpose>;

/** Every text purpose has a renderer; the Record makes a new purpose a compile error until it has one. */
const TEXTS: Record<TextPurpose, (n: Notification, t: Translate) => string> = {
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
  guestStatus: (n, t) => {
    // One booking asked about (a tap on a booking that has moved on), or the list of upcoming ones (/status).
    if (!n.bookings && n.booking) {
      return paragraphs(t('guestStatus.one', { id: n.booking.id, status: t(`status.${n.booking.status}`) }), detailLines(n.recipient.language, n.booking, STATUS_DETAILS));
    }
    const bookings = n.bookings ?? [];
    if (!bookings.length) return t('guestStatus.none');
    return paragraphs(
      t('guestStatus.intro', { count: bookings.length }),
      ...bookings.map((b) =>
        [t('guestStatus.booking', { id: b.id, status: t(`status.${b.status}`) }), detailLines(n.recipient.language, b, STATUS_DETAILS)].join('\n'),
      ),
      t('guestStatus.outro'),
    );
  },
  guestCancelKept: (n, t) => bookingSentence(n, t, 'guestCancelKept'),
  guestConfirmedAck: (n, t) => bookingSentence(n, t, 'guestConfirmedAck'),
  managerGuestConfirmed: (n, t) => guestSentence(n, t, 'managerGuestConfirmed'),
  guestCancelledAck: (n, t) => bookingSentence(n, t, 'guestCancelledAck'),
  managerGuestCancelled: (n, t) => guestSentence(n, t, 'managerGuestCancelled'),
  guestCancelRefused: (n, t) => {
    const b = requireBooking(n);
    if (n.facts?.cutoffMinutes === undefined) return t('guestCancelRefused.notCancellable', { id: b.id, status: decisionWord(n, t) });
    const phone = b.restaurant.phone;
    return paragraphs(
      bookingSentence(n, t, 'guestCancelRefused.tooLate'),
      t('guestCancelRefused.cutoff', { cutoff: durationWords(n.recipient.language, n.facts.cutoffMinutes) }),
      phone ? t('guestCancelRefused.call', { restaurant: b.restaurant.name, phone: displayPhone(phone) }) : t('guestCancelRefused.contact'),
    );
  },
  rejectReasonTypePrompt: (n, t) => t('rejectReasonTypePrompt', { id: requireBooking(n).id }),
  numberedWhich: (n, t) =>
    paragraphs(
      t('numbered.choose'),
      (n.bookings ?? [])
        .map((b) => {
          const who = n.recipient.role === 'guest' ? b.restaurant.name : (b.guest?.name ?? b.table.name);
          return `#${b.id} · ${formatShortWhen(b.startsAt, b.restaurant.timezone, n.recipient.language)} · ${who}`;
        })
        .join('\n'),
    ),
  consoleLink: (n, t) => {
    const c = n.facts?.console;
    if (!c) throw new Error('a consoleLink message needs the link');
    const time = formatWhen(c.expiresAt, c.timeZone, n.recipient.language).time;
    return t('consoleLink', { link: c.link, time, restaurants: c.restaurants.join(', ') });
  },
  notAuthorized: (_n, t) => t('notAuthorized'),
  slowDown: (_n, t) => t('slowDown'),
};

const STATUS_DETAILS: DetailLine[] = ['restaurant', 'table', 'date', 'time', 'party'];

function bookingSentence(n: Notification, t: Translate, key: string, b: BookingDetails = requireBooking(n)): string {
  return t(key, { id: b.id, restaurant: b.restaurant.name, ...formatWhen(b.startsAt, b.restaurant.timezone, n.recipient.language) });
}

/** A sentence to managers naming the guest beside the booking. */
function guestSentence(n: Notification, t: Translate, key: string): string {
  const b = requireBooking(n);
  return t(key, { id: b.id, guest: b.guest?.name || t('details.noName'), ...formatWhen(b.startsAt, b.restaurant.timezone, n.recipient.language) });
}

/** "2 hours", "90 minutes": whole hours when the duration is some. */
function durationWords(language: Language, minutes: number): string {
  return minutes % 60 === 0 && minutes > 0
    ? translate(language, 'duration.hours', { count: minutes / 60 })
    : translate(language, 'duration.minutes', { count: minutes });
}

function reasonText(n: Notification, t: Translate): string | undefined {
  if (n.facts?.reason?.trim()) return n.facts.reason.trim();
  return n.facts?.reasonCode && t(`rejectReasons.${n.facts.reasonCode}.guest`);
}

function reasonLine(n: Notification, t: Translate): string | undefined {
  const reason = reasonText(n, t);
  return reason ? t('reason', { reason }) : undefined;
}

function decisionWord(n: Notification, t: Translate): string {
  return t(`status.${n.facts?.decision ?? requireBooking(n).status}`);
}

/** A manager request, reminder or escalation: every detail and Approve / Reject / Contact guest. */
function decisionRequest(n: Notification & { purpose: 'managerRequest' | 'managerReminder' | 'escalation' }, t: Translate): OutboundMessage {
  const b = requireBooking(n);
  const intro = n.purpose === 'managerRequest' ? undefined : t(`${n.purpose}.intro`);
  return buttonsMessage(
    n.recipient.phone,
    {
      header: t(`${n.purpose}.header`, { id: b.id }),
      body: paragraphs(intro, detailLines(n.recipient.language, b, MANAGER_DETAILS)),
      footer: t(`${n.purpose}.footer`),
      buttons: buttonsFor(BUTTONS.decision, b.id, t),
    },
    { replyTo: n.replyTo },
  );
}

const INTERACTIVE: Record<InteractivePurpose, (n: Notification, t: Translate) => OutboundMessage> = {
  managerRequest: (n, t) => decisionRequest({ ...n, purpose: 'managerRequest' }, t),
  managerReminder: (n, t) => decisionRequest({ ...n, purpose: 'managerReminder' }, t),
  escalation: (n, t) => decisionRequest({ ...n, purpose: 'escalation' }, t),
  contactGuest: (n, t) => {
    const b = requireBooking(n);
    const phone = b.guest?.phone;
    if (!phone) return textMessage(n.recipient.phone, t('contactGuest.noPhone', { id: b.id }), { replyTo: n.replyTo });
    return ctaUrlMessage(
      n.recipient.phone,
      {
        body: t('contactGuest.body', { id: b.id, name: b.guest?.name || t('details.noName'), phone: displayPhone(phone) }),
        displayText: t('buttons.openChat'),
        url: `https://wa.me/${phoneDigits(phone)}`,
      },
      { replyTo: n.replyTo },
    );
  },
  guestCancelQuestion: (n, t) => {
    const b = requireBooking(n);
    return buttonsMessage(
      n.recipient.phone,
      { body: paragraphs(bookingSentence(n, t, 'guestCancelQuestion'), detailLines(n.recipient.language, b, STATUS_DETAILS)), buttons: buttonsFor(BUTTONS.cancelQuestion, b.id, t) },
      { replyTo: n.replyTo },
    );
  },
  guestCancelChoose: (n, t) =>
    listMessage(
      n.recipient.phone,
      {
        body: t('guestCancelChoose.body'),
        button: t('buttons.chooseBooking'),
        sections: [{ rows: (n.bookings ?? []).slice(0, LIMITS.listRows).map((b) => bookingRow(n, t, b)) }],
      },
      { replyTo: n.replyTo },
    ),
  guestReminder: (n, t) => {
    const b = requireBooking(n);
    return buttonsMessage(
      n.recipient.phone,
      {
        header: t('guestReminder.header'),
        body: paragraphs(bookingSentence(n, t, 'guestReminder.intro'), detailLines(n.recipient.language, b, GUEST_DETAILS), t('guestReminder.outro')),
        buttons: buttonsFor(BUTTONS.reminder, b.id, t),
      },
      { replyTo: n.replyTo },
    );
  },
  rejectReasonRequest: (n, t) => {
    const b = requireBooking(n);
    return listMessage(
      n.recipient.phone,
      {
        body: t('rejectReasonRequest', { id: b.id }),
        button: t('buttons.chooseReason'),
        sections: [
          {
            rows: REJECT_REASON_CODES.map((code) => ({
              id: rejectReasonId(b.id, code),
              title: t(`rejectReasons.${code}.title`),
              description: t(`rejectReasons.${code}.description`),
            })),
          },
        ],
      },
      { replyTo: n.replyTo },
    );
  },
  arrivalCheck: (n, t) => {
    const b = requireBooking(n);
    return buttonsMessage(
      n.recipient.phone,
      {
        header: t('arrivalCheck.header', { id: b.id }),
        body: paragraphs(t('arrivalCheck.body'), detailLines(n.recipient.language, b, ARRIVAL_DETAILS)),
        buttons: buttonsFor(BUTTONS.arrival, b.id, t),
      },
      { replyTo: n.replyTo },
    );
  },
};

/** One booking as a list row: picking it is the same as tapping the booking's Cancel button. */
function bookingRow(n: Notification, t: Translate, b: BookingDetails) {
  return {
    id: actionId('cancelBooking', b.id),
    title: `#${b.id} · ${formatShortWhen(b.startsAt, b.restaurant.timezone, n.recipient.language)}`,
    description: [b.restaurant.name, b.table.name, t('details.party', { count: b.partySize })].join(' · '),
  };
}

/** The free-form message for a notification, in the recipient's language, within Meta's limits. */
export function renderNotification(n: Notification): OutboundMessage {
  const t: Translate = (key, vars) => translate(n.recipient.language, key, vars);
  if (n.purpose in INTERACTIVE) return INTERACTIVE[n.purpose as InteractivePurpose](n, t);
  return textMessage(n.recipient.phone, TEXTS[n.purpose as TextPurpose](n, t), { replyTo: n.replyTo });
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

/**
 * Body parameters of the guest's reminder template (WHATSAPP_REMINDER_TEMPLATE), in order; its
 * two quick-reply buttons are Confirm and Cancel.
 */
export const REMINDER_TEMPLATE_PARAMETERS = ['bookingId', 'restaurant', 'date', 'time', 'table', 'partySize'] as const;

type TemplateParameter = (typeof MANAGER_TEMPLATE_PARAMETERS)[number];

/** Which configured template replaces each purpose's interactive message outside the 24-hour window. */
export interface TemplateNames {
  manager: string;
  reminder: string;
}
const TEMPLATE_FORMS = {
  managerRequest: { template: 'manager', parameters: MANAGER_TEMPLATE_PARAMETERS, buttons: BUTTONS.decision },
  managerReminder: { template: 'manager', parameters: MANAGER_TEMPLATE_PARAMETERS, buttons: BUTTONS.decision },
  escalation: { template: 'manager', parameters: MANAGER_TEMPLATE_PARAMETERS, buttons: BUTTONS.decision },
  guestReminder: { template: 'reminder', parameters: REMINDER_TEMPLATE_PARAMETERS, buttons: BUTTONS.reminder },
} as const satisfies Partial<
  Record<NotificationPurpose, { template: keyof TemplateNames; parameters: readonly TemplateParameter[]; buttons: readonly BookingAction[] }>
>;

/** Purposes sent with buttons that have a template form, used outside the 24-hour window (131047). */
export const TEMPLATE_PURPOSES: ReadonlySet<NotificationPurpose> = new Set(Object.keys(TEMPLATE_FORMS) as NotificationPurpose[]);

/** The approved template that replaces an interactive message outside the 24-hour window. */
export function renderTemplate(n: Notification, names: TemplateNames): TemplateMessage {
  const form = TEMPLATE_FORMS[n.purpose as keyof typeof TEMPLATE_FORMS];
  if (!form) throw new Error(`${n.purpose} has no template form`);
  const b = requireBooking(n);
  const language = n.recipient.language;
  const t = (key: string) => translate(language, `details.${key}`);
  const when = formatWhen(b.startsAt, b.restaurant.timezone, language);
  const values: Record<TemplateParameter, () => string> = {
    bookingId: () => `#${b.id}`,
    restaurant: () => b.restaurant.name,
    date: () => when.date,
    time: () => when.time,
    table: () => tableLabel(b),
    partySize: () => String(b.partySize),
    guestName: () => b.guest?.name || t('noName'),
    guestPhone: () => (b.guest?.phone ? displayPhone(b.guest.phone) : t('noPhone')),
    specialRequests: () => b.specialRequests?.trim() || t('none'),
    preorder: () => (b.items.length ? preorderItems(b).join('; ') : t('none')),
  };
  return templateMessage(
    n.recipient.phone,
    {
      name: names[form.template],
      language,
      bodyParameters: form.parameters.map((p) => values[p]()),
      quickReplyPayloads: form.buttons.map((action) => actionId(action, b.id)),
    },
    { replyTo: n.replyTo },
  );
}

/**
 * WhatsApp Web's stand-in for buttons (WAHA): the line under a message's numbered choices,
 * "Reply 1 to approve, 2 to reject, 3 for the guest's number", each number said by its
 * action; "Reply with the number of your choice." for choices without such words (a list of
 * reasons or bookings). None for a message without choices.
 */
export function numberedReplyHint(language: Language, message: OutboundMessage): string | undefined {
  const choices = numberedChoices(message);
  if (!choices.length) return undefined;
  const t = (key: string, vars?: Record<string, unknown>) => translate(language, key, vars);
  const said = choices.map((c) => {
    const action = parseActionId(c.id)?.action;
    const key = `numbered.actions.${action}`;
    return action && i18n.exists(key, { lng: language }) ? t(key, { number: c.number }) : undefined;
  });
  if (said.some((s) => s === undefined)) return t('numbered.any');
  return t('numbered.reply', { choices: said.join(', ') });
}
