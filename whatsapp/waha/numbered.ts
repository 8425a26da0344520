import type { OutboundMessage } from '../messages';

/**
 * Reply buttons and lists on a gateway that cannot send them (WhatsApp Web through WAHA):
 * the same rendered message as plain text, its choices numbered, and a reply of a bare number
 * read back as the tap on that choice. The numbering is derived from the message itself, so
 * the stored message (whatsapp_messages.payload) is all a reply needs to be understood.
 */
export interface NumberedChoice {
  number: number;
  /** The button or row id a tap would carry (domain/actions.ts). */
  id: string;
  title: string;
}

// Keycap digits read the same in every language, and WhatsApp shows them as buttons would look.
const KEYCAPS = ['0️⃣', '1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣', '6️⃣', '7️⃣', '8️⃣', '9️⃣', '🔟'];
const keycap = (n: number) => KEYCAPS[n] ?? `${n}.`;

/**
 * A message's choices in the order a phone shows them: reply buttons; list rows section by
 * section; a template's quick replies by index (their labels live in the template, so the
 * title is the payload). None for text and link messages. Tolerates any stored JSON.
 */
export function numberedChoices(message: unknown): NumberedChoice[] {
  const m = message as Partial<OutboundMessage> | null;
  const numbered = (items: { id: string; title: string }[]) => items.map((c, i) => ({ number: i + 1, ...c }));
  if (m?.type === 'interactive' && m.interactive?.type === 'button') {
    return numbered(m.interactive.action.buttons.map((b) => ({ id: b.reply.id, title: b.reply.title })));
  }
  if (m?.type === 'interactive' && m.interactive?.type === 'list') {
    return numbered(m.interactive.action.sections.flatMap((s) => s.rows.map((r) => ({ id: r.id, title: r.title }))));
  }
  if (m?.type === 'template' && Array.isArray(m.template?.components)) {
    const replies = m.template.components.flatMap((c) => (c.type === 'button' && c.sub_type === 'quick_reply' ? [c] : []));
    return numbered(
      replies
        .sort((a, b) => Number(a.index) - Number(b.index))
        .map((c) => ({ id: c.parameters[0]!.payload, title: c.parameters[0]!.payload })),
    );
  }
  return [];
}

/**
 * The message as WhatsApp Web text: the header in bold, the body, the choices one per line
 * ("1️⃣ Approve"), the footer in italics; a link button as its label and URL. A template has
 * no text here (its wording is Meta's copy): WAHA sends the interactive form it stands for.
 */
export function asNumberedText(message: OutboundMessage): string {
  if (message.type === 'text') return message.text.body;
  if (message.type === 'template') throw new Error(`template ${message.template.name} has no text form: send the message it stands for`);
  const { header, body, footer } = message.interactive;
  const lines = [header && `*${header.text}*`, body.text];
  if (message.interactive.type === 'cta_url') {
    const { display_text, url } = message.interactive.action.parameters;
    lines.push(`${display_text}: ${url}`);
  } else {
    const choices = numberedChoices(message);
    lines.push(choices.map((c) => `${keycap(c.number)} ${c.title}`).join('\n'));
  }
  if (footer) lines.push(`_${footer.text}_`);
  return lines.filter(Boolean).join('\n\n');
}

const FULLWIDTH_ZERO = 0xff10;

/**
 * The number a reply is when it is a number and nothing else: "2", " 2. ", "2)", "#2", "２"
 * (a full-width digit, as some keyboards type), "2️⃣" (the keycap we sent). Text around it
 * ("2 people") makes it no number.
 */
export function replyNumber(text: string | undefined): number | undefined {
  if (!text) return undefined;
  if (text.trim() === '🔟') return 10;
  const ascii = text.replace(/[\uff10-\uff19]/g, (d) => String(d.charCodeAt(0) - FULLWIDTH_ZERO)).replace(/\ufe0f?\u20e3/g, '');
  const match = /^\s*#?\s*(\d{1,2})\s*[.)]?\s*$/.exec(ascii);
  return match ? Number(match[1]) : undefined;
}

/** The choice a reply names; a number no choice has names none. */
export function choiceOfReply(text: string | undefined, choices: NumberedChoice[]): NumberedChoice | undefined {
  const n = replyNumber(text);
  return n === undefined ? undefined : choices.find((c) => c.number === n);
}
