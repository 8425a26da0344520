/** The fake WhatsApp Cloud API: the sandbox's Graph server, and the end-to-end tests' Meta. */
export type { FakeMessageType, FakeTemplate } from './meta';
export { startFakeGraphApi, type FakeGraphApi, type FakeGraphApiOptions } from './server';
export type { AcceptedMessage, FakeFailure, InboundMessage, RecordedRequest } from './state';
export { webhookEnvelope, type FakeWebhookOptions, type WebhookDelivery } from './webhooks';
