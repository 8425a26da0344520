/** Buttons and lists as numbered text for WhatsApp Web, and a bare number read back as the tap. */
import { buttonsMessage, ctaUrlMessage, listMessage, templateMessage, textMessage } from '../whatsapp/messages';
import { asNumberedText, choiceOfReply, numberedChoices, replyNumber } from '../whatsapp/waha/numbered';

const request = buttonsMessage('+77011234567', {
  header: 'New booking',
  body: 'Table 5, Sat 19:30, 4 guests',
  footer: 'Reply within 10 min',
  buttons: [
    { id: 'APPROVE_BOOKING:42', title: 'Approve' },
    { id: 'REJECT_BOOKING:42', title: 'Reject' },
    { id: 'GUEST_PHONE:42', title: "Guest's number" },
  ],
});

test('reply buttons: numbered in their order, the text keeps header, body and footer', () => {
  expect(numberedChoices(request)).toEqual([
    { number: 1, id: 'APPROVE_BOOKING:42', title: 'Approve' },
    { number: 2, id: 'REJECT_BOOKING:42', title: 'Reject' },
    { number: 3, id: 'GUEST_PHONE:42', title: "Guest's number" },
  ]);
  expect(asNumberedText(request)).toBe("*New booking*\n\nTable 5, Sat 19:30, 4 guests\n\n1️⃣ Approve\n2️⃣ Reject\n3️⃣ Guest's number\n\n_Reply within 10 min_");
});

test('list rows across sections, in order; a template by its quick replies; none for text and links', () => {
  const list = listMessage('+77011234567', {
    body: 'Why reject?',
    button: 'Reasons',
    sections: [
      { title: 'Common', rows: [{ id: 'R:1', title: 'Fully booked' }, { id: 'R:2', title: 'Closed' }] },
      { title: 'Other', rows: [{ id: 'R:3', title: 'Other reason', description: 'type it' }] },
    ],
  });
  expect(numberedChoices(list).map((c) => [c.number, c.id])).toEqual([
    [1, 'R:1'],
    [2, 'R:2'],
    [3, 'R:3'],
  ]);
  expect(asNumberedText(list)).toBe('Why reject?\n\n1️⃣ Fully booked\n2️⃣ Closed\n3️⃣ Other reason');
  const template = templateMessage('+77011234567', { name: 'booking_reminder', language: 'en', bodyParameters: ['x'], quickReplyPayloads: ['CONFIRM_VISIT:7', 'CANCEL_BOOKING:7'] });
  expect(numberedChoices(template).map((c) => c.id)).toEqual(['CONFIRM_VISIT:7', 'CANCEL_BOOKING:7']);
  expect(() => asNumberedText(template)).toThrow(/has no text form/);
  const link = ctaUrlMessage('+77011234567', { body: 'Your console', displayText: 'Open', url: 'https://example.com/c/1' });
  expect(numberedChoices(link)).toEqual([]);
  expect(asNumberedText(link)).toBe('Your console\n\nOpen: https://example.com/c/1');
  expect(asNumberedText(textMessage('+77011234567', 'Hi'))).toBe('Hi');
  expect(numberedChoices(textMessage('+77011234567', 'Hi'))).toEqual([]);
  expect(numberedChoices({ type: 'interactive' })).toEqual([]);
  expect(numberedChoices(null)).toEqual([]);
});

test('a reply is a number only when it is nothing else', () => {
  for (const [text, n] of [
    ['2', 2],
    [' 2. ', 2],
    ['2)', 2],
    ['#2', 2],
    ['２', 2],
    ['2️⃣', 2],
    ['🔟', 10],
  ] as const) {
    expect(replyNumber(text)).toBe(n);
  }
  for (const text of ['2 people', 'two', '', '1-2', '123', undefined]) expect(replyNumber(text)).toBeUndefined();
  const choices = numberedChoices(request);
  expect(choiceOfReply('3', choices)?.id).toBe('GUEST_PHONE:42');
  expect(choiceOfReply('4', choices)).toBeUndefined();
  expect(choiceOfReply('1', [])).toBeUndefined();
});
