/** The fake WAHA server: the sandbox's WhatsApp Web gateway, and the tests' WAHA. */
export {
  startFakeWaha,
  type FakeReceivedMessage,
  type FakeSentMessage,
  type FakeSessionStatus,
  type FakeWaha,
  type FakeWahaDelivery,
  type FakeWahaEngine,
  type FakeWahaOptions,
  type FakeWahaRequest,
  type FakeWahaWebhook,
} from './server';
