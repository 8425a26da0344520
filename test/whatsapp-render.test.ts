import { actionId, REJECT_REASON_CODES, rejectReasonId } from '../domain/actions';
import { LANGUAGES, type Language } from '../domain/booking';
import { NOTIFICATION_PURPOSES, type BookingDetails, type Notification, type NotificationPurpose } from '../domain/notifications';
import {
  buttonTitles,
  listMessage,
  LIMITS,
  shorten,
  type ButtonsMessage,
  type CtaUrlMessage,
  type ListMessage,
  type OutboundMessage,
} from '../whatsapp/messages';
import {
  formatShortWhen,
  formatWhen,
  LOCALES,
  MANAGER_TEMPLATE_PARAMETERS,
  REMINDER_TEMPLATE_PARAMETERS,
  renderNotification,
  renderTemplate,
  TEMPLATE_PURPOSES,
} from '../whatsapp/render';

const TEMPLATES = { manager: 'booking_request', reminder: 'booking_reminder' };
const renderManagerTemplate = (n: Notification, name: string) => renderTemplate(n, { ...TEMPLATES, manager: name });

const booking: BookingDetails = {
  id: 42,
  status: 'PENDING',
  restaurant: { id: 1, name: 'Dastarkhan', timezone: 'Asia/Almaty' },
  table: { id: 5, name: 'Table 5', seats: 4, features: ['window', 'sofa'] },
  startsAt: '2026-01-12T14:30:00.000Z', // 19:30 in Almaty (UTC+5)
  partySize: 4,
  guest: { name: 'Ana Guest', phone: '+77011234567' },
  specialRequests: 'Birthday cake, please',
  items: [
    { name: 'Beshbarmak', quantity: 2, notes: 'no onions' },
    { name: 'Baursak', quantity: 10 },
  ],
  guestRecord: { visits: 4, noShows: 1, cancellations: 1 },
};
const later: BookingDetails = { ...booking, id: 43, status: 'APPROVED', startsAt: '2026-01-19T14:30:00.000Z', partySize: 2 };

const notification = (purpose: NotificationPurpose, language: Language, extra: Partial<Notification> = {}): Notification => ({
  purpose,
  recipient: { role: purpose.startsWith('guest') || purpose.startsWith('claim') ? 'guest' : 'manager', phone: '+77019876543', language },
  booking,
  bookings: [booking, later],
  facts: {
    decision: 'APPROVED',
    decidedBy: 'Aigerim',
    reason: 'Fully booked',
    cutoffMinutes: 120,
    console: { link: 'https://booking.example.com/console/?link=abc', expiresAt: '2026-01-12T14:45:00.000Z', timeZone: 'Asia/Almaty', restaurants: ['Dastarkhan'] },
  },
  ...extra,
});

const ALL = LANGUAGES.flatMap((l) => NOTIFICATION_PURPOSES.map((p) => [l, p] as const));

/** Every title a person can tap in a message, with the limit Meta puts on it. */
function titles(m: OutboundMessage): { what: string; text: string; max: number }[] {
  if (m.type !== 'interactive') return [];
  const i = m.interactive;
  if (i.type === 'button') return i.action.buttons.map((b) => ({ what: `button ${b.reply.id}`, text: b.reply.title, max: LIMITS.buttonTitle }));
  if (i.type === 'cta_url') return [{ what: 'cta', text: i.action.parameters.display_text, max: LIMITS.ctaDisplayText }];
  return [
    { what: 'list button', text: i.action.button, max: LIMITS.listButton },
    ...i.action.sections.flatMap((sec) =>
      sec.rows.flatMap((r) => [
        { what: `row ${r.id}`, text: r.title, max: LIMITS.rowTitle },
        { what: `row ${r.id} description`, text: r.description ?? '', max: LIMITS.rowDescription },
      ]),
    ),
  ];
}

function textOf(m: OutboundMessage): string {
  if (m.type === 'text') return m.text.body;
  if (m.type === 'interactive') {
    const rows = m.interactive.type === 'list' ? m.interactive.action.sections.flatMap((s) => s.rows.map((r) => `${r.title} ${r.description ?? ''}`)) : [];
    return [m.interactive.header?.text, m.interactive.body.text, m.interactive.footer?.text, ...rows].join('\n');
  }
  return JSON.stringify(m.template);
}

/** Leaf keys with i18next plural suffixes folded, so `party_one`/`party_few` count as `party`. */
function keys(obj: object, prefix = ''): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'object' && v !== null) {
      for (const [kk, forms] of keys(v, `${prefix}${k}.`)) out.set(kk, forms);
      continue;
    }
    const m = /^(.*)_(zero|one|two|few|many|other)$/.exec(k);
    const key = `${prefix}${m ? m[1] : k}`;
    out.set(key, new Set([...(out.get(key) ?? []), m ? m[2] : '']));
  }
  return out;
}

function leaves(obj: object): string[] {
  return Object.values(obj).flatMap((v) => (typeof v === 'object' && v !== null ? leaves(v) : [String(v)]));
}

describe('locales', () => {
  const en = keys(LOCALES.en);

  it.each(LANGUAGES)('%s has every key, with every plural form its language needs', (lang) => {
    const mine = keys(LOCALES[lang]);
    expect([...mine.keys()].sort()).toEqual([...en.keys()].sort());
    const categories = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
    for (const [key, forms] of mine) {
      if (forms.has('')) continue;
      for (const c of categories) expect(`${key}_${c}: ${forms.has(c)}`).toBe(`${key}_${c}: true`);
    }
  });

  it.each(LANGUAGES)('%s button titles fit in 20 characters', (lang) => {
    for (const title of Object.values(LOCALES[lang].buttons)) expect(title.length).toBeLessThanOrEqual(LIMITS.buttonTitle);
  });

  it.each(LANGUAGES)('%s headers and footers fit in 60 characters with a long booking id', (lang) => {
    for (const purpose of ['managerRequest', 'managerReminder', 'escalation'] as const) {
      const section = LOCALES[lang][purpose];
      expect(section.header.replace('{{id}}', '123456789').length).toBeLessThanOrEqual(LIMITS.header);
      expect(section.footer.length).toBeLessThanOrEqual(LIMITS.footer);
    }
  });

  it.each(['ru', 'kk'] as const)('%s is a real translation, not an English copy', (lang) => {
    const english = new Set(leaves(LOCALES.en));
    const copies = leaves(LOCALES[lang]).filter((s) => english.has(s));
    expect(copies).toEqual([]);
    expect(leaves(LOCALES[lang]).every((s) => /[\u0400-\u04FF]/.test(s))).toBe(true);
  });

  it('kk uses Kazakh letters, not only Russian ones', () => {
    expect(leaves(LOCALES.kk).join(' ')).toMatch(/[әғқңөұүһі]/);
  });
});

describe('renderNotification', () => {
  it.each(ALL)('%s %s renders without gaps', (lang, purpose) => {
    const m = renderNotification(notification(purpose, lang));
    const text = textOf(m);
    expect(m.to).toBe('+77019876543');
    expect(text).not.toMatch(/\{\{|\}\}|undefined|null/);
    // A missing key prints itself.
    expect(text).not.toMatch(/\b(details|buttons|status|guestStatus|contactGuest|guestRecord|rejectReasons|duration|guestReminder|guestCancelRefused|arrivalCheck)\.[a-zA-Z]/);
  });

  it.each(LANGUAGES)('%s manager request shows everything a manager decides on, with three buttons', (lang) => {
    const m = renderNotification(notification('managerRequest', lang)) as ButtonsMessage;
    expect(m.type).toBe('interactive');
    const body = m.interactive.body.text;
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    for (const part of ['Dastarkhan', 'Table 5 (window, sofa)', when.date, when.time, 'Ana Guest', '+7 701 123 4567', 'Birthday cake, please', '2 × Beshbarmak (no onions)', '10 × Baursak']) {
      expect(body).toContain(part);
    }
    expect(body).toMatch(/\b4\b/); // party size
    expect(m.interactive.header?.text).toContain('#42');
    expect(m.interactive.action.buttons.map((b) => b.reply.id)).toEqual(['APPROVE_BOOKING:42', 'REJECT_BOOKING:42', 'CONTACT_CLIENT:42']);
    expect(m.interactive.action.buttons.map((b) => b.reply.title)).toEqual([LOCALES[lang].buttons.approve, LOCALES[lang].buttons.reject, LOCALES[lang].buttons.contact]);
  });

  it('formats date and time in the restaurant timezone for the language', () => {
    expect(formatWhen(booking.startsAt, 'Asia/Almaty', 'ru')).toEqual({ date: 'понедельник, 12 января 2026 г.', time: '19:30' });
    expect(formatWhen(booking.startsAt, 'Europe/London', 'en').time).toBe('02:30 PM');
    expect(formatWhen(booking.startsAt, 'Asia/Almaty', 'kk').date).toContain('қаңтар');
    // A zone this runtime does not know: UTC, labelled, the second time too (formatters are kept).
    for (let i = 0; i < 2; i++) expect(formatWhen(booking.startsAt, 'Mars/Olympus_Mons', 'en')).toEqual({ date: 'Monday, January 12, 2026', time: '02:30 PM UTC' });
    expect(formatShortWhen(booking.startsAt, 'Mars/Olympus_Mons', 'en')).toBe('Jan 12, 02:30 PM UTC');
  });

  it('uses the language plural rules for the party size', () => {
    const body = (n: number) => textOf(renderNotification(notification('managerRequest', 'ru', { booking: { ...booking, partySize: n } })));
    expect(body(1)).toContain('1 гость');
    expect(body(3)).toContain('3 гостя');
    expect(body(5)).toContain('5 гостей');
  });

  it.each(LANGUAGES)('%s guest confirmation repeats restaurant, table, date, time and preorder', (lang) => {
    const text = textOf(renderNotification(notification('guestApproved', lang)));
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    for (const part of ['Dastarkhan', 'Table 5', when.date, when.time, '2 × Beshbarmak', '10 × Baursak']) expect(text).toContain(part);
    expect(text).not.toContain('+7 701'); // the guest's own phone is not news to them
  });

  it('sends the manager a link to the guest chat', () => {
    const m = renderNotification(notification('contactGuest', 'en', { replyTo: 'wamid.TAP' })) as CtaUrlMessage;
    expect(m.interactive.type).toBe('cta_url');
    expect(m.interactive.action.parameters).toEqual({ display_text: 'Open chat', url: 'https://wa.me/77011234567' });
    expect(m.context).toEqual({ message_id: 'wamid.TAP' });
  });

  it('says so when the guest has no phone yet', () => {
    const m = renderNotification(notification('contactGuest', 'en', { booking: { ...booking, guest: undefined } }));
    expect(m.type).toBe('text');
  });

  it('answers /status without an upcoming booking', () => {
    expect(textOf(renderNotification(notification('guestStatus', 'ru', { booking: undefined, bookings: [] })))).toBe(LOCALES.ru.guestStatus.none);
  });

  it('shortens a long body within the limit and keeps the buttons valid', () => {
    const items = Array.from({ length: 200 }, (_, i) => ({ name: `Dish number ${i} with a long name 🍲`, quantity: 1 + (i % 5) }));
    const m = renderNotification(notification('managerRequest', 'kk', { booking: { ...booking, items, specialRequests: 'x'.repeat(5000) } })) as ButtonsMessage;
    expect(m.interactive.body.text.length).toBeLessThanOrEqual(LIMITS.interactiveBody);
    expect(m.interactive.body.text.endsWith('…')).toBe(true);
    expect(m.interactive.body.text).toContain('Dastarkhan');
  });

  it('always writes `to` with + and refuses what is not a phone number', () => {
    expect(renderNotification(notification('guestHelp', 'en', { recipient: { role: 'guest', phone: '77011234567', language: 'en' } })).to).toBe('+77011234567');
    expect(() => renderNotification(notification('guestHelp', 'en', { recipient: { role: 'guest', phone: 'abc', language: 'en' } }))).toThrow();
  });
});

describe('the visit (#10)', () => {
  it.each(ALL)('%s %s: every title fits Meta\'s limits as translated, never cut short', (lang, purpose) => {
    const m = renderNotification(notification(purpose, lang));
    for (const { what, text, max } of titles(m)) {
      expect({ what, length: text.length <= max }).toEqual({ what, length: true });
      // Titles are written to fit: a shortened one would end in an ellipsis.
      if (!what.startsWith('row') || what.endsWith('description')) expect({ what, text: text.endsWith('…') }).toEqual({ what, text: false });
    }
    if (m.type === 'interactive' && m.interactive.type === 'list') {
      expect(m.interactive.action.sections.flatMap((x) => x.rows).length).toBeLessThanOrEqual(LIMITS.listRows);
    }
  });

  it.each(LANGUAGES)('%s list titles and descriptions of the locale fit in 24 and 72 characters', (lang) => {
    for (const code of REJECT_REASON_CODES) {
      const r = LOCALES[lang].rejectReasons[code];
      expect(r.title.length).toBeLessThanOrEqual(LIMITS.rowTitle);
      expect(r.description.length).toBeLessThanOrEqual(LIMITS.rowDescription);
    }
  });

  it.each(LANGUAGES)('%s reminder: the booking with Confirm and Cancel', (lang) => {
    const m = renderNotification(notification('guestReminder', lang, { booking: { ...booking, status: 'APPROVED' } })) as ButtonsMessage;
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    for (const part of ['Dastarkhan', 'Table 5', when.date, when.time, '2 × Beshbarmak']) expect(m.interactive.body.text).toContain(part);
    expect(m.interactive.action.buttons).toEqual([
      { type: 'reply', reply: { id: 'CONFIRM_VISIT:42', title: LOCALES[lang].buttons.confirmVisit } },
      { type: 'reply', reply: { id: 'CANCEL_BOOKING:42', title: LOCALES[lang].buttons.cancelBooking } },
    ]);
  });

  it.each(LANGUAGES)('%s reminder template: its six parameters in order, Confirm and Cancel as quick-reply payloads', (lang) => {
    const m = renderTemplate(notification('guestReminder', lang), TEMPLATES);
    expect(m.template.name).toBe('booking_reminder');
    expect(m.template.language.code).toBe(lang);
    const [body, ...buttons] = m.template.components;
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    expect(body.type === 'body' && body.parameters.map((p) => p.text)).toEqual(['#42', 'Dastarkhan', when.date, when.time, 'Table 5 (window, sofa)', '4']);
    expect(REMINDER_TEMPLATE_PARAMETERS).toHaveLength(6);
    expect(buttons.map((b) => b.type === 'button' && b.parameters[0].payload)).toEqual(['CONFIRM_VISIT:42', 'CANCEL_BOOKING:42']);
  });

  it('only manager requests and the reminder have a template form', () => {
    expect([...TEMPLATE_PURPOSES].sort()).toEqual(['escalation', 'guestReminder', 'managerReminder', 'managerRequest']);
    expect(() => renderTemplate(notification('guestCancelQuestion', 'en'), TEMPLATES)).toThrow(/no template form/);
  });

  it.each(LANGUAGES)('%s the cancel question names the restaurant and the time, with Yes and No', (lang) => {
    const m = renderNotification(notification('guestCancelQuestion', lang, { replyTo: 'wamid.CANCEL' })) as ButtonsMessage;
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    expect(m.interactive.body.text).toContain('Dastarkhan');
    expect(m.interactive.body.text).toContain(when.time);
    expect(m.interactive.action.buttons.map((b) => b.reply.id)).toEqual(['CANCEL_YES:42', 'CANCEL_NO:42']);
    expect(m.context).toEqual({ message_id: 'wamid.CANCEL' });
  });

  it('asks which booking to cancel with one row per booking, ten at most', () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ ...booking, id: 100 + i, startsAt: new Date(Date.parse(booking.startsAt) + i * 86_400_000).toISOString() }));
    const m = renderNotification(notification('guestCancelChoose', 'ru', { bookings: many })) as ListMessage;
    expect(m.interactive.type).toBe('list');
    const rows = m.interactive.action.sections.flatMap((x) => x.rows);
    expect(rows.map((r) => r.id)).toEqual(many.slice(0, 10).map((b) => actionId('cancelBooking', b.id)));
    expect(rows[0]).toEqual({ id: 'CANCEL_BOOKING:100', title: '#100 · 12 янв., 19:30', description: 'Dastarkhan · Table 5 · 👥 4 гостя' });
    expect(m.interactive.action.button).toBe(LOCALES.ru.buttons.chooseBooking);
  });

  it('answers about one booking that has moved on with its status', () => {
    const done = { ...booking, status: 'COMPLETED' as const };
    expect(textOf(renderNotification(notification('guestStatus', 'en', { booking: done, bookings: undefined })))).toMatch(/^Your booking #42 is completed\.\n\n🍽 Restaurant: Dastarkhan/);
  });

  it.each(LANGUAGES)('%s /status lists every upcoming booking', (lang) => {
    const text = textOf(renderNotification(notification('guestStatus', lang)));
    expect(text).toContain('#42');
    expect(text).toContain('#43');
    expect(text).toContain(LOCALES[lang].status.APPROVED);
    expect(text).toContain(LOCALES[lang].status.PENDING);
    expect(text).toContain('/cancel');
  });

  it.each(LANGUAGES)('%s reasons list: every code as a row REJECT_REASON:<id>:<code>', (lang) => {
    const m = renderNotification(notification('rejectReasonRequest', lang)) as ListMessage;
    const rows = m.interactive.action.sections.flatMap((x) => x.rows);
    expect(rows.map((r) => r.id)).toEqual(REJECT_REASON_CODES.map((c) => rejectReasonId(42, c)));
    expect(rows.map((r) => r.title)).toEqual(REJECT_REASON_CODES.map((c) => LOCALES[lang].rejectReasons[c].title));
    expect(m.interactive.body.text).toContain('#42');
  });

  it('tells the guest a picked reason in the guest\'s language, a typed one as typed', () => {
    const picked = textOf(renderNotification(notification('guestRejected', 'ru', { facts: { reasonCode: 'private_event' } })));
    expect(picked).toContain(`Причина: ${LOCALES.ru.rejectReasons.private_event.guest}`);
    const typed = textOf(renderNotification(notification('guestRejected', 'kk', { facts: { reason: 'Kitchen flooded' } })));
    expect(typed).toContain('Себебі: Kitchen flooded');
    expect(textOf(renderNotification(notification('guestRejected', 'en', { facts: {} })))).not.toContain('Reason');
  });

  it.each(LANGUAGES)('%s arrival check: Arrived and No-show', (lang) => {
    const m = renderNotification(notification('arrivalCheck', lang)) as ButtonsMessage;
    expect(m.interactive.action.buttons.map((b) => b.reply.id)).toEqual(['ARRIVED:42', 'NO_SHOW:42']);
    expect(m.interactive.body.text).toContain('Ana Guest');
  });

  it('shows the guest\'s record in the manager request, with the language\'s plurals', () => {
    expect(textOf(renderNotification(notification('managerRequest', 'en')))).toContain('4 visits, 1 no-show, 1 cancellation');
    const ru = (r: BookingDetails['guestRecord']) => textOf(renderNotification(notification('managerRequest', 'ru', { booking: { ...booking, guestRecord: r } })));
    expect(ru({ visits: 4, noShows: 1, cancellations: 1 })).toContain('4 визита, 1 неявка, 1 отмена');
    expect(ru({ visits: 5, noShows: 2, cancellations: 0 })).toContain('5 визитов, 2 неявки, 0 отмен');
    expect(ru({ visits: 0, noShows: 0, cancellations: 0 })).toContain('первое бронирование');
    expect(ru(undefined)).not.toContain('📊');
  });

  it('refuses a late cancel politely, with the cutoff and the restaurant\'s number', () => {
    const withPhone = { ...booking, restaurant: { ...booking.restaurant, phone: '+77272345678' } };
    const text = textOf(renderNotification(notification('guestCancelRefused', 'en', { booking: withPhone })));
    expect(text).toContain('2 hours');
    expect(text).toContain('+7 7272 34 56 78');
    expect(textOf(renderNotification(notification('guestCancelRefused', 'ru', { facts: { cutoffMinutes: 90 } })))).toContain('90 минут');
    const done = textOf(renderNotification(notification('guestCancelRefused', 'en', { facts: { decision: 'REJECTED' } })));
    expect(done).toBe('Booking #42 can no longer be cancelled: it is declined.');
  });
});

describe('consoleLink', () => {
  it('gives the link and until when it works, in the restaurant\'s time', () => {
    expect(textOf(renderNotification(notification('consoleLink', 'ru')))).toBe(
      'Ваша консоль (Dastarkhan): https://booking.example.com/console/?link=abc\nДействует до 19:45. Не пересылайте её: по ней выполняется вход.',
    );
  });
});

describe('list messages', () => {
  const row = (i: number, title = `Row ${i}`) => ({ id: `ROW:${i}`, title });
  it('refuses more than ten rows, a repeated id, and sections without titles when there are several', () => {
    expect(() => listMessage('+77011234567', { body: 'b', button: 'Pick', sections: [{ rows: Array.from({ length: 11 }, (_, i) => row(i)) }] })).toThrow(/11 list rows/);
    expect(() => listMessage('+77011234567', { body: 'b', button: 'Pick', sections: [{ rows: [row(1), row(1)] }] })).toThrow(/unique/);
    expect(() => listMessage('+77011234567', { body: 'b', button: 'Pick', sections: [{ rows: [row(1)] }, { title: 'B', rows: [row(2)] }] })).toThrow(/titles/);
  });

  it('shortens titles and descriptions to Meta\'s limits and keeps titles unique', () => {
    const long = 'A remarkably long row title that goes on';
    const m = listMessage('+77011234567', {
      body: 'b',
      button: 'A button label over twenty',
      sections: [{ rows: [{ ...row(1, long), description: 'd'.repeat(100) }, row(2, long)] }],
    });
    const rows = m.interactive.action.sections[0].rows;
    expect(rows.map((r) => r.title)).toEqual(['A remarkably long row…', 'A remarkably long… 2']);
    expect(rows[0].description!.length).toBeLessThanOrEqual(LIMITS.rowDescription);
    expect(m.interactive.action.button.length).toBeLessThanOrEqual(LIMITS.listButton);
  });
});

describe('renderManagerTemplate', () => {
  it.each(LANGUAGES)('%s: the body parameters in the documented order, quick replies with the action ids', (lang) => {
    const m = renderManagerTemplate(notification('managerRequest', lang), 'booking_request');
    expect(m.template.name).toBe('booking_request');
    expect(m.template.language.code).toBe(lang);
    const [body, ...buttons] = m.template.components;
    const params = body.type === 'body' ? body.parameters.map((p) => p.text) : [];
    expect(params).toHaveLength(MANAGER_TEMPLATE_PARAMETERS.length);
    const when = formatWhen(booking.startsAt, booking.restaurant.timezone, lang);
    expect(params).toEqual([
      '#42',
      'Dastarkhan',
      when.date,
      when.time,
      'Table 5 (window, sofa)',
      '4',
      'Ana Guest',
      '+7 701 123 4567',
      'Birthday cake, please',
      '2 × Beshbarmak (no onions); 10 × Baursak',
    ]);
    expect(buttons).toEqual(
      ['APPROVE_BOOKING:42', 'REJECT_BOOKING:42', 'CONTACT_CLIENT:42'].map((payload, i) => ({
        type: 'button',
        sub_type: 'quick_reply',
        index: String(i),
        parameters: [{ type: 'payload', payload }],
      })),
    );
  });

  it('keeps parameters free of newlines, tabs, long space runs and emptiness', () => {
    const m = renderManagerTemplate(
      notification('managerRequest', 'en', { booking: { ...booking, specialRequests: 'line one\nline\ttwo     spaced', items: [], guest: {} } }),
      'booking_request',
    );
    const body = m.template.components[0];
    const params = body.type === 'body' ? body.parameters.map((p) => p.text) : [];
    for (const p of params) {
      expect(p).not.toMatch(/[\n\t]| {5,}/);
      expect(p.length).toBeGreaterThan(0);
      expect(p.length).toBeLessThanOrEqual(LIMITS.templateParameter);
    }
    expect(params[8]).toBe('line one · line · two spaced');
    expect(params[9]).toBe('none');
  });
});

describe('limits', () => {
  it('shortens at a word boundary with an ellipsis', () => {
    expect(shorten('The quick brown fox jumps', 15)).toBe('The quick…');
    expect(shorten('short', 15)).toBe('short');
  });

  it('never splits a grapheme', () => {
    const family = '👨‍👩‍👧‍👦'; // 11 UTF-16 units, one grapheme
    const out = shorten(`${family}${family}${family}`, 20);
    expect(out).toBe(`${family}…`);
    expect(out.length).toBeLessThanOrEqual(20);
  });

  it('makes button titles short, plain and unique', () => {
    const titles = buttonTitles(['*Approve*', 'Approve', 'A very long button title indeed']);
    expect(titles).toEqual(['Approve', 'Approve 2', 'A very long button…']);
    for (const t of titles) expect(t.length).toBeLessThanOrEqual(LIMITS.buttonTitle);
  });
});
