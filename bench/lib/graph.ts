/**
 * The one place the harness touches the fake Graph API, so moving or rewriting it changes
 * one import here. Only its HTTP side and its record of accepted messages are used: the
 * harness sends webhooks itself (meta.ts).
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
  close(): Promise<void>;
}

export const GRAPH_ACCESS_TOKEN = 'bench-graph-token';

export async function startGraphStandIn(): Promise<GraphStandIn> {
  const fake = await startFakeGraphApi({ accessToken: GRAPH_ACCESS_TOKEN, phoneNumberId: PHONE_NUMBER_ID });
  return { url: fake.url, accepted: fake.accepted, close: () => fake.close() };
}
