/** What REST routes are given, and small helpers they share. */
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Chat } from '../chat/chat.ts';
import { parse } from '../protocol/validate.ts';

export interface RouteContext {
  chat: Chat;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set by the auth hook on protected routes. */
    userId: string;
  }
}

export const body = <S extends z.ZodType>(req: FastifyRequest, schema: S): z.infer<S> => parse(schema, req.body ?? {});
export const query = <S extends z.ZodType>(req: FastifyRequest, schema: S): z.infer<S> => parse(schema, req.query ?? {});
export const params = (req: FastifyRequest) => req.params as Record<string, string>;
