/**
 * The error registry: every failure a caller can see is one of these typed
 * values, with a stable protocol `code`. `http/errors.ts` and the gateway map
 * them to HTTP statuses and WebSocket replies in one place each.
 */

export const errorCodes = {
  invalid_request: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface FieldIssue {
  path: string;
  message: string;
}

export class ParleyError extends Error {
  override name = 'ParleyError';
  readonly code: ErrorCode;
  readonly details: FieldIssue[] | undefined;
  /** Seconds a rate-limited caller should wait; set only for `rate_limited`. */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { details?: FieldIssue[]; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  get status(): number {
    return errorCodes[this.code];
  }
}

export const invalid = (message: string, details?: FieldIssue[]) =>
  new ParleyError('invalid_request', message, details ? { details } : {});
export const unauthorized = (message = 'authentication required') => new ParleyError('unauthorized', message);
export const forbidden = (message: string) => new ParleyError('forbidden', message);
export const notFound = (what: string) => new ParleyError('not_found', `${what} not found`);
export const conflict = (message: string) => new ParleyError('conflict', message);
export const rateLimited = (retryAfter: number) =>
  new ParleyError('rate_limited', 'too many requests, slow down', { retryAfter });
export const unavailable = (message: string) => new ParleyError('unavailable', message);

/** Anything that is not a ParleyError is a bug: it is reported as `internal`, without details. */
export function toParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  return new ParleyError('internal', 'internal error', { cause: err });
}
