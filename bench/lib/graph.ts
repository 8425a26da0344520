/**
 * The one place the harness touches the fake Graph API, so moving or rewriting it changes
 * one import here. Its HTTP side and its record of accepted messages are used; the harness
 * sends inbound webhooks itself (meta.ts), and status webhooks come from the fake only when
 * a stack asks for them.
 */
import { startFakeGraphApi } from '../../sandbox/graph';
import { PHONE_NUMBER_ID } from './meta';

export interface AcceptedSend {
  id: string;
  /** Digits. */
  to: string;
  type: string;
  body: Record<string, unknown>;
  at: Date;
}

export interface GraphStandIn {
  url: string;
  accepted: AcceptedSend[];
  /** Signed status webhooks (sent → delivered → read) for every accepted send, to `url`, as Meta sends them. */
  sendStatusesTo(url: string, appSecret: string): void;
  close(): Promise<void>;
}

export const GRAPH_ACCESS_TOKEN = 'bench-graph-token';

export async function startGraphStandIn(): Promise<GraphStandIn> {
  const fake = await startFakeGraphApi({ accessToken: GRAPH_ACCESS_TOKEN, phoneNumberId: PHONE_NUMBER_ID });
  return {
    url: fake.url,
    accepted: fake.accepted,
    sendStatusesTo: (url, appSecret) => fake.configureWebhook({ url, appSecret }),
    close: () => fake.close(),
  };
}
