/**
 * Failure messages and stack traces can quote what went wrong with a guest (e.g. a WhatsApp
 * error naming the recipient); this moves them into an encoded payload, which the
 * EncryptionCodec then encrypts like any other. Loaded by path (DataConverter's
 * `failureConverterPath`) because it also runs inside the workflow sandbox: no Node built-ins here.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
