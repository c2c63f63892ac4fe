/** Row shapes as SQLite returns them, and their mapping to Parley's records. */
import type { ConversationKind, Member, Message, Role } from '../../protocol/types.ts';
import type { ConversationRecord, UserRecord } from '../store.ts';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  created_at: number;
}

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  displayName: r.display_name,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
});

export interface ConversationRow {
  id: string;
  kind: string;
  title: string | null;
  public: number;
  last_seq: number;
  created_at: number;
  updated_at: number;
}

export const toConversation = (r: ConversationRow): ConversationRecord => ({
  id: r.id,
  kind: r.kind as ConversationKind,
  title: r.title,
  public: r.public === 1,
  lastSeq: r.last_seq,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface MemberRow {
  user_id: string;
  role: string;
  last_read_seq: number;
  joined_at: number;
}

export const toMember = (r: MemberRow): Member => ({
  userId: r.user_id,
  role: r.role as Role,
  lastReadSeq: r.last_read_seq,
  joinedAt: r.joined_at,
});

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
