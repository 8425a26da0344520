import { LANGUAGES, type Language } from '../domain/booking';
import { NOTIFICATION_PURPOSES, type BookingDetails, type Notification, type NotificationPurpose } from '../domain/notifications';
import { buttonTitles, LIMITS, shorten, type ButtonsMessage, type CtaUrlMessage, type OutboundMessage } from '../whatsapp/messages';
import { formatWhen, LOCALES, MANAGER_TEMPLATE_PARAMETERS, renderManagerTemplate, renderNotification } from '../whatsapp/render';

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
};

const notification = (purpose: NotificationPurpose, language: Language, extra: Partial<Notification> = {}): Notification => ({
  purpose,
  recipient: { role: purpose.startsWith('guest') || purpose.startsWith('claim') ? 'guest' : 'manager', phone: '+77019876543', language },
  booking,
  facts: { decision: 'APPROVED', decidedBy: 'Aigerim', reason: 'Fully booked' },
  ...extra,
});

function textOf(m: OutboundMessage): string {
  if (m.type === 'text') return m.text.body;
  if (m.type === 'interactive') return [m.interactive.header?.text, m.interactive.body.text, m.interactive.footer?.text].join('\n');
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
  it.each(LANGUAGES.flatMap((l) => NOTIFICATION_PURPOSES.map((p) => [l, p] as const)))('%s %s renders without gaps', (lang, purpose) => {
    const m = renderNotification(notification(purpose, lang));
    const text = textOf(m);
    expect(m.to).toBe('+77019876543');
    expect(text).not.toMatch(/\{\{|\}\}|undefined|null/);
    expect(text).not.toMatch(/\b(details|buttons|status|guestStatus|contactGuest)\.[a-zA-Z]/); // a missing key prints itself
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

  it('answers /status without a booking', () => {
    expect(textOf(renderNotification(notification('guestStatus', 'ru', { booking: undefined })))).toBe(LOCALES.ru.guestStatus.none);
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
