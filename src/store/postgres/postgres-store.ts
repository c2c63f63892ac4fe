/**
 * The networked Store: PostgreSQL through porsager/postgres, shared by any
 * number of nodes. Behaves as the SQLite adapter does; what differs is how
 * concurrency is made safe across processes (row locks, unique constraints,
 * an advisory lock for migrations) instead of SQLite's single writer.
 *
 * Migrations are not run by the constructor: call `migrate()` (`parley
 * migrate`, or at start when MIGRATE=1) or `PostgresStore.open(…, { migrate })`.
 */
import { conflict } from '../../errors.ts';
import type { ChatEvent, ConversationSummary, Member, Message } from '../../protocol/types.ts';
import type {
  ConversationCursor,
  ConversationRecord,
  ListCursor,
  Mutation,
  MutationResult,
  NewConversation,
  RefreshTokenRecord,
  RotateResult,
  Store,
  UserRecord,
} from '../store.ts';
import { applyBatch } from './batch.ts';
import { connect, run, sqlState, UNIQUE_VIOLATION, type Sql } from './database.ts';
import {
  MESSAGE_COLUMNS,
  toConversation,
  toEvent,
  toMember,
  toMessage,
  toUser,
  USER_COLUMNS,
  type ConversationRow,
  type EventRow,
  type MemberRow,
  type MessageRow,
  type UserRow,
} from './rows.ts';
import { checkSchema, migrate, type MigrateResult } from './schema.ts';

export interface PostgresStoreOptions {
  /** A `postgres://` connection URL. */
  url: string;
  /** Pool size per node (default 10). */
  max?: number;
}

/** The highest code point, for `key >= prefix AND key < prefix || MAX` range scans on a "C"-collated index. */
const MAX_CHAR = '\u{10FFFF}';

/** A member's view of a conversation; `mb` is the member, `c` the conversation. */
const SUMMARY_SELECT = `
  SELECT c.id, c.kind, c.title, c.public, c.last_seq, c.updated_at, mb.last_read_seq,
    (SELECT count(*) FROM messages x
      WHERE x.conversation_id = c.id AND x.seq > mb.last_read_seq AND x.sender_id <> mb.user_id AND NOT x.deleted
    ) AS unread_count,
    (SELECT to_jsonb(lm) FROM (
      SELECT ${MESSAGE_COLUMNS} FROM messages m
      WHERE m.conversation_id = c.id AND NOT m.deleted ORDER BY m.seq DESC LIMIT 1
    ) lm) AS last_message
  FROM members mb JOIN conversations c ON c.id = mb.conversation_id`;

interface SummaryRow {
  id: string;
  kind: string;
  title: string | null;
  public: boolean;
  last_seq: number;
  updated_at: number;
  last_read_seq: number;
  unread_count: number;
  last_message: MessageRow | null;
}

const toSummary = (r: SummaryRow): ConversationSummary => ({
  id: r.id,
  kind: r.kind as ConversationSummary['kind'],
  title: r.title,
  public: r.public,
  lastSeq: r.last_seq,
  lastReadSeq: r.last_read_seq,
  unreadCount: r.unread_count,
  lastMessage: r.last_message === null ? null : toMessage(r.last_message),
  updatedAt: r.updated_at,
});

export class PostgresStore implements Store {
  private readonly sql: Sql;

  constructor(opts: PostgresStoreOptions) {
    this.sql = connect(opts.url, opts.max ?? 10);
  }

  /**
   * Connects, migrates when asked, and checks the schema is the one this build
   * expects (without `migrate`, an older schema is an error saying to migrate).
   */
  static async open(opts: PostgresStoreOptions & { migrate?: boolean }): Promise<PostgresStore> {
    const store = new PostgresStore(opts);
    try {
      if (opts.migrate) await store.migrate();
      else await checkSchema(store.sql);
      return store;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Applies pending migrations; safe to run from several nodes at once. */
  migrate(): Promise<MigrateResult> {
    return migrate(this.sql);
  }

  // Users

  async createUser(u: UserRecord): Promise<void> {
    try {
      await run(
        () => this.sql`
          INSERT INTO users (id, username, username_key, display_name, display_name_key, password_hash, created_at)
          VALUES (${u.id}, ${u.username}, ${u.username.toLowerCase()}, ${u.displayName}, ${u.displayName.toLowerCase()},
                  ${u.passwordHash}, ${u.createdAt})`,
      );
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw conflict('username is taken');
      throw err;
    }
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const [row] = await run(() => this.sql<UserRow[]>`SELECT ${this.sql.unsafe(USER_COLUMNS)} FROM users WHERE id = ${id}`);
    return row ? toUser(row) : null;
  }

  async getUserByUsername(username: string): Promise<UserRecord | null> {
    const [row] = await run(
      () => this.sql<UserRow[]>`
        SELECT ${this.sql.unsafe(USER_COLUMNS)} FROM users WHERE username_key = ${username.toLowerCase()}`,
    );
    return row ? toUser(row) : null;
  }

  async searchUsers(prefix: string, limit: number): Promise<UserRecord[]> {
    const key = prefix.toLowerCase();
    const end = key + MAX_CHAR;
    const rows = await run(
      () => this.sql<UserRow[]>`
        SELECT ${this.sql.unsafe(USER_COLUMNS)}, username_key FROM users WHERE username_key >= ${key} AND username_key < ${end}
        UNION
        SELECT ${this.sql.unsafe(USER_COLUMNS)}, username_key FROM users WHERE display_name_key >= ${key} AND display_name_key < ${end}
        ORDER BY username_key LIMIT ${limit}`,
    );
    return rows.map(toUser);
  }

  async setDisplayName(id: string, displayName: string): Promise<void> {
    await run(
      () => this.sql`
        UPDATE users SET display_name = ${displayName}, display_name_key = ${displayName.toLowerCase()} WHERE id = ${id}`,
    );
  }

  async setBlocked(blockerId: string, blockedId: string, blocked: boolean): Promise<void> {
    await run(() =>
      blocked
        ? this.sql`INSERT INTO blocks (blocker_id, blocked_id) VALUES (${blockerId}, ${blockedId}) ON CONFLICT DO NOTHING`
        : this.sql`DELETE FROM blocks WHERE blocker_id = ${blockerId} AND blocked_id = ${blockedId}`,
    );
  }

  async isBlockedEitherWay(a: string, b: string): Promise<boolean> {
    const rows = await run(
      () => this.sql`
        SELECT 1 FROM blocks WHERE (blocker_id = ${a} AND blocked_id = ${b}) OR (blocker_id = ${b} AND blocked_id = ${a})
        LIMIT 1`,
    );
    return rows.length > 0;
  }

  async setLastSeen(userId: string, at: number): Promise<void> {
    await run(() => this.sql`UPDATE users SET last_seen_at = ${at} WHERE id = ${userId}`);
  }

  async getLastSeen(userIds: string[]): Promise<Map<string, number>> {
    if (userIds.length === 0) return new Map();
    const rows = await run(
      () => this.sql<{ id: string; last_seen_at: number }[]>`
        SELECT id, last_seen_at FROM users WHERE id = ANY(${userIds}::text[]) AND last_seen_at IS NOT NULL`,
    );
    return new Map(rows.map((r) => [r.id, r.last_seen_at]));
  }

  // Refresh tokens

  async createRefreshToken(t: RefreshTokenRecord): Promise<void> {
    await run(() =>
      this.sql.begin((tx) => [
        tx`INSERT INTO logins (id, user_id) VALUES (${t.loginId}, ${t.userId}) ON CONFLICT DO NOTHING`,
        tx`INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (${t.tokenHash}, ${t.loginId}, ${t.expiresAt})`,
      ]),
    );
  }

  async rotateRefreshToken(
    tokenHash: string,
    next: Omit<RefreshTokenRecord, 'loginId' | 'userId'>,
    now: number,
  ): Promise<RotateResult> {
    return run(() =>
      this.sql.begin(async (tx): Promise<RotateResult> => {
        // The token's row lock serializes concurrent rotations of one token: the
        // second sees `rotated` and is treated as reuse, as with SQLite's single writer.
        const [row] = await tx<{ login_id: string; user_id: string; expires_at: number; rotated: boolean; revoked: boolean }[]>`
          SELECT t.login_id, l.user_id, t.expires_at, t.rotated, l.revoked
          FROM refresh_tokens t JOIN logins l ON l.id = t.login_id
          WHERE t.token_hash = ${tokenHash}
          FOR UPDATE OF t`;
        if (!row) return { ok: false, reason: 'unknown' };
        if (row.revoked) return { ok: false, reason: 'revoked' };
        if (row.rotated) {
          await tx`UPDATE logins SET revoked = true WHERE id = ${row.login_id}`;
          return { ok: false, reason: 'reused' };
        }
        if (row.expires_at <= now) return { ok: false, reason: 'expired' };
        await Promise.all([
          tx`UPDATE refresh_tokens SET rotated = true WHERE token_hash = ${tokenHash}`,
          tx`INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (${next.tokenHash}, ${row.login_id}, ${next.expiresAt})`,
        ]);
        return { ok: true, userId: row.user_id, loginId: row.login_id };
      }),
    );
  }

  async revokeLoginOf(tokenHash: string): Promise<void> {
    await run(
      () => this.sql`
        UPDATE logins SET revoked = true WHERE id = (SELECT login_id FROM refresh_tokens WHERE token_hash = ${tokenHash})`,
    );
  }

  // Conversations

  async createConversation(c: NewConversation): Promise<{ id: string; created: boolean }> {
    // One statement: the conversation and its members, or nothing when the
    // direct pair already has one (ON CONFLICT waits for a concurrent creator).
    const inserted = await run(
      () => this.sql<{ id: string }[]>`
        WITH conv AS (
          INSERT INTO conversations (id, kind, title, public, direct_key, last_seq, created_at, updated_at)
          VALUES (${c.id}, ${c.kind}, ${c.title}, ${c.public}, ${c.directKey}, 0, ${c.createdAt}, ${c.createdAt})
          ON CONFLICT (direct_key) DO NOTHING
          RETURNING id
        ), added AS (
          INSERT INTO members (conversation_id, user_id, role, last_read_seq, joined_at)
          SELECT conv.id, x.user_id, x.role, 0, ${c.createdAt}
          FROM conv, unnest(${c.members.map((m) => m.userId)}::text[], ${c.members.map((m) => m.role)}::text[]) AS x (user_id, role)
          ON CONFLICT DO NOTHING
        )
        SELECT id FROM conv`,
    );
    if (inserted.length > 0) return { id: c.id, created: true };
    const [existing] = await run(() => this.sql<{ id: string }[]>`SELECT id FROM conversations WHERE direct_key = ${c.directKey}`);
    if (!existing) throw new Error('createConversation: direct conversation vanished after a conflict');
    return { id: existing.id, created: false };
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const [row] = await run(
      () => this.sql<ConversationRow[]>`
        SELECT id, kind, title, public, last_seq, created_at, updated_at FROM conversations WHERE id = ${id}`,
    );
    return row ? toConversation(row) : null;
  }

  async getMember(conversationId: string, userId: string): Promise<Member | null> {
    const [row] = await run(
      () => this.sql<MemberRow[]>`
        SELECT user_id, role, last_read_seq, joined_at FROM members
        WHERE conversation_id = ${conversationId} AND user_id = ${userId}`,
    );
    return row ? toMember(row) : null;
  }

  async getMembership(
    conversationId: string,
    userId: string,
  ): Promise<{ conversation: ConversationRecord; member: Member } | null> {
    const [row] = await run(
      () => this.sql<(ConversationRow & MemberRow)[]>`
        SELECT c.id, c.kind, c.title, c.public, c.last_seq, c.created_at, c.updated_at,
          m.user_id, m.role, m.last_read_seq, m.joined_at
        FROM conversations c JOIN members m ON m.conversation_id = c.id
        WHERE c.id = ${conversationId} AND m.user_id = ${userId}`,
    );
    return row ? { conversation: toConversation(row), member: toMember(row) } : null;
  }

  async listMembers(conversationId: string): Promise<Member[]> {
    const rows = await run(
      () => this.sql<MemberRow[]>`
        SELECT user_id, role, last_read_seq, joined_at FROM members
        WHERE conversation_id = ${conversationId} ORDER BY joined_at, user_id`,
    );
    return rows.map(toMember);
  }

  async getSummary(conversationId: string, userId: string): Promise<ConversationSummary | null> {
    const [row] = await run(
      () => this.sql<SummaryRow[]>`
        ${this.sql.unsafe(SUMMARY_SELECT)} WHERE mb.user_id = ${userId} AND c.id = ${conversationId}`,
    );
    return row ? toSummary(row) : null;
  }

  async listSummaries(userId: string, limit: number, after: ListCursor | null): Promise<ConversationSummary[]> {
    const rows = await run(() =>
      after
        ? this.sql<SummaryRow[]>`
            ${this.sql.unsafe(SUMMARY_SELECT)}
            WHERE mb.user_id = ${userId} AND (c.updated_at, c.id) < (${after.updatedAt}::bigint, ${after.id}::text)
            ORDER BY c.updated_at DESC, c.id DESC LIMIT ${limit}`
        : this.sql<SummaryRow[]>`
            ${this.sql.unsafe(SUMMARY_SELECT)}
            WHERE mb.user_id = ${userId} ORDER BY c.updated_at DESC, c.id DESC LIMIT ${limit}`,
    );
    return rows.map(toSummary);
  }

  async listCursors(userId: string): Promise<ConversationCursor[]> {
    const rows = await run(
      () => this.sql<{ id: string; last_seq: number; last_read_seq: number }[]>`
        SELECT c.id, c.last_seq, m.last_read_seq FROM members m JOIN conversations c ON c.id = m.conversation_id
        WHERE m.user_id = ${userId}`,
    );
    return rows.map((r) => ({ id: r.id, lastSeq: r.last_seq, lastReadSeq: r.last_read_seq }));
  }

  async recentMemberships(userIds: string[], since: number) {
    if (userIds.length === 0) return [];
    const rows = await run(
      () => this.sql<{ conversation_id: string; user_id: string; last_read_seq: number }[]>`
        SELECT conversation_id, user_id, last_read_seq FROM members
        WHERE user_id = ANY(${userIds}::text[]) AND joined_at >= ${since}`,
    );
    return rows.map((r) => ({ conversationId: r.conversation_id, userId: r.user_id, lastReadSeq: r.last_read_seq }));
  }

  async lastSeqs(conversationIds: string[]): Promise<Map<string, number>> {
    if (conversationIds.length === 0) return new Map();
    const rows = await run(
      () => this.sql<{ id: string; last_seq: number }[]>`
        SELECT id, last_seq FROM conversations WHERE id = ANY(${conversationIds}::text[])`,
    );
    return new Map(rows.map((r) => [r.id, r.last_seq]));
  }

  async markRead(conversationId: string, userId: string, seq: number): Promise<number | null> {
    const [row] = await run(
      () => this.sql<{ last_read_seq: number }[]>`
        UPDATE members m SET last_read_seq = least(${seq}::bigint, c.last_seq)
        FROM conversations c
        WHERE c.id = m.conversation_id AND m.conversation_id = ${conversationId} AND m.user_id = ${userId}
          AND m.last_read_seq < least(${seq}::bigint, c.last_seq)
        RETURNING m.last_read_seq`,
    );
    return row ? row.last_read_seq : null;
  }

  // Events and messages

  applyBatch(mutations: Mutation[]): Promise<MutationResult[]> {
    return applyBatch(this.sql, mutations);
  }

  async readEvents(conversationId: string, afterSeq: number, limit: number): Promise<ChatEvent[]> {
    const rows = await run(
      () => this.sql<EventRow[]>`
        SELECT conversation_id, seq, kind, actor_id, at, data FROM events
        WHERE conversation_id = ${conversationId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`,
    );
    return rows.map(toEvent);
  }

  async readMessages(conversationId: string, beforeSeq: number | null, limit: number): Promise<Message[]> {
    const rows = await run(
      () => this.sql<MessageRow[]>`
        SELECT ${this.sql.unsafe(MESSAGE_COLUMNS)} FROM messages m
        WHERE m.conversation_id = ${conversationId} AND m.seq < ${beforeSeq ?? Number.MAX_SAFE_INTEGER}
        ORDER BY m.seq DESC LIMIT ${limit}`,
    );
    return rows.map(toMessage);
  }

  async getMessage(conversationId: string, seq: number): Promise<Message | null> {
    const [row] = await run(
      () => this.sql<MessageRow[]>`
        SELECT ${this.sql.unsafe(MESSAGE_COLUMNS)} FROM messages m WHERE m.conversation_id = ${conversationId} AND m.seq = ${seq}`,
    );
    return row ? toMessage(row) : null;
  }

  async ping(): Promise<void> {
    await this.sql`SELECT 1`;
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}
