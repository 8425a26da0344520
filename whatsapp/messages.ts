import { phoneDigits } from '../domain/phone';

/**
 * Request bodies for `POST /{version}/{phone-number-id}/messages`, built so that Meta never
 * refuses them for a limit: localized text that is too long is shortened here, at a
 * grapheme (and preferably word) boundary with an ellipsis. Violations that only a bug in
 * our code can cause (four buttons, an over-long id) throw instead.
 */
export const LIMITS = {
  textBody: 4096,
  interactiveBody: 1024,
  header: 60,
  footer: 60,
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  ctaDisplayText: 20,
  /** List messages: the button that opens the list, its rows (10 in all sections together). */
  listButton: 20,
  listRows: 10,
  listSections: 10,
  sectionTitle: 24,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  callbackData: 512,
  /** Ours, not Meta's: a long free text (special requests, a big preorder) cannot swamp the template body. */
  templateParameter: 200,
} as const;

export interface ReplyButton {
  id: string;
  title: string;
}

interface Base {
  messaging_product: 'whatsapp';
  recipient_type: 'individual';
  to: string;
  context?: { message_id: string };
  /** Echoed by Meta in every status webhook of the message; see trackedAs. */
  biz_opaque_callback_data?: string;
}

export interface TextMessage extends Base {
  type: 'text';
  text: { body: string; preview_url: boolean };
}

interface InteractiveCommon {
  header?: { type: 'text'; text: string };
  body: { text: string };
  footer?: { text: string };
}

export interface ButtonsMessage extends Base {
  type: 'interactive';
  interactive: InteractiveCommon & {
    type: 'button';
    action: { buttons: { type: 'reply'; reply: ReplyButton }[] };
  };
}

export interface CtaUrlMessage extends Base {
  type: 'interactive';
  interactive: InteractiveCommon & {
    type: 'cta_url';
    action: { name: 'cta_url'; parameters: { display_text: string; url: string } };
  };
}

export interface ListRow {
  id: string;
  title: string;
  description?: string;
}

export interface ListSection {
  title?: string;
  rows: ListRow[];
}

export interface ListMessage extends Base {
  type: 'interactive';
  interactive: InteractiveCommon & {
    type: 'list';
    action: { button: string; sections: ListSection[] };
  };
}

export interface TemplateMessage extends Base {
  type: 'template';
  template: {
    name: string;
    language: { policy: 'deterministic'; code: string };
    components: (
      | { type: 'body'; parameters: { type: 'text'; text: string }[] }
      | { type: 'button'; sub_type: 'quick_reply'; index: string; parameters: { type: 'payload'; payload: string }[] }
    )[];
  };
}

export type OutboundMessage = TextMessage | ButtonsMessage | CtaUrlMessage | ListMessage | TemplateMessage;

/**
 * The callback data naming the whatsapp_messages row a send belongs to. Meta echoes it in the
 * message's status webhooks, which is how a wamid reaches our row when the sender died before
 * storing it (whatsapp_record_delivery, migration 003). Only the row id travels: the
 * idempotency key holds a phone number, and the callback data is stored on Meta's side.
 */
const CALLBACK_DATA_PREFIX = 'wab:';
const CALLBACK_DATA = new RegExp(`^${CALLBACK_DATA_PREFIX}([1-9]\\d{0,14})$`);

export function trackedAs<M extends OutboundMessage>(message: M, outboundId: number): M {
  if (!Number.isSafeInteger(outboundId) || outboundId <= 0) throw new Error(`outbound id ${outboundId} is not a row id`);
  return { ...message, biz_opaque_callback_data: `${CALLBACK_DATA_PREFIX}${outboundId}` };
}

/** The row id in callback data written by trackedAs; undefined for anything else. */
export function outboundIdOf(callbackData: string | undefined): number | undefined {
  const m = callbackData?.match(CALLBACK_DATA);
  return m ? Number(m[1]) : undefined;
}

export interface SendOptions {
  /** The inbound message this one answers; WhatsApp shows it quoted. */
  replyTo?: string;
}

const ELLIPSIS = '…';
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Fits `text` into `max` UTF-16 code units (at least as strict as Meta's count), never
 * splitting a grapheme (an emoji, a letter with its accents), and at a word boundary when
 * that keeps most of the text.
 */
export function shorten(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  const budget = max - ELLIPSIS.length;
  let end = 0;
  for (const { index, segment } of graphemes.segment(trimmed)) {
    if (index + segment.length > budget) break;
    end = index + segment.length;
  }
  let head = trimmed.slice(0, end);
  const lastSpace = head.search(/\s\S*$/);
  if (lastSpace >= budget * 0.6) head = head.slice(0, lastSpace);
  return head.replace(/[\s.,;:!?·•\-–—]+$/u, '') + ELLIPSIS;
}

const plainTitle = (raw: string) => raw.replace(/[*_~`]/g, '').replace(/\s+/g, ' ');

/** Meta renders no markdown in titles and refuses duplicates; both are made safe here. */
export function buttonTitles(titles: string[], max: number = LIMITS.buttonTitle): string[] {
  const seen = new Set<string>();
  return titles.map((raw) => {
    const plain = plainTitle(raw);
    let title = shorten(plain, max);
    for (let n = 2; seen.has(title); n++) {
      const suffix = ` ${n}`;
      title = shorten(plain, max - suffix.length) + suffix;
    }
    seen.add(title);
    return title;
  });
}

/** Always `+` and the country code: without `+`, Meta prepends the business number's country code. */
function recipientNumber(phone: string): string {
  const digits = phoneDigits(phone);
  if (!/^[1-9]\d{6,14}$/.test(digits)) throw new Error('recipient is not an international phone number');
  return `+${digits}`;
}

function base(to: string, opts: SendOptions): Base {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: recipientNumber(to),
    ...(opts.replyTo && { context: { message_id: opts.replyTo } }),
  };
}

function nonEmpty(text: string, max: number, what: string): string {
  const short = shorten(text, max);
  if (!short) throw new Error(`${what} is empty`);
  return short;
}

export function textMessage(to: string, body: string, opts: SendOptions = {}): TextMessage {
  return { ...base(to, opts), type: 'text', text: { body: nonEmpty(body, LIMITS.textBody, 'text body'), preview_url: false } };
}

export interface InteractiveContent {
  header?: string;
  body: string;
  footer?: string;
}

function interactiveCommon(c: InteractiveContent): InteractiveCommon {
  const header = c.header && shorten(c.header, LIMITS.header);
  const footer = c.footer && shorten(c.footer, LIMITS.footer);
  return {
    ...(header && { header: { type: 'text', text: header } }),
    body: { text: nonEmpty(c.body, LIMITS.interactiveBody, 'interactive body') },
    ...(footer && { footer: { text: footer } }),
  };
}

function checkPayloadId(id: string, max: number = LIMITS.buttonId): string {
  if (!id || id !== id.trim() || id.length > max) throw new Error(`button id "${id.slice(0, 40)}" breaks Meta's rules`);
  return id;
}

export function buttonsMessage(
  to: string,
  c: InteractiveContent & { buttons: ReplyButton[] },
  opts: SendOptions = {},
): ButtonsMessage {
  if (c.buttons.length < 1 || c.buttons.length > LIMITS.buttons) throw new Error(`${c.buttons.length} reply buttons: Meta allows 1 to 3`);
  const ids = c.buttons.map((b) => checkPayloadId(b.id));
  if (new Set(ids).size !== ids.length) throw new Error('reply button ids must be unique');
  const titles = buttonTitles(c.buttons.map((b) => b.title));
  return {
    ...base(to, opts),
    type: 'interactive',
    interactive: {
      type: 'button',
      ...interactiveCommon(c),
      action: { buttons: c.buttons.map((b, i) => ({ type: 'reply', reply: { id: b.id, title: titles[i] } })) },
    },
  };
}

export function ctaUrlMessage(
  to: string,
  c: InteractiveContent & { displayText: string; url: string },
  opts: SendOptions = {},
): CtaUrlMessage {
  if (!/^https:\/\/\S+$/.test(c.url)) throw new Error('cta_url needs an https URL');
  const [displayText] = buttonTitles([c.displayText]);
  return {
    ...base(to, opts),
    type: 'interactive',
    interactive: {
      type: 'cta_url',
      ...interactiveCommon(c),
      action: { name: 'cta_url', parameters: { display_text: displayText, url: c.url } },
    },
  };
}

/**
 * A list message: a button that opens up to ten rows. Row titles are shortened to 24 and
 * descriptions to 72 characters; more rows than Meta allows, or a repeated row id, is a bug.
 */
export function listMessage(
  to: string,
  c: InteractiveContent & { button: string; sections: ListSection[] },
  opts: SendOptions = {},
): ListMessage {
  const rows = c.sections.flatMap((s) => s.rows);
  if (c.sections.length < 1 || c.sections.length > LIMITS.listSections) throw new Error(`${c.sections.length} list sections: Meta allows 1 to ${LIMITS.listSections}`);
  if (rows.length < 1 || rows.length > LIMITS.listRows) throw new Error(`${rows.length} list rows: Meta allows 1 to ${LIMITS.listRows}`);
  if (c.sections.some((s) => !s.rows.length)) throw new Error('every list section needs a row');
  if (c.sections.length > 1 && c.sections.some((s) => !s.title?.trim())) throw new Error('sections of a list with several need titles');
  const ids = rows.map((r) => checkPayloadId(r.id, LIMITS.rowId));
  if (new Set(ids).size !== ids.length) throw new Error('list row ids must be unique');
  // Meta refuses two rows with one title: the same uniqueness rule as reply buttons, list-wide.
  const titles = buttonTitles(
    rows.map((r) => r.title),
    LIMITS.rowTitle,
  );
  let next = 0;
  const sections = c.sections.map((s) => ({
    ...(s.title?.trim() && { title: shorten(plainTitle(s.title), LIMITS.sectionTitle) }),
    rows: s.rows.map((r) => {
      const description = r.description && shorten(r.description.replace(/\s+/g, ' '), LIMITS.rowDescription);
      return { id: r.id, title: titles[next++], ...(description && { description }) };
    }),
  }));
  const [button] = buttonTitles([c.button], LIMITS.listButton);
  return {
    ...base(to, opts),
    type: 'interactive',
    interactive: { type: 'list', ...interactiveCommon(c), action: { button, sections } },
  };
}

/**
 * Template text parameters may hold no newline or tab and no run of more than four spaces
 * (Meta error 132018), and may not be empty.
 */
function templateParameter(text: string): string {
  const flat = text
    .replace(/[\r\n\t]+/g, ' · ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return shorten(flat, LIMITS.templateParameter) || '—';
}

export function templateMessage(
  to: string,
  t: { name: string; language: string; bodyParameters: string[]; quickReplyPayloads: string[] },
  opts: SendOptions = {},
): TemplateMessage {
  return {
    ...base(to, opts),
    type: 'template',
    template: {
      name: t.name,
      language: { policy: 'deterministic', code: t.language },
      components: [
        { type: 'body', parameters: t.bodyParameters.map((p) => ({ type: 'text', text: templateParameter(p) })) },
        ...t.quickReplyPayloads.map((payload, i) => ({
          type: 'button' as const,
          sub_type: 'quick_reply' as const,
          index: String(i),
          parameters: [{ type: 'payload' as const, payload: checkPayloadId(payload) }],
        })),
      ],
    },
  };
}
