import { randomBytes } from 'node:crypto';
import { LIMITS } from '../../whatsapp/messages';

/**
 * Meta's checks on a send request, so the fake refuses what the Cloud API would, with
 * Meta-shaped error bodies and Meta's codes.
 *
 * One deliberate difference: a `to` without `+` is refused (Meta would guess a country
 * code), because sending one is a bug in our code.
 */
export type FakeMessageType = 'text' | 'interactive' | 'template';

export interface FakeTemplate {
  name: string;
  languages: string[];
  bodyParameters: number;
  quickReplies: number;
}

export class MetaError {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    readonly message: string,
    readonly details?: string,
  ) {}
  body() {
    return {
      error: {
        message: `(#${this.code}) ${this.message}`,
        type: 'OAuthException',
        code: this.code,
        ...(this.details && { error_data: { messaging_product: 'whatsapp', details: this.details } }),
        fbtrace_id: `Fake${randomBytes(8).toString('hex')}`,
      },
    };
  }
}

const invalid = (details: string) => new MetaError(400, 131009, 'Parameter value is not valid', details);
export const badParam = (details: string) => new MetaError(400, 100, 'Invalid parameter', details);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function validateInteractive(i: unknown): void {
  if (!isObject(i)) throw badParam('interactive is required for type interactive');
  const body = isObject(i.body) ? str(i.body.text) : undefined;
  if (!body) throw badParam('interactive.body.text is required');
  if (body.length > LIMITS.interactiveBody) throw invalid(`Body text length invalid. Max length: ${LIMITS.interactiveBody}`);
  if (i.header !== undefined) {
    const header = isObject(i.header) ? str(i.header.text) : undefined;
    if (!header || (isObject(i.header) && i.header.type !== 'text')) throw invalid('Only text headers are supported here');
    if (header.length > LIMITS.header) throw invalid(`Header text length invalid. Max length: ${LIMITS.header}`);
  }
  if (i.footer !== undefined) {
    const footer = isObject(i.footer) ? str(i.footer.text) : undefined;
    if (!footer || footer.length > LIMITS.footer) throw invalid(`Footer text length invalid. Max length: ${LIMITS.footer}`);
  }
  const action = isObject(i.action) ? i.action : undefined;
  if (!action) throw badParam('interactive.action is required');
  if (i.type === 'button') {
    const buttons = Array.isArray(action.buttons) ? action.buttons : [];
    if (buttons.length < 1 || buttons.length > LIMITS.buttons) throw invalid(`Buttons count invalid. Min: 1, Max: ${LIMITS.buttons}`);
    const ids = new Set<string>();
    const titles = new Set<string>();
    for (const b of buttons) {
      const reply = isObject(b) && b.type === 'reply' && isObject(b.reply) ? b.reply : undefined;
      const id = str(reply?.id);
      const title = str(reply?.title);
      if (!id || id.length > LIMITS.buttonId || id !== id.trim()) throw invalid(`Button id invalid. Min length: 1, Max length: ${LIMITS.buttonId}`);
      if (!title || title.length > LIMITS.buttonTitle) throw invalid(`Button title length invalid. Min length: 1, Max length: ${LIMITS.buttonTitle}`);
      if (ids.has(id)) throw invalid('Duplicate buttons ids');
      if (titles.has(title)) throw invalid('Duplicate button titles');
      ids.add(id);
      titles.add(title);
    }
  } else if (i.type === 'cta_url') {
    const p = action.name === 'cta_url' && isObject(action.parameters) ? action.parameters : undefined;
    const text = str(p?.display_text);
    if (!text || text.length > LIMITS.ctaDisplayText) throw invalid(`display_text length invalid. Max length: ${LIMITS.ctaDisplayText}`);
    if (!/^https?:\/\/\S+$/.test(str(p?.url) ?? '')) throw invalid('url is not a valid URL');
  } else if (i.type === 'list') {
    validateList(action);
  } else {
    throw badParam(`interactive type ${String(i.type)} is not supported by the fake`);
  }
}

/** A list message's action: its button, at most ten sections and ten rows in all, each row's limits. */
function validateList(action: Record<string, unknown>): void {
  const button = str(action.button);
  if (!button || button.length > LIMITS.listButton) throw invalid(`Button text length invalid. Min length: 1, Max length: ${LIMITS.listButton}`);
  const sections = Array.isArray(action.sections) ? action.sections : [];
  if (sections.length < 1 || sections.length > LIMITS.listSections) throw invalid(`Sections count invalid. Min: 1, Max: ${LIMITS.listSections}`);
  const ids = new Set<string>();
  const titles = new Set<string>();
  let rows = 0;
  for (const section of sections) {
    if (!isObject(section)) throw badParam('a section must be an object');
    const title = section.title === undefined ? undefined : str(section.title);
    if (section.title !== undefined && (!title || title.length > LIMITS.sectionTitle)) throw invalid(`Section title length invalid. Max length: ${LIMITS.sectionTitle}`);
    if (sections.length > 1 && !title) throw badParam('Section title is required when there is more than one section');
    const sectionRows = Array.isArray(section.rows) ? section.rows : [];
    if (!sectionRows.length) throw invalid('Rows count invalid. Min: 1');
    for (const row of sectionRows) {
      rows++;
      const id = isObject(row) ? str(row.id) : undefined;
      const rowTitle = isObject(row) ? str(row.title) : undefined;
      const description = isObject(row) && row.description !== undefined ? str(row.description) : undefined;
      if (!id || id.length > LIMITS.rowId || id !== id.trim()) throw invalid(`Row id invalid. Min length: 1, Max length: ${LIMITS.rowId}`);
      if (!rowTitle || rowTitle.length > LIMITS.rowTitle) throw invalid(`Row title length invalid. Min length: 1, Max length: ${LIMITS.rowTitle}`);
      if (isObject(row) && row.description !== undefined && (!description || description.length > LIMITS.rowDescription)) {
        throw invalid(`Row description length invalid. Max length: ${LIMITS.rowDescription}`);
      }
      if (ids.has(id)) throw invalid('Duplicate row ids');
      if (titles.has(rowTitle)) throw invalid('Duplicate row titles');
      ids.add(id);
      titles.add(rowTitle);
    }
  }
  if (rows > LIMITS.listRows) throw invalid(`Rows count invalid. Max: ${LIMITS.listRows}`);
}

function validateTemplate(t: unknown, templates: FakeTemplate[] | undefined): void {
  if (!isObject(t)) throw badParam('template is required for type template');
  const name = str(t.name);
  const language = isObject(t.language) ? str(t.language.code) : undefined;
  if (!name || !/^[a-z0-9_]+$/.test(name)) throw badParam('template.name is invalid');
  if (!language) throw badParam('template.language.code is required');
  const components = Array.isArray(t.components) ? t.components.filter(isObject) : [];
  const body = components.find((c) => c.type === 'body');
  const params = body && Array.isArray(body.parameters) ? body.parameters : [];
  for (const p of params) {
    const text = isObject(p) && p.type === 'text' ? str(p.text) : undefined;
    if (!text) throw new MetaError(400, 131008, 'Required parameter is missing', 'body parameters must be non-empty text');
    if (/[\n\t]| {5,}/.test(text)) {
      throw new MetaError(400, 132018, 'There was an issue with the parameters in your template.', 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces');
    }
  }
  const quickReplies = components.filter((c) => c.type === 'button' && c.sub_type === 'quick_reply');
  for (const q of quickReplies) {
    const payload = Array.isArray(q.parameters) && isObject(q.parameters[0]) ? str(q.parameters[0].payload) : undefined;
    if (!payload || !/^\d+$/.test(str(q.index) ?? '')) throw invalid('quick_reply buttons need an index and a payload');
  }
  if (!templates) return;
  const known = templates.find((x) => x.name === name && x.languages.includes(language));
  if (!known) throw new MetaError(404, 132001, 'Template name does not exist in the translation', `template name (${name}) does not exist in ${language}`);
  if (params.length !== known.bodyParameters) {
    throw new MetaError(400, 132000, 'Number of parameters does not match the expected number of params', `body: number of localizable_params (${params.length}) does not match the expected number of params (${known.bodyParameters})`);
  }
  if (quickReplies.length > known.quickReplies) throw invalid(`the template has ${known.quickReplies} quick-reply buttons`);
}

/** Meta's checks on a send request, in the order Meta reports them; throws a MetaError. */
export function validateMessage(body: unknown, templates: FakeTemplate[] | undefined): { to: string; type: FakeMessageType } {
  if (!isObject(body)) throw badParam('the request body must be a JSON object');
  if (body.messaging_product !== 'whatsapp') throw badParam('The parameter messaging_product is required.');
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') throw badParam('recipient_type must be individual');
  const to = str(body.to);
  if (!to) throw badParam('The parameter to is required.');
  if (!/^\+[1-9]\d{6,14}$/.test(to)) throw badParam('to must be + followed by the country code and number (the fake refuses numbers without +)');
  if (body.context !== undefined && !(isObject(body.context) && str(body.context.message_id))) throw badParam('context.message_id must be a string');
  const callbackData = body.biz_opaque_callback_data;
  if (callbackData !== undefined && (typeof callbackData !== 'string' || callbackData.length > LIMITS.callbackData)) {
    throw invalid(`biz_opaque_callback_data must be a string of at most ${LIMITS.callbackData} characters`);
  }
  switch (body.type) {
    case 'text': {
      const text = isObject(body.text) ? str(body.text.body) : undefined;
      if (!text) throw badParam('The parameter text[\'body\'] is required.');
      if (text.length > LIMITS.textBody) throw badParam(`Param text['body'] must be at most ${LIMITS.textBody} characters long.`);
      return { to, type: 'text' };
    }
    case 'interactive':
      validateInteractive(body.interactive);
      return { to, type: 'interactive' };
    case 'template':
      validateTemplate(body.template, templates);
      return { to, type: 'template' };
    default:
      throw badParam(`message type ${String(body.type)} is not supported by the fake`);
  }
}
