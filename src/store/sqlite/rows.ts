/** Row shapes as SQLite returns them, and their mapping to Parley's records. */
import type { Message } from '../../protocol/types.ts';
export { toConversation, toMember, toUser, type ConversationRow, type MemberRow, type UserRow } from '../rows.ts';

export interface MessageRow {
  conversation_id: string;
  seq: number;
  id: string;
  sender_id: string;
  client_msg_id: string;
  body: string;
  reply_to_seq: number | null;
  attachments: string;
  created_at: number;
  edited_at: number | null;
  deleted: number;
}

export const toMessage = (r: MessageRow, reactions: Record<string, string[]> = {}): Message => ({
  id: r.id,
  conversationId: r.conversation_id,
  seq: r.seq,
  senderId: r.sender_id,
  clientMsgId: r.client_msg_id,
  body: r.body,
  replyToSeq: r.reply_to_seq,
  attachments: JSON.parse(r.attachments) as string[],
  reactions,
  createdAt: r.created_at,
  editedAt: r.edited_at,
  deleted: r.deleted === 1,
});

export interface ReactionRow {
  seq: number;
  emoji: string;
  user_id: string;
}

/** Groups reaction rows (already ordered by time) into `{emoji: [userId…]}` per message seq. */
export function groupReactions(rows: ReactionRow[]): Map<number, Record<string, string[]>> {
  const bySeq = new Map<number, Record<string, string[]>>();
  for (const r of rows) {
    let reactions = bySeq.get(r.seq);
    if (!reactions) bySeq.set(r.seq, (reactions = {}));
    (reactions[r.emoji] ??= []).push(r.user_id);
  }
  return bySeq;
}

export interface EventRow {
  conversation_id: string;
  seq: number;
  kind: string;
  actor_id: string;
  at: number;
  data: string;
}
