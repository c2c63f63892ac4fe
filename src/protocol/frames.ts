/**
 * WebSocket frames. Client frames are checked in two steps: the envelope (an
 * object with a known `type`, else close 4002) and then the frame's own fields
 * (else an error `reply`, and the connection stays open).
 */
import { z } from 'zod';
import * as f from './fields.ts';
import { EVENTS_MAX_LIMIT, MAX_FRAME_ID, MAX_WATCHED_USERS } from './limits.ts';
import type { ChatEvent, Message, Presence } from './types.ts';
import type { ErrorCode } from '../errors.ts';

const frameId = z.string().min(1).max(MAX_FRAME_ID).optional();
const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), id: frameId, ...shape });

export const clientFrames = {
  hello: frame('hello', {
    token: z.string().min(1).max(4096),
    resume: z.array(z.strictObject({ conversationId: f.id, afterSeq: f.seqOrZero })).max(10_000).optional(),
  }),
  send: frame('send', {
    conversationId: f.id,
    clientMsgId: f.clientMsgId,
    body: f.body,
    replyToSeq: f.seq.nullish(),
    attachments: f.attachments.optional(),
  }),
  edit: frame('edit', { conversationId: f.id, seq: f.seq, body: f.body }),
  delete: frame('delete', { conversationId: f.id, seq: f.seq }),
  react: frame('react', { conversationId: f.id, seq: f.seq, emoji: f.emoji, on: z.boolean() }),
  read: frame('read', { conversationId: f.id, seq: f.seqOrZero }),
  typing: frame('typing', { conversationId: f.id }),
  watch: frame('watch', { userIds: z.array(f.id).min(1).max(MAX_WATCHED_USERS) }),
  unwatch: frame('unwatch', { userIds: z.array(f.id).min(1).max(MAX_WATCHED_USERS) }),
  history: frame('history', {
    conversationId: f.id,
    afterSeq: f.seqOrZero.optional(),
    beforeSeq: f.seq.optional(),
    limit: f.limit(EVENTS_MAX_LIMIT).optional(),
  }),
  ping: frame('ping', {}),
} as const;

export type ClientFrameType = keyof typeof clientFrames;
export type ClientFrame = { [K in ClientFrameType]: z.infer<(typeof clientFrames)[K]> }[ClientFrameType];
export type ClientFrameOf<K extends ClientFrameType> = z.infer<(typeof clientFrames)[K]>;

export function isClientFrameType(t: unknown): t is ClientFrameType {
  return typeof t === 'string' && Object.hasOwn(clientFrames, t);
}

export interface HelloReply {
  userId: string;
  sessionId: string;
  heartbeatMs: number;
  conversations: { id: string; lastSeq: number; lastReadSeq: number }[];
}

export type ReplyFrame =
  | { type: 'reply'; re: string; ok: true; data: unknown }
  | { type: 'reply'; re: string; ok: false; error: { code: ErrorCode; message: string; details?: unknown } };

export type ServerFrame =
  | ({ type: 'event' } & ChatEvent)
  | { type: 'typing'; conversationId: string; userId: string }
  | { type: 'receipt'; conversationId: string; userId: string; seq: number }
  | ({ type: 'presence' } & Presence)
  | { type: 'gap'; conversationId: string; afterSeq: number; throughSeq: number }
  | ReplyFrame;

export interface SendReply {
  message: Message;
}

export { PROTOCOL_JSON, closeCodes } from './constants.ts';
