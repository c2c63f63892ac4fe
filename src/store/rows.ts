/**
 * Row shapes both SQL adapters share, and their mapping to Parley's records.
 * Column names are the same in both schemas; only `public` differs in type
 * (SQLite stores 0/1, PostgreSQL a boolean).
 */
import type { ConversationKind, Member, Role } from '../protocol/types.ts';
import type { ConversationRecord, UserRecord } from './store.ts';

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
  public: number | boolean;
  last_seq: number;
  created_at: number;
  updated_at: number;
}

export const toConversation = (r: ConversationRow): ConversationRecord => ({
  id: r.id,
  kind: r.kind as ConversationKind,
  title: r.title,
  public: r.public === true || r.public === 1,
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
