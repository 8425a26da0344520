import { randomBytes } from 'node:crypto';
import { phoneDigits } from '../../domain/phone';
import type { FakeMessageType } from './meta';

/** What the fake remembers: every request, the messages it accepted and received, the chats' 24-hour windows. */
export interface FakeFailure {
  /** Only messages to this number (E.164 or digits); any recipient when absent. */
  to?: string;
  type?: FakeMessageType;
  code: number;
  title?: string;
  details?: string;
  /** sync: an HTTP error answer; async: accepted, then a `failed` status webhook. Default sync. */
  mode?: 'sync' | 'async';
  /** How many matching messages fail; every one when absent. */
  times?: number;
}

export interface RecordedRequest {
  at: Date;
  method: string;
  path: string;
  /** Whether the Authorization header carried the right token (the token itself is not kept). */
  authorized: boolean;
  body: unknown;
  status: number;
  response: unknown;
}

export interface AcceptedMessage {
  id: string;
  /** Digits, as Meta's webhooks write numbers. */
  to: string;
  type: FakeMessageType;
  body: Record<string, unknown>;
  at: Date;
  /** The last status webhook emitted for it; undefined until one is (or when no webhook is configured). */
  status?: 'sent' | 'delivered' | 'read' | 'failed';
  error?: { code: number; title: string };
}

/** A message a person sent to the business number through receiveText or tapButton. */
export interface InboundMessage {
  id: string;
  /** Digits, as in the webhook. */
  from: string;
  at: Date;
  /** The entry of `value.messages[]` as delivered (without from, id and timestamp). */
  message: Record<string, unknown>;
}

const WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * `window` enforces the 24-hour window: a free-form message to someone who has not written
 * in the last 24 hours fails with 131047, in the HTTP answer (sync) or as a failed status (async).
 */
export function createGraphState(window: 'sync' | 'async' | undefined) {
  const requests: RecordedRequest[] = [];
  const accepted: AcceptedMessage[] = [];
  const received: InboundMessage[] = [];
  let failures: FakeFailure[] = [];
  /** Digits → when that person last wrote to the business number. */
  const windows = new Map<string, number>();
  let sequence = 0;

  const newId = () => `wamid.FAKE${(++sequence).toString(36).toUpperCase()}${randomBytes(9).toString('base64url')}`;

  return {
    requests,
    accepted,
    received,
    fail: (failure: FakeFailure) => {
      failures.push({ ...failure });
    },
    clearFailures: () => {
      failures = [];
    },
    openWindow: (phone: string) => {
      windows.set(phoneDigits(phone), Date.now());
    },
    /** The failure a message to `to` (digits) must meet: a configured one first, then the closed window. */
    takeFailure(to: string, type: FakeMessageType): FakeFailure | undefined {
      const failure = failures.find((f) => (!f.to || phoneDigits(f.to) === to) && (!f.type || f.type === type));
      if (failure?.times !== undefined && --failure.times <= 0) failures = failures.filter((f) => f !== failure);
      if (failure) return failure;
      const open = (windows.get(to) ?? 0) > Date.now() - WINDOW_MS;
      if (window && type !== 'template' && !open) {
        return { code: 131047, title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.', mode: window };
      }
      return undefined;
    },
    accept(to: string, type: FakeMessageType, body: Record<string, unknown>): AcceptedMessage {
      const message: AcceptedMessage = { id: newId(), to, type, body, at: new Date() };
      accepted.push(message);
      return message;
    },
    /** A person writes: it opens their window, as on Meta's side. */
    receive(from: string, message: Record<string, unknown>): InboundMessage {
      const digits = phoneDigits(from);
      windows.set(digits, Date.now());
      const inbound: InboundMessage = { id: newId(), from: digits, at: new Date(), message };
      received.push(inbound);
      return inbound;
    },
  };
}

export type GraphState = ReturnType<typeof createGraphState>;
