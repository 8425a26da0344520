import type { Request } from 'express';
import { z } from 'zod';
import { normalizePhone } from '../domain/phone';
import { notFound, validationFailed, zodProblems, type FieldProblem } from './errors';

/** Largest Postgres `integer` (ids are `serial`s): a larger number would fail in the database, not here. */
export const PG_INT_MAX = 2_147_483_647;

/** An id inside a body: a positive integer that fits the database column. */
export const idSchema = z.number().int().min(1).max(PG_INT_MAX);

/**
 * Text Postgres can store and every client can render: a NUL (which a `text` column refuses)
 * or a lone UTF-16 surrogate (which has no UTF-8 form) makes the whole request a 400
 * validation_failed. Refused rather than cleaned, so what we store is what was sent.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isStorableText = (value: string) => !value.includes('\u0000') && !LONE_SURROGATE.test(value);
const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** Every free text field of the APIs: storable, trimmed, within `min`..`max` characters. */
export function text({ min = 0, max }: { min?: number; max: number }) {
  return z.string().refine(isStorableText, STORABLE_TEXT_MESSAGE).trim().min(min).max(max);
}

/** A phone number as a person types it, stored and compared in E.164 (`+77011234567`). */
export const phoneNumber = text({ max: 40 }).transform((value, ctx) => {
  const e164 = normalizePhone(value);
  if (e164) return e164;
  ctx.addIssue({
    code: 'custom',
    message: 'not a valid phone number; use the international format with the country code, e.g. +77011234567',
  });
  return z.NEVER;
});

/** Years Postgres, JavaScript and every client agree on; anything else is a typo or an attack. */
const SANE_YEARS = { min: 1900, max: 9999 };

/** An ISO-8601 date-time with an offset, within SANE_YEARS. */
export function dateTime(error = 'must be an ISO-8601 date-time with an offset, e.g. 2030-01-12T19:30:00+05:00') {
  return z.iso.datetime({ offset: true, error }).refine((value) => {
    const year = new Date(value).getUTCFullYear();
    return year >= SANE_YEARS.min && year <= SANE_YEARS.max;
  }, `must be between the years ${SANE_YEARS.min} and ${SANE_YEARS.max}`);
}

// Zod's default for a missing field ("expected string, received undefined") reads like a type error.
const reportMissingAsRequired: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

function parse<S extends z.ZodType>(schema: S, input: unknown, location: FieldProblem['in']): z.output<S> {
  const result = schema.safeParse(input, { error: reportMissingAsRequired });
  if (!result.success) throw validationFailed(zodProblems(result.error, location));
  return result.data;
}

/** The JSON body, or 400 validation_failed listing every problem. */
export function parseBody<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  // express.json leaves the body undefined when there is none or it is not JSON.
  if (req.body === undefined) {
    throw validationFailed([{ in: 'body', path: '', message: 'a JSON body is required (Content-Type: application/json)' }]);
  }
  return parse(schema, req.body, 'body');
}

/** The query string (values arrive as strings: use z.coerce for numbers), or 400 validation_failed. */
export function parseQuery<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  return parse(schema, req.query, 'query');
}

/**
 * Keyset cursor of a list paged newest first on id (the inbox, the message log): the id of
 * the page's last row, opaque to clients.
 */
export const encodeIdCursor = (row: { id: number }) => Buffer.from(String(row.id)).toString('base64url');

/** The id encodeIdCursor wrote, or 400 validation_failed on `cursor`. */
export function decodeIdCursor(cursor: string): number {
  const raw = Buffer.from(cursor, 'base64url').toString();
  if (!/^[1-9]\d{0,9}$/.test(raw) || Number(raw) > PG_INT_MAX) {
    throw validationFailed([{ in: 'query', path: 'cursor', message: 'not a cursor this API returned' }]);
  }
  return Number(raw);
}

/**
 * A path id. One that is not a positive integer cannot name any record, so it gets the
 * same 404 as a well-formed id that names none: "no such <resource>" has one answer.
 */
export function parseId(req: Request, param: string, resource: string): number {
  const raw = String(req.params[param] ?? '');
  const id = /^[1-9]\d{0,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(id <= PG_INT_MAX)) throw notFound(resource, raw);
  return id;
}
