/** The one place REST turns failures into the protocol's error bodies and statuses. */
import type { FastifyError, FastifyReply } from 'fastify';
import { ParleyError, toParleyError } from '../errors.ts';

/** Fastify's own errors, in the protocol's words. */
function fromFastify(err: FastifyError): ParleyError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ParleyError('payload_too_large', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ParleyError('invalid_request', 'request body must be application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ParleyError('invalid_request', 'request body is not valid JSON');
    default:
      if (err instanceof SyntaxError || (err.statusCode === 400 && !(err instanceof ParleyError))) {
        return new ParleyError('invalid_request', 'malformed request');
      }
      return null;
  }
}

export function toHttpError(err: unknown): ParleyError {
  return err instanceof ParleyError ? err : (fromFastify(err as FastifyError) ?? toParleyError(err));
}

export function sendError(reply: FastifyReply, e: ParleyError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
  const error: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.details) error.details = e.details;
  return reply.status(e.status).send({ error });
}
