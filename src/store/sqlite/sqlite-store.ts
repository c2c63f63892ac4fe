/**
 * The embedded Store: one SQLite file through `node:sqlite`. Event batches
 * commit on a writer thread (writer-thread.ts) so an fsync never stalls
 * delivery; reads and the rarer writes run here, synchronously underneath
 * (WAL lets them run beside the writer), returning promises only to share the
 * port with networked stores.
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
import { Database, type Synchronous } from './database.ts';
import { applyMutations, messageAt } from './mutations.ts';
import { WriterThread } from './writer-thread.ts';
import {
  groupReactions,
  toConversation,
  toMember,
  toMessage,
  toUser,
  type ConversationRow,
  type EventRow,
  type MemberRow,
  type MessageRow,
  type ReactionRow,
  type UserRow,
} from './rows.ts';

export interface SqliteStoreOptions {
  /** A file path, or ':memory:' for tests. */
  path: string;
  synchronous?: Synchronous;
}

/** The highest code point, for `key >= prefix AND key < prefix || MAX` range scans on an index. */
const MAX_CHAR = '\u{10FFFF}';

const SUMMARY_SELECT = `
  SELECT c.id, c.kind, c.title, c.public, c.last_seq, c.updated_at, m.last_read_seq,
    (SELECT count(*) FROM messages x
      WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq AND x.sender_id <> m.user_id AND x.deleted = 0
    ) AS unread_count,
    (SELECT max(seq) FROM messages x WHERE x.conversation_id = c.id AND x.deleted = 0) AS last_message_seq
  FROM members m JOIN conversations c ON c.id = m.conversation_id`;

interface SummaryRow extends ConversationRow {
  last_read_seq: number;
  unread_count: number;
  last_message_seq: number | null;
}

export class SqliteStore implements Store {
  private readonly db: Database;
  /** Commits batches off the main thread; absent for ':memory:' databases, which one connection owns. */
  private readonly writer: WriterThread | null;

  constructor(opts: SqliteStoreOptions) {
    this.db = new Database(opts.path, opts.synchronous);
    this.writer = opts.path === ':memory:' ? null : new WriterThread(opts.path, opts.synchronous ?? 'FULL');
  }

  /** Runs `fn` and turns a thrown error into a rejected promise, like a networked store would. */
  private async op<T>(fn: () => T): Promise<T> {
    return fn();
  }

  // Users

  createUser(u: UserRecord): Promise<void> {
    return this.op(() => {
      try {
        this.db.run(
          `INSERT INTO users (id, username, username_key, display_name, display_name_key, password_hash, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          u.id,
          u.username,
          u.username.toLowerCase(),
          u.displayName,
          u.displayName.toLowerCase(),
          u.passwordHash,
          u.createdAt,
        );
      } catch (err) {
        if ((err as { errcode?: number }).errcode === 2067 /* SQLITE_CONSTRAINT_UNIQUE */) {
          throw conflict('username is taken');
        }
        throw err;
      }
    });
  }

  getUser(id: string): Promise<UserRecord | null> {
    return this.op(() => {
      const row = this.db.get<UserRow>('SELECT * FROM users WHERE id = ?', id);
      return row ? toUser(row) : null;
    });
  }

  getUserByUsername(username: string): Promise<UserRecord | null> {
    return this.op(() => {
      const row = this.db.get<UserRow>('SELECT * FROM users WHERE username_key = ?', username.toLowerCase());
      return row ? toUser(row) : null;
    });
  }

  searchUsers(prefix: string, limit: number): Promise<UserRecord[]> {
    return this.op(() => {
      const key = prefix.toLowerCase();
      const rows = this.db.all<UserRow>(
        `SELECT * FROM users WHERE username_key >= ?1 AND username_key < ?1 || '${MAX_CHAR}'
         UNION
         SELECT * FROM users WHERE display_name_key >= ?1 AND display_name_key < ?1 || '${MAX_CHAR}'
         ORDER BY username_key LIMIT ?2`,
        key,
        limit,
      );
      return rows.map(toUser);
    });
  }

  setDisplayName(id: string, displayName: string): Promise<void> {
    return this.op(() => {
      this.db.run(
        'UPDATE users SET display_name = ?, display_name_key = ? WHERE id = ?',
        displayName,
        displayName.toLowerCase(),
        id,
      );
    });
  }

  setBlocked(blockerId: string, blockedId: string, blocked: boolean): Promise<void> {
    return this.op(() => {
      if (blocked) this.db.run('INSERT OR IGNORE INTO blocks (blocker_id, blocked_id) VALUES (?, ?)', blockerId, blockedId);
      else this.db.run('DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?', blockerId, blockedId);
    });
  }

  isBlockedEitherWay(a: string, b: string): Promise<boolean> {
    return this.op(
      () =>
        this.db.get(
          'SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)',
          a,
          b,
        ) !== undefined,
    );
  }

  setLastSeen(userId: string, at: number): Promise<void> {
    return this.op(() => {
      this.db.run('UPDATE users SET last_seen_at = ? WHERE id = ?', at, userId);
    });
  }

  getLastSeen(userIds: string[]): Promise<Map<string, number>> {
    return this.op(() => {
      const rows = this.db.all<{ id: string; last_seen_at: number }>(
        'SELECT id, last_seen_at FROM users WHERE id IN (SELECT value FROM json_each(?)) AND last_seen_at IS NOT NULL',
        JSON.stringify(userIds),
      );
      return new Map(rows.map((r) => [r.id, r.last_seen_at]));
    });
  }

  // Refresh tokens

  createRefreshToken(t: RefreshTokenRecord): Promise<void> {
    return this.op(() =>
      this.db.transaction(() => {
        this.db.run('INSERT OR IGNORE INTO logins (id, user_id) VALUES (?, ?)', t.loginId, t.userId);
        this.db.run(
          'INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (?, ?, ?)',
          t.tokenHash,
          t.loginId,
          t.expiresAt,
        );
      }),
    );
  }

  rotateRefreshToken(
    tokenHash: string,
    next: Omit<RefreshTokenRecord, 'loginId' | 'userId'>,
    now: number,
  ): Promise<RotateResult> {
    return this.op(() =>
      this.db.transaction((): RotateResult => {
        const row = this.db.get<{ login_id: string; user_id: string; expires_at: number; rotated: number; revoked: number }>(
          `SELECT t.login_id, l.user_id, t.expires_at, t.rotated, l.revoked
           FROM refresh_tokens t JOIN logins l ON l.id = t.login_id WHERE t.token_hash = ?`,
          tokenHash,
        );
        if (!row) return { ok: false, reason: 'unknown' };
        if (row.revoked === 1) return { ok: false, reason: 'revoked' };
        if (row.rotated === 1) {
          this.db.run('UPDATE logins SET revoked = 1 WHERE id = ?', row.login_id);
          return { ok: false, reason: 'reused' };
        }
        if (row.expires_at <= now) return { ok: false, reason: 'expired' };
        this.db.run('UPDATE refresh_tokens SET rotated = 1 WHERE token_hash = ?', tokenHash);
        this.db.run(
          'INSERT INTO refresh_tokens (token_hash, login_id, expires_at) VALUES (?, ?, ?)',
          next.tokenHash,
          row.login_id,
          next.expiresAt,
        );
        return { ok: true, userId: row.user_id, loginId: row.login_id };
      }),
    );
  }

  revokeLoginOf(tokenHash: string): Promise<void> {
    return this.op(() => {
      this.db.run(
        'UPDATE logins SET revoked = 1 WHERE id = (SELECT login_id FROM refresh_tokens WHERE token_hash = ?)',
        tokenHash,
      );
    });
  }

  // Conversations

  createConversation(c: NewConversation): Promise<{ id: string; created: boolean }> {
    return this.op(() =>
      this.db.transaction(() => {
        if (c.directKey !== null) {
          const existing = this.db.get<{ id: string }>('SELECT id FROM conversations WHERE direct_key = ?', c.directKey);
          if (existing) return { id: existing.id, created: false };
        }
        this.db.run(
          `INSERT INTO conversations (id, kind, title, public, direct_key, last_seq, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
          c.id,
          c.kind,
          c.title,
          c.public ? 1 : 0,
          c.directKey,
          c.createdAt,
          c.createdAt,
        );
        for (const m of c.members) {
          this.db.run(
            'INSERT OR IGNORE INTO members (conversation_id, user_id, role, last_read_seq, joined_at) VALUES (?, ?, ?, 0, ?)',
            c.id,
            m.userId,
            m.role,
            c.createdAt,
          );
        }
        return { id: c.id, created: true };
      }),
    );
  }

  getConversation(id: string): Promise<ConversationRecord | null> {
    return this.op(() => {
      const row = this.db.get<ConversationRow>('SELECT * FROM conversations WHERE id = ?', id);
      return row ? toConversation(row) : null;
    });
  }

  getMember(conversationId: string, userId: string): Promise<Member | null> {
    return this.op(() => {
      const row = this.db.get<MemberRow>(
        'SELECT * FROM members WHERE conversation_id = ? AND user_id = ?',
        conversationId,
        userId,
      );
      return row ? toMember(row) : null;
    });
  }

  getMembership(conversationId: string, userId: string): Promise<{ conversation: ConversationRecord; member: Member } | null> {
    return this.op(() => {
      const row = this.db.get<ConversationRow & MemberRow>(
        `SELECT c.*, m.user_id, m.role, m.last_read_seq, m.joined_at
         FROM conversations c JOIN members m ON m.conversation_id = c.id WHERE c.id = ? AND m.user_id = ?`,
        conversationId,
        userId,
      );
      return row ? { conversation: toConversation(row), member: toMember(row) } : null;
    });
  }

  listMembers(conversationId: string): Promise<Member[]> {
    return this.op(() =>
      this.db
        .all<MemberRow>('SELECT * FROM members WHERE conversation_id = ? ORDER BY joined_at, user_id', conversationId)
        .map(toMember),
    );
  }

  getSummary(conversationId: string, userId: string): Promise<ConversationSummary | null> {
    return this.op(() => {
      const row = this.db.get<SummaryRow>(`${SUMMARY_SELECT} WHERE m.user_id = ? AND c.id = ?`, userId, conversationId);
      return row ? this.toSummary(row) : null;
    });
  }

  listSummaries(userId: string, limit: number, after: ListCursor | null): Promise<ConversationSummary[]> {
    return this.op(() => {
      const rows = after
        ? this.db.all<SummaryRow>(
            `${SUMMARY_SELECT} WHERE m.user_id = ? AND (c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))
             ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`,
            userId,
            after.updatedAt,
            after.updatedAt,
            after.id,
            limit,
          )
        : this.db.all<SummaryRow>(
            `${SUMMARY_SELECT} WHERE m.user_id = ? ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`,
            userId,
            limit,
          );
      return rows.map((r) => this.toSummary(r));
    });
  }

  private toSummary(r: SummaryRow): ConversationSummary {
    const lastMessage = r.last_message_seq === null ? null : messageAt(this.db, r.id, r.last_message_seq);
    return {
      ...toConversation(r),
      lastReadSeq: r.last_read_seq,
      unreadCount: r.unread_count,
      lastMessage,
    };
  }

  listCursors(userId: string): Promise<ConversationCursor[]> {
    return this.op(() =>
      this.db
        .all<{ id: string; last_seq: number; last_read_seq: number }>(
          `SELECT c.id, c.last_seq, m.last_read_seq FROM members m JOIN conversations c ON c.id = m.conversation_id
           WHERE m.user_id = ?`,
          userId,
        )
        .map((r) => ({ id: r.id, lastSeq: r.last_seq, lastReadSeq: r.last_read_seq })),
    );
  }

  recentMemberships(userIds: string[], since: number) {
    return this.op(() =>
      this.db
        .all<{ conversation_id: string; user_id: string; last_read_seq: number }>(
          `SELECT conversation_id, user_id, last_read_seq FROM members
           WHERE user_id IN (SELECT value FROM json_each(?)) AND joined_at >= ?`,
          JSON.stringify(userIds),
          since,
        )
        .map((r) => ({ conversationId: r.conversation_id, userId: r.user_id, lastReadSeq: r.last_read_seq })),
    );
  }

  lastSeqs(conversationIds: string[]): Promise<Map<string, number>> {
    return this.op(() => {
      const rows = this.db.all<{ id: string; last_seq: number }>(
        'SELECT id, last_seq FROM conversations WHERE id IN (SELECT value FROM json_each(?))',
        JSON.stringify(conversationIds),
      );
      return new Map(rows.map((r) => [r.id, r.last_seq]));
    });
  }

  markRead(conversationId: string, userId: string, seq: number): Promise<number | null> {
    return this.op(() => {
      const row = this.db.get<{ last_read_seq: number }>(
        `UPDATE members SET last_read_seq = min(?, (SELECT last_seq FROM conversations WHERE id = ?))
         WHERE conversation_id = ? AND user_id = ? AND last_read_seq < min(?, (SELECT last_seq FROM conversations WHERE id = ?))
         RETURNING last_read_seq`,
        seq,
        conversationId,
        conversationId,
        userId,
        seq,
        conversationId,
      );
      return row ? row.last_read_seq : null;
    });
  }

  // Events and messages

  applyBatch(mutations: Mutation[]): Promise<MutationResult[]> {
    if (!this.writer) return this.op(() => applyMutations(this.db, mutations));
    return this.writer.apply(mutations);
  }

  readEvents(conversationId: string, afterSeq: number, limit: number): Promise<ChatEvent[]> {
    return this.op(() =>
      this.db
        .all<EventRow>(
          'SELECT * FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?',
          conversationId,
          afterSeq,
          limit,
        )
        .map(
          (r) =>
            ({
              conversationId: r.conversation_id,
              seq: r.seq,
              kind: r.kind,
              actorId: r.actor_id,
              at: r.at,
              data: JSON.parse(r.data),
            }) as ChatEvent,
        ),
    );
  }

  readMessages(conversationId: string, beforeSeq: number | null, limit: number): Promise<Message[]> {
    return this.op(() => {
      const rows = this.db.all<MessageRow>(
        'SELECT * FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
        conversationId,
        beforeSeq ?? Number.MAX_SAFE_INTEGER,
        limit,
      );
      if (rows.length === 0) return [];
      const reactions = groupReactions(
        this.db.all<ReactionRow>(
          'SELECT seq, emoji, user_id FROM reactions WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY at, user_id',
          conversationId,
          rows[rows.length - 1]!.seq,
          rows[0]!.seq,
        ),
      );
      return rows.map((r) => toMessage(r, reactions.get(r.seq)));
    });
  }

  getMessage(conversationId: string, seq: number): Promise<Message | null> {
    return this.op(() => messageAt(this.db, conversationId, seq));
  }

  ping(): Promise<void> {
    return this.op(() => {
      // Readiness means writes work too: a dead writer thread makes the node unready.
      if (this.writer?.failure) throw this.writer.failure;
      this.db.get('SELECT 1');
    });
  }


  async close(): Promise<void> {
    await this.writer?.close();
    this.db.close();
  }
}

