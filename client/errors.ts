/**
 * The SDK's two error types: `ParleyApiError` when the server answered with a
 * protocol error (REST or a WebSocket `reply`), `ParleyClientError` when no
 * answer came (network down, timeout, connection lost, client closed).
 */
import { errorCodes, type ErrorCode, type FieldIssue } from '../src/errors.ts';

export type { ErrorCode, FieldIssue };

/** An error the server answered with: `{"error": {"code", "message", "details"?}}` or an error `reply`. */
export class ParleyApiError extends Error {
  override name = 'ParleyApiError';
  /** The HTTP status; for a WebSocket reply, the status REST uses for the same code. */
  readonly status: number;
  readonly code: ErrorCode;
  /** Per-field problems of an `invalid_request`. */
  readonly details: FieldIssue[] | undefined;
  /** Seconds to wait, from `Retry-After` (REST `rate_limited` only). */
  readonly retryAfter: number | undefined;

  constructor(status: number, code: ErrorCode, message: string, opts: { details?: FieldIssue[] | undefined; retryAfter?: number | undefined } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  /** From a WebSocket error reply, which carries a code but no status. */
  static fromReply(error: { code: ErrorCode; message: string; details?: unknown }): ParleyApiError {
    const status = (errorCodes as Record<string, number>)[error.code] ?? 500;
    return new ParleyApiError(status, error.code, error.message, { details: error.details as FieldIssue[] | undefined });
  }
}

export type ClientErrorCode =
  /** fetch failed: no route to the server, DNS, refused connection, CORS. */
  | 'network'
  /** No reply in time. */
  | 'timeout'
  /** The WebSocket closed before the reply came; the request may or may not have been done. */
  | 'disconnected'
  /** The client was closed (or logged out) first. */
  | 'closed';

/** A failure with no answer from the server. */
export class ParleyClientError extends Error {
  override name = 'ParleyClientError';
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
  }
}

/** True for an error that says the credentials are no good (not a passing network failure). */
export const isAuthError = (err: unknown): boolean =>
  err instanceof ParleyApiError && (err.code === 'unauthorized' || err.code === 'invalid_credentials');
