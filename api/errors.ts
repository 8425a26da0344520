import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isGrpcServiceError } from '@temporalio/client';
import { KnexTimeoutError } from 'knex';
import { DatabaseError } from 'pg';
import { z } from 'zod';
import type { Logger } from '../observability/logger';

/**
 * Every error the API returns has one shape: `{"error": {"code", "message", "details"?}}`.
 * Clients branch on `code`, which never changes once shipped; `message` is for people.
 *
 * | code                   | status | when                                                             |
 * |------------------------|--------|------------------------------------------------------------------|
 * | validation_failed      | 400    | body, query or path failed validation; details: FieldProblem[]   |
 * | invalid_json           | 400    | the body is not parseable JSON                                   |
 * | bad_request            | 400    | any other malformed request (e.g. an undecodable URL)            |
 * | unauthorized           | 401    | missing or wrong bearer token (WWW-Authenticate tells which)     |
 * | forbidden              | 403    | authenticated, but this request is refused (webhook handshake,   |
 * |                        |        | a manager asking about a restaurant that is not theirs)          |
 * | not_found              | 404    | no such route, or the named resource does not exist              |
 * | conflict               | 409    | a duplicate, or a record still referenced elsewhere              |
 * | not_allowed_in_status  | 409    | the booking's status forbids the request, or another decision    |
 * |                        |        | was applied first; details: {status: <the status it is in>}      |
 * | payload_too_large      | 413    | the body is over the limit (100 kB for JSON)                     |
 * | unsupported_media_type | 415    | a JSON body in an unsupported charset or content encoding        |
 * | rate_limited           | 429    | too many requests from this client; RateLimit headers say when   |
 * | internal               | 500    | anything unexpected; the details are only in the log             |
 * | unavailable            | 503    | Postgres or Temporal cannot be reached now; retry after Retry-After |
 */
const STATUS_BY_CODE = {
  validation_failed: 400,
  invalid_json: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  not_allowed_in_status: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof STATUS_BY_CODE;
export const ERROR_CODES = Object.keys(STATUS_BY_CODE) as [ErrorCode, ...ErrorCode[]];

/** One entry of `details` for validation_failed: which input, which field, and why. */
export interface FieldProblem {
  in?: 'body' | 'query' | 'params';
  /** Dotted path into the input (`features.2`); empty for the input as a whole. */
  path: string;
  message: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export class ApiError extends Error {
  readonly status: number;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = STATUS_BY_CODE[code];
    this.details = options.details;
    this.headers = options.headers;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function notFound(resource: string, id?: string | number): ApiError {
  return new ApiError('not_found', id === undefined ? `${resource} not found` : `${resource} ${id} not found`, {
    details: { resource, id },
  });
}

export function conflict(message: string, details?: unknown): ApiError {
  return new ApiError('conflict', message, { details });
}

/** A booking request its workflow refused or overtook: the client learns the status it is in. */
export function notAllowedInStatus(status: string): ApiError {
  return new ApiError('not_allowed_in_status', `not allowed while the booking is ${status}`, { details: { status } });
}

export function validationFailed(details: FieldProblem[], message = 'the request is not valid'): ApiError {
  return new ApiError('validation_failed', message, { details });
}

/** `challenge` is the WWW-Authenticate value (RFC 6750 for bearer tokens). */
export function unauthorized(message: string, challenge: string): ApiError {
  return new ApiError('unauthorized', message, { headers: { 'WWW-Authenticate': challenge } });
}

/** Seconds a client should wait before retrying a request that met an unavailable dependency. */
export const RETRY_AFTER_SECONDS = 5;

export function unavailable(message: string): ApiError {
  return new ApiError('unavailable', message, { headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}

export function zodProblems(error: z.ZodError, location?: FieldProblem['in']): FieldProblem[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // One entry per unknown key reads better than one entry naming the parent.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ in: location, path: [...path, key].join('.'), message: 'unknown field' }));
    }
    return [{ in: location, path: path.join('.'), message: issue.message }];
  });
}

/** The errors body-parser raises, tagged with a `type` (https://github.com/expressjs/body-parser#errors). */
interface HttpError extends Error {
  status: number;
  type?: string;
  expose?: boolean;
}

function isHttpError(err: unknown): err is HttpError {
  return err instanceof Error && typeof (err as Partial<HttpError>).status === 'number';
}

// Postgres SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';
const EXCLUSION_VIOLATION = '23P01';
/**
 * Values the client sent that Postgres refuses (a string it cannot store, a number or a date
 * out of range, a CHECK or NOT NULL constraint): validation should have caught them, and
 * if one slips through it is still the request that is wrong, not the server.
 */
const BAD_VALUE_CODES = new Set([
  '22001', // string_data_right_truncation
  '22003', // numeric_value_out_of_range
  '22007', // invalid_datetime_format
  '22008', // datetime_field_overflow
  '22021', // character_not_in_repertoire (e.g. NUL)
  '22P02', // invalid_text_representation
  '22P05', // untranslatable_character
  '23502', // not_null_violation
  '23514', // check_violation
]);
/** The server is going away, refuses connections, or has too many: worth a retry later. */
const UNAVAILABLE_PG_CODES = /^(08|57P0[123]|53300)/;
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
// gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/**
 * Whether the error says a dependency (Postgres, Temporal) cannot be reached right now,
 * rather than that the request or our code is wrong. Walks `cause` chains: the Temporal
 * client wraps gRPC errors in its ServiceError.
 */
export function isDependencyUnavailable(err: unknown): boolean {
  // Duck-typed, not `instanceof Error`: socket errors come from Node's own realm (under jest, another one).
  for (let e = err as (Error & { code?: unknown }) | undefined, depth = 0; e && typeof e === 'object' && depth < 5; e = e.cause as typeof e, depth++) {
    if (e instanceof KnexTimeoutError) return true; // the pool found no connection in acquireConnectionTimeout
    if (e instanceof DatabaseError) return UNAVAILABLE_PG_CODES.test(e.code ?? '');
    if (isGrpcServiceError(e)) return e.code === GRPC_UNAVAILABLE || e.code === GRPC_DEADLINE_EXCEEDED;
    if (typeof e.code === 'string' && UNAVAILABLE_SOCKET_CODES.has(e.code)) return true;
    // pg's wording when the server closes a connection under a running query; it carries no code.
    if (typeof e.message === 'string' && e.message.startsWith('Connection terminated')) return true;
  }
  return false;
}

/** Maps what the layers below throw to the public shape; undefined means "unexpected". */
function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return validationFailed(zodProblems(err));
  if (err instanceof DatabaseError) {
    // Neither the SQL nor the key values in pg's message/detail may reach the client.
    if (err.code === UNIQUE_VIOLATION) return conflict('a record with the same unique values already exists');
    if (err.code === EXCLUSION_VIOLATION) return conflict('the record overlaps an existing one');
    if (err.code === FOREIGN_KEY_VIOLATION) {
      // The referencing side ("insert or update on table ...") names a parent that is gone;
      // the referenced side ("update or delete ...") is a row something still points at.
      // pg gives no field to tell them apart; a server with non-English messages gets 409.
      return err.message.includes('insert or update on table')
        ? new ApiError('not_found', 'a referenced record does not exist')
        : conflict('the record is still referenced by other records');
    }
    if (err.code && BAD_VALUE_CODES.has(err.code)) {
      return new ApiError('bad_request', 'a value in the request cannot be stored (bad characters, or out of range)');
    }
  }
  if (isDependencyUnavailable(err)) return unavailable('a service this request needs is unavailable; retry later');
  if (err instanceof DatabaseError) return undefined;
  if (isHttpError(err) && err.status >= 400 && err.status < 500) {
    switch (err.type) {
      case 'entity.parse.failed':
        return new ApiError('invalid_json', 'the request body is not valid JSON');
      case 'entity.too.large':
        return new ApiError('payload_too_large', 'the request body is too large');
      case 'charset.unsupported':
      case 'encoding.unsupported':
        return new ApiError('unsupported_media_type', err.message);
    }
    return new ApiError('bad_request', err.expose ? err.message : 'the request is malformed');
  }
  return undefined;
}

export const notFoundHandler: RequestHandler = (req) => {
  throw new ApiError('not_found', `no route for ${req.method} ${req.path}`);
};

/** The last middleware: writes every error in the one shape; a 500 carries nothing internal. */
export const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
  if (res.headersSent) {
    next(err); // Express then aborts the half-sent response.
    return;
  }
  sendError(req, res, err);
};

/** errorHandler's answer, for a request served outside express too (api/bareRoutes.ts). */
export function sendError(req: { id: string; log: Logger }, res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let apiError = toApiError(err);
  if (apiError?.code === 'unavailable' && !(err instanceof ApiError)) req.log.warn({ err }, 'dependency unavailable');
  if (!apiError) {
    req.log.error({ err }, 'unhandled error');
    apiError = new ApiError('internal', `internal error; quote request id ${req.id} when reporting it`);
  }
  const body = JSON.stringify(apiError.toBody());
  res.writeHead(apiError.status, {
    ...apiError.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
