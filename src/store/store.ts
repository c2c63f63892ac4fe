/**
 * The Store port: everything Parley keeps. Adapters: `sqlite/` (embedded
 * default) and `postgres/` (shared by many nodes). One contract suite
 * (test/contract/store.ts) runs against every adapter.
 *
 * Contract callers rely on:
 * - `applyBatch` is the only way events are written. It applies the mutations
 *   in array order inside ONE transaction, assigns each produced event the next
 *   `seq` of its conversation (1, 2, 3, … no gaps, no reuse) and returns only
 *   after the transaction is durably committed. A mutation that fails its own
 *   checks yields `{ ok: false }` and leaves no trace; the others still apply.
 *   If the transaction itself fails, the returned promise rejects and nothing
 *   of the batch is kept.
 * - Idempotency of sends is a uniqueness rule on (conversation, sender,
 *   clientMsgId) enforced by the store, not a cache: a repeat, in the same
 *   batch or any later one, returns the original message with `duplicate`.
 * - Reads see every batch whose promise has resolved.
 */
import type { ParleyError } from '../errors.ts';
import type {
  ChatEvent,
  ConversationKind,
  ConversationSummary,
  Member,
  Message,
  Role,
} from '../protocol/types.ts';

export interface UserRecord {
  id: string;
  username: string;
  displayName: string;
  passwordHash: string;
  createdAt: number;
}

export interface ConversationRecord {
  id: string;
  kind: ConversationKind;
  title: string | null;
  public: boolean;
  lastSeq: number;
  createdAt: number;
  updatedAt: number;
}

export interface NewConversation {
  id: string;
  kind: ConversationKind;
  title: string | null;
  public: boolean;
  createdAt: number;
  /** For `direct`: the two user ids, sorted and joined; unique across conversations. */
  directKey: string | null;
  members: { userId: string; role: Role }[];
}

export interface RefreshTokenRecord {
  tokenHash: string;
  loginId: string;
  userId: string;
  expiresAt: number;
}

export type RotateResult =
  | { ok: true; userId: string; loginId: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'reused' };

interface MutationBase {
  conversationId: string;
  actorId: string;
  at: number;
}

export type Mutation =
  | (MutationBase & {
      kind: 'message.create';
      message: { id: string; clientMsgId: string; body: string; replyToSeq: number | null; attachments: string[] };
    })
  | (MutationBase & { kind: 'message.edit'; seq: number; body: string })
  | (MutationBase & { kind: 'message.delete'; seq: number })
  | (MutationBase & { kind: 'reaction'; seq: number; emoji: string; on: boolean })
  | (MutationBase & { kind: 'member.join'; userId: string; role: Role })
  | (MutationBase & { kind: 'member.leave'; userId: string })
  | (MutationBase & { kind: 'conversation.update'; title: string });

export type MutationResult =
  | {
      ok: true;
      /** null when the mutation changed nothing (a repeated reaction, a duplicate send). */
      event: ChatEvent | null;
      /** For message.create: the message, new or (with `duplicate`) the original. */
      message?: Message;
      duplicate?: boolean;
    }
  | { ok: false; error: ParleyError };

export interface ConversationCursor {
  id: string;
  lastSeq: number;
  lastReadSeq: number;
}

export interface ListCursor {
  updatedAt: number;
  id: string;
}

export interface Store {
  // Users
  /** Throws `conflict` when the username is taken, ignoring case. */
  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | null>;
  getUserByUsername(username: string): Promise<UserRecord | null>;
  /** Users whose username or display name starts with `prefix`, ignoring case. */
  searchUsers(prefix: string, limit: number): Promise<UserRecord[]>;
  setDisplayName(id: string, displayName: string): Promise<void>;
  setBlocked(blockerId: string, blockedId: string, blocked: boolean): Promise<void>;
  /** True when either user blocks the other. */
  isBlockedEitherWay(a: string, b: string): Promise<boolean>;
  setLastSeen(userId: string, at: number): Promise<void>;
  getLastSeen(userIds: string[]): Promise<Map<string, number>>;

  // Refresh tokens: one family (login) per sign-in, rotated on every refresh.
  createRefreshToken(token: RefreshTokenRecord): Promise<void>;
  /**
   * Atomically retires `tokenHash` and stores `next` in its login. Presenting a
   * token that was already rotated revokes the whole login (`reused`).
   */
  rotateRefreshToken(tokenHash: string, next: Omit<RefreshTokenRecord, 'loginId' | 'userId'>, now: number): Promise<RotateResult>;
  /** Revokes the login that `tokenHash` belongs to; unknown tokens are ignored. */
  revokeLoginOf(tokenHash: string): Promise<void>;

  // Conversations
  /**
   * Creates a conversation with its first members (no events). For `direct`,
   * when the pair already has one, returns it with `created: false`.
   */
  createConversation(conv: NewConversation): Promise<{ id: string; created: boolean }>;
  getConversation(id: string): Promise<ConversationRecord | null>;
  getMember(conversationId: string, userId: string): Promise<Member | null>;
  /** The conversation and the user's membership in one read; null when either is missing. */
  getMembership(conversationId: string, userId: string): Promise<{ conversation: ConversationRecord; member: Member } | null>;
  listMembers(conversationId: string): Promise<Member[]>;
  /** The caller's view of one conversation, or null when not a member. */
  getSummary(conversationId: string, userId: string): Promise<ConversationSummary | null>;
  /** Most recently active first; `after` continues a previous page. */
  listSummaries(userId: string, limit: number, after: ListCursor | null): Promise<ConversationSummary[]>;
  listCursors(userId: string): Promise<ConversationCursor[]>;
  /**
   * Memberships of `userIds` that began at or after `since` (ms): the repair
   * path for a membership notice the bus lost. `lastReadSeq` of a new member is
   * the seq of their arrival (0 for a conversation's first members).
   */
  recentMemberships(userIds: string[], since: number): Promise<{ conversationId: string; userId: string; lastReadSeq: number }[]>;
  /** The current lastSeq of each existing conversation among `conversationIds`. */
  lastSeqs(conversationIds: string[]): Promise<Map<string, number>>;
  /** Raises the member's lastReadSeq to `seq` (clamped to lastSeq); returns the new value when it grew. */
  markRead(conversationId: string, userId: string, seq: number): Promise<number | null>;

  // Events and messages
  applyBatch(mutations: Mutation[]): Promise<MutationResult[]>;
  /** Events with seq > afterSeq in seq order, at most `limit`. */
  readEvents(conversationId: string, afterSeq: number, limit: number): Promise<ChatEvent[]>;
  /** Messages with seq < beforeSeq (all when null), newest first, at most `limit`. */
  readMessages(conversationId: string, beforeSeq: number | null, limit: number): Promise<Message[]>;
  getMessage(conversationId: string, seq: number): Promise<Message | null>;

  /** Resolves when the store answers; used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
