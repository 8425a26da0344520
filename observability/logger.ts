import pino from 'pino';

/**
 * One logger for every process. Secrets never reach it: the redact list catches the
 * places they could travel (headers, tokens); phone numbers are masked by callers
 * with maskPhone() before logging.
 */
/** `level` is config.LOG_LEVEL, validated by loadConfig; the environment is not read here. */
export function createLogger(level: string, name = 'wa-booking'): pino.Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-hub-signature-256"]',
        '*.accessToken',
        '*.token',
        '*.secret',
        '*.password',
      ],
      censor: '[redacted]',
    },
  });
}

export type Logger = pino.Logger;
