/** The message a `message.create` mutation makes once it has its seq: the same in every adapter. */
import type { Message } from '../protocol/types.ts';
import type { Mutation } from './store.ts';

export function newMessage(m: Extract<Mutation, { kind: 'message.create' }>, seq: number): Message {
  return {
    id: m.message.id,
    conversationId: m.conversationId,
    seq,
    senderId: m.actorId,
    clientMsgId: m.message.clientMsgId,
    body: m.message.body,
    replyToSeq: m.message.replyToSeq,
    attachments: m.message.attachments,
    reactions: {},
    createdAt: m.at,
    editedAt: null,
    deleted: false,
  };
}
