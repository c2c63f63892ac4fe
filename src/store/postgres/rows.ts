/**
 * Row shapes as the driver returns them (BIGINT as numbers, BOOLEAN as
 * booleans, JSONB parsed), their mapping to Parley's records, and the select
 * lists shared by several queries.
 */
import type { ChatEvent, EventKind, Message } from '../../protocol/types.ts';
export { toConversation, toMember, toUser, type ConversationRow, type MemberRow, type UserRow } from '../rows.ts';

export const USER_COLUMNS = 'id, username, display_name, password_hash, created_at';

/**
 * A message with its reactions as `[[emoji, userId], …]` in the order they were
 * made, aggregated in the same query so a message is always one round trip.
 * `m` is the alias of the messages table.
 */
export const MESSAGE_COLUMNS = `
  m.conversation_id, m.seq, m.id, m.sender_id, m.client_msg_id, m.body, m.reply_to_seq, m.attachments,
  m.created_at, m.edited_at, m.deleted,
  (SELECT jsonb_agg(jsonb_build_array(r.emoji, r.user_id) ORDER BY r.at, r.user_id)
     FROM reactions r WHERE r.conversation_id = m.conversation_id AND r.seq = m.seq) AS reactions`;

export interface MessageRow {
  conversation_id: string;
  seq: number;
  id: string;
  sender_id: string;
  client_msg_id: string;
  body: string;
  reply_to_seq: number | null;
  attachments: string[];
  created_at: number;
  edited_at: number | null;
  deleted: boolean;
  reactions: [string, string][] | null;
}

export function toMessage(r: MessageRow): Message {
  const reactions: Record<string, string[]> = {};
  for (const [emoji, userId] of r.reactions ?? []) (reactions[emoji] ??= []).push(userId);
  return {
    id: r.id,
    conversationId: r.conversation_id,
    seq: r.seq,
    senderId: r.sender_id,
    clientMsgId: r.client_msg_id,
    body: r.body,
    replyToSeq: r.reply_to_seq,
    attachments: r.attachments,
    reactions,
    createdAt: r.created_at,
    editedAt: r.edited_at,
    deleted: r.deleted,
  };
}

export interface EventRow {
  conversation_id: string;
  seq: number;
  kind: EventKind;
  actor_id: string;
  at: number;
  data: unknown;
}

export const toEvent = (r: EventRow): ChatEvent =>
  ({
    conversationId: r.conversation_id,
    seq: r.seq,
    kind: r.kind,
    actorId: r.actor_id,
    at: r.at,
    data: r.data,
  }) as ChatEvent;
