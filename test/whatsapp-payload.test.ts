import { parseWebhook, WebhookPayloadError, type InboundMessageEvent, type StatusEvent } from '../whatsapp/webhookPayload';

/** Meta's envelope around one change value, as in shared/reference/whatsapp-cloud-api.md. */
const envelope = (value: Record<string, unknown>, field = 'messages') => ({
  object: 'whatsapp_business_account',
  entry: [
    {
      id: '102290129340398',
      changes: [
        {
          field,
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '15550001111', phone_number_id: '123456789012345' },
            ...value,
          },
        },
      ],
    },
  ],
});

const messages = (body: unknown) => parseWebhook(body).events.filter((e): e is InboundMessageEvent => e.type === 'message');
const statuses = (body: unknown) => parseWebhook(body).events.filter((e): e is StatusEvent => e.type === 'status');

describe('parseWebhook', () => {
  it('reads a text message with the contact profile name', () => {
    const raw = { from: '77011234567', id: 'wamid.AAA', timestamp: '1767225600', type: 'text', text: { body: 'BOOKING:42-abcdefghjk' } };
    const [m] = messages(envelope({ contacts: [{ profile: { name: 'Ana Guest' }, wa_id: '77011234567' }], messages: [raw] }));
    expect(m).toEqual({
      type: 'message',
      phoneNumberId: '123456789012345',
      kind: 'text',
      messageId: 'wamid.AAA',
      from: '77011234567',
      fromUserId: undefined,
      name: 'Ana Guest',
      timestamp: 1767225600,
      text: 'BOOKING:42-abcdefghjk',
      contextId: undefined,
      metaType: 'text',
      raw,
    });
  });

  it('reads a reply-button tap with its id and the message it answers', () => {
    const [m] = messages(
      envelope({
        contacts: [{ profile: { name: 'Manager' }, wa_id: '77019876543' }],
        messages: [
          {
            context: { from: '15550001111', id: 'wamid.BUTTONS' },
            from: '77019876543',
            id: 'wamid.BBB',
            timestamp: '1767225700',
            type: 'interactive',
            interactive: { type: 'button_reply', button_reply: { id: 'APPROVE_BOOKING:42', title: 'Approve' } },
          },
        ],
      }),
    );
    expect(m).toMatchObject({ kind: 'button', buttonId: 'APPROVE_BOOKING:42', text: 'Approve', contextId: 'wamid.BUTTONS', from: '77019876543' });
  });

  it('reads a list reply like a button', () => {
    const [m] = messages(
      envelope({
        messages: [
          { from: '77019876543', id: 'wamid.L', timestamp: '1', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'REJECT_BOOKING:7', title: 'Reject', description: 'x' } } },
        ],
      }),
    );
    expect(m).toMatchObject({ kind: 'button', buttonId: 'REJECT_BOOKING:7' });
  });

  it('reads a template quick-reply tap by its payload', () => {
    const [m] = messages(
      envelope({
        messages: [
          {
            context: { from: '15550001111', id: 'wamid.TEMPLATE' },
            from: '77019876543',
            id: 'wamid.CCC',
            timestamp: '1767225800',
            type: 'button',
            button: { payload: 'CONTACT_CLIENT:42', text: 'Contact guest' },
          },
        ],
      }),
    );
    expect(m).toMatchObject({ kind: 'button', buttonId: 'CONTACT_CLIENT:42', text: 'Contact guest', contextId: 'wamid.TEMPLATE' });
  });

  it('falls back to the label of a template tap without a payload', () => {
    const [m] = messages(envelope({ messages: [{ from: '77019876543', id: 'wamid.D', timestamp: '1', type: 'button', button: { text: 'Approve' } }] }));
    expect(m).toMatchObject({ kind: 'button', buttonId: 'Approve' });
  });

  it('keeps a message without `from` (a user known only by a business-scoped id)', () => {
    const [m] = messages(
      envelope({
        contacts: [{ profile: { name: 'No Phone' }, user_id: 'US.1349' }],
        messages: [{ from_user_id: 'US.1349', id: 'wamid.NOFROM', timestamp: '1767225600', type: 'text', text: { body: 'hello' } }],
      }),
    );
    expect(m).toMatchObject({ messageId: 'wamid.NOFROM', from: undefined, fromUserId: 'US.1349', name: 'No Phone', kind: 'text' });
  });

  it('reads other message kinds as `other`', () => {
    const [m] = messages(envelope({ messages: [{ from: '77011234567', id: 'wamid.IMG', timestamp: '1', type: 'image', image: { id: 'media' } }] }));
    expect(m).toMatchObject({ kind: 'other', metaType: 'image' });
  });

  it('reads statuses, including failed ones with their errors, and ignores unknown fields', () => {
    const list = statuses(
      envelope({
        statuses: [
          { id: 'wamid.OUT1', status: 'delivered', timestamp: '1767225900', recipient_id: '77011234567', conversation: { id: 'c' }, pricing: { billable: true }, brand_new_field: 1 },
          {
            id: 'wamid.OUT2',
            status: 'failed',
            timestamp: '1767225901',
            recipient_id: '77019876543',
            errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'more than 24 hours' } }],
          },
        ],
      }),
    );
    expect(list).toEqual([
      expect.objectContaining({ messageId: 'wamid.OUT1', status: 'delivered', timestamp: 1767225900, recipientId: '77011234567', errors: [] }),
      expect.objectContaining({
        messageId: 'wamid.OUT2',
        status: 'failed',
        errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', details: 'more than 24 hours' }],
      }),
    ]);
  });

  it("reads the row a status is for from our callback data, and ignores anyone else's", () => {
    const status = (callback: unknown) => ({ id: 'wamid.OUT', status: 'sent', timestamp: '1', recipient_id: '77011234567', biz_opaque_callback_data: callback });
    const list = statuses(envelope({ statuses: [status('wab:42'), status('campaign-7'), status('wab:0'), status('wab:42x'), status(42), status(undefined)] }));
    expect(list.map((s) => s.outboundId)).toEqual([42, undefined, undefined, undefined, undefined, undefined]);
  });

  it('flattens every entry, change, message and status of a batch', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ from: '77011234567', id: `wamid.M${i}`, timestamp: '1', type: 'text', text: { body: `hi ${i}` } }));
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        envelope({ messages: many.slice(0, 600) }).entry[0],
        {
          id: 'other',
          changes: [
            envelope({ messages: many.slice(600) }).entry[0].changes[0],
            envelope({ statuses: [{ id: 'wamid.S', status: 'sent', timestamp: '1', recipient_id: '1' }] }).entry[0].changes[0],
          ],
        },
      ],
    };
    const { events, skipped } = parseWebhook(body);
    expect(skipped).toBe(0);
    expect(events.filter((e) => e.type === 'message')).toHaveLength(1000);
    expect(events.filter((e) => e.type === 'status')).toHaveLength(1);
  });

  it('skips unreadable items without losing the rest of the batch', () => {
    const { events, skipped } = parseWebhook(
      envelope({
        messages: [{ from: '77011234567', type: 'text', text: { body: 'no id' } }, { from: '77011234567', id: 'wamid.OK', timestamp: 'soon', type: 'text', text: { body: 'ok' } }],
        statuses: [{ id: 'wamid.X' }, 'garbage'],
      }),
    );
    expect(skipped).toBe(3);
    expect(events).toEqual([expect.objectContaining({ messageId: 'wamid.OK', timestamp: undefined })]);
  });

  it('ignores changes of other fields', () => {
    expect(parseWebhook(envelope({ event: 'x' }, 'account_update')).events).toEqual([]);
  });

  it('accepts an empty entry list (Meta test deliveries)', () => {
    expect(parseWebhook({ object: 'whatsapp_business_account', entry: [] })).toEqual({ events: [], skipped: 0 });
  });

  it('tells which business number each event was for', () => {
    const body = envelope({ statuses: [{ id: 'wamid.S', status: 'sent', timestamp: '1', recipient_id: '1' }] });
    (body.entry[0].changes[0].value.metadata as { phone_number_id: string }).phone_number_id = '999';
    expect(statuses(body)).toEqual([expect.objectContaining({ phoneNumberId: '999' })]);
  });

  it('removes NUL and replaces lone surrogates everywhere, so Postgres can store the batch', () => {
    const raw = { from: '77011234567', id: 'wamid.\u0000P', timestamp: '1', type: 'text', text: { body: 'a\u0000b \ud83d c \ude00 d \ud83d\ude00' } };
    const body = JSON.parse(JSON.stringify(envelope({ contacts: [{ profile: { name: 'N\u0000' }, wa_id: '77011234567' }], messages: [raw], ['k\u0000']: 1 })));
    const [m] = messages(body);
    expect(m).toMatchObject({ messageId: 'wamid.P', name: 'N', text: 'ab \ufffd c \ufffd d \ud83d\ude00' });
    // The stored copy too, keys included: nothing Postgres would refuse is left anywhere.
    // (JSON.stringify escapes exactly these: NUL and lone surrogates.)
    expect(JSON.stringify(body)).not.toMatch(/\\u0000|\\ud[89a-f]/);
    expect(JSON.stringify(m.raw)).toContain('ab \ufffd c');
  });

  it('refuses something that is not an envelope', () => {
    expect(() => parseWebhook({ hello: 'world' })).toThrow(WebhookPayloadError);
    expect(() => parseWebhook(null)).toThrow(WebhookPayloadError);
  });
});
