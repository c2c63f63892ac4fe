/**
 * Applies one batch of mutations inside the caller's transaction: each checks
 * its own preconditions before writing, so a refused mutation leaves nothing
 * behind, and each event takes the next seq of its conversation.
 */
import { notFound } from '../../errors.ts';
import type { ChatEvent, Message, Role } from '../../protocol/types.ts';
import type { Mutation, MutationResult } from '../store.ts';
import { newMessage } from '../new-message.ts';
import type { Database } from './database.ts';
import { groupReactions, toMessage, type MessageRow, type ReactionRow } from './rows.ts';

const MESSAGE_BY_SEQ = 'SELECT * FROM messages WHERE conversation_id = ? AND seq = ?';
const IS_MEMBER = 'SELECT role FROM members WHERE conversation_id = ? AND user_id = ?';

export class BatchWriter {
  /** Conversation id → last seq assigned so far in this batch. */
  private readonly seqs = new Map<string, number>();

  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  apply(m: Mutation): MutationResult {
    switch (m.kind) {
      case 'message.create':
        return this.createMessage(m);
      case 'message.edit':
        return this.editMessage(m);
      case 'message.delete':
        return this.deleteMessage(m);
      case 'reaction':
        return this.react(m);
      case 'member.join':
        return this.join(m);
      case 'member.leave':
        return this.leave(m);
      case 'conversation.update':
        return this.updateConversation(m);
    }
  }

  /** Writes each touched conversation's new last_seq; call once, after the last `apply`. */
  finish(now: number): void {
    for (const [id, seq] of this.seqs) {
      this.db.run('UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ?', seq, now, id);
    }
  }

  private nextSeq(conversationId: string): number {
    let last = this.seqs.get(conversationId);
    if (last === undefined) {
      last = this.db.get<{ last_seq: number }>('SELECT last_seq FROM conversations WHERE id = ?', conversationId)!.last_seq;
    }
    this.seqs.set(conversationId, last + 1);
    return last + 1;
  }

  /** Allocates the next seq for `event` and writes it. */
  private append<E extends ChatEvent>(event: Omit<E, 'seq'>, refSeq: number | null): E {
    const full = { ...event, seq: this.nextSeq(event.conversationId) } as E;
    this.write(full, refSeq);
    return full;
  }

  private write(full: ChatEvent, refSeq: number | null): void {
    this.db.run(
      'INSERT INTO events (conversation_id, seq, kind, actor_id, at, ref_seq, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      full.conversationId,
      full.seq,
      full.kind,
      full.actorId,
      full.at,
      refSeq,
      JSON.stringify(full.data),
    );
  }

  private exists(conversationId: string): boolean {
    return this.seqs.has(conversationId) || this.db.get('SELECT 1 FROM conversations WHERE id = ?', conversationId) !== undefined;
  }

  private isMember(conversationId: string, userId: string): boolean {
    return this.db.get(IS_MEMBER, conversationId, userId) !== undefined;
  }

  private liveMessage(conversationId: string, seq: number): MessageRow | undefined {
    const row = this.db.get<MessageRow>(MESSAGE_BY_SEQ, conversationId, seq);
    return row && row.deleted === 0 ? row : undefined;
  }

  private createMessage(m: Extract<Mutation, { kind: 'message.create' }>): MutationResult {
    if (!this.isMember(m.conversationId, m.actorId)) return { ok: false, error: notFound('conversation') };
    const existing = this.db.get<MessageRow>(
      'SELECT * FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?',
      m.conversationId,
      m.actorId,
      m.message.clientMsgId,
    );
    if (existing) return { ok: true, event: null, message: messageAt(this.db, existing.conversation_id, existing.seq)!, duplicate: true };

    const seq = this.nextSeq(m.conversationId);
    const message = newMessage(m, seq);
    this.db.run(
      `INSERT INTO messages (conversation_id, seq, id, sender_id, client_msg_id, body, reply_to_seq, attachments, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.conversationId,
      seq,
      message.id,
      m.actorId,
      message.clientMsgId,
      message.body,
      message.replyToSeq,
      JSON.stringify(message.attachments),
      m.at,
    );
    const event: ChatEvent = {
      conversationId: m.conversationId,
      seq,
      kind: 'message.created',
      actorId: m.actorId,
      at: m.at,
      data: message,
    };
    this.write(event, seq);
    return { ok: true, event, message };
  }

  private editMessage(m: Extract<Mutation, { kind: 'message.edit' }>): MutationResult {
    if (!this.isMember(m.conversationId, m.actorId)) return { ok: false, error: notFound('conversation') };
    if (!this.liveMessage(m.conversationId, m.seq)) return { ok: false, error: notFound('message') };
    this.db.run(
      'UPDATE messages SET body = ?, edited_at = ? WHERE conversation_id = ? AND seq = ?',
      m.body,
      m.at,
      m.conversationId,
      m.seq,
    );
    const event = this.append(
      {
        conversationId: m.conversationId,
        kind: 'message.edited',
        actorId: m.actorId,
        at: m.at,
        data: { seq: m.seq, body: m.body, editedAt: m.at },
      },
      m.seq,
    );
    return { ok: true, event };
  }

  private deleteMessage(m: Extract<Mutation, { kind: 'message.delete' }>): MutationResult {
    if (!this.isMember(m.conversationId, m.actorId)) return { ok: false, error: notFound('conversation') };
    const row = this.db.get<MessageRow>(MESSAGE_BY_SEQ, m.conversationId, m.seq);
    if (!row) return { ok: false, error: notFound('message') };
    if (row.deleted === 1) return { ok: true, event: null };
    this.db.run(
      "UPDATE messages SET body = '', deleted = 1 WHERE conversation_id = ? AND seq = ?",
      m.conversationId,
      m.seq,
    );
    // The text is erased everywhere: the creation event and every edit event of this message.
    this.db.run(
      `UPDATE events SET data = json_set(data, '$.body', '', '$.deleted', json('true'))
       WHERE conversation_id = ? AND ref_seq = ? AND kind = 'message.created'`,
      m.conversationId,
      m.seq,
    );
    this.db.run(
      `UPDATE events SET data = json_set(data, '$.body', '')
       WHERE conversation_id = ? AND ref_seq = ? AND kind = 'message.edited'`,
      m.conversationId,
      m.seq,
    );
    const event = this.append(
      { conversationId: m.conversationId, kind: 'message.deleted', actorId: m.actorId, at: m.at, data: { seq: m.seq } },
      m.seq,
    );
    return { ok: true, event };
  }

  private react(m: Extract<Mutation, { kind: 'reaction' }>): MutationResult {
    if (!this.isMember(m.conversationId, m.actorId)) return { ok: false, error: notFound('conversation') };
    if (!this.liveMessage(m.conversationId, m.seq)) return { ok: false, error: notFound('message') };
    const changed = m.on
      ? this.db.run(
          'INSERT OR IGNORE INTO reactions (conversation_id, seq, emoji, user_id, at) VALUES (?, ?, ?, ?, ?)',
          m.conversationId,
          m.seq,
          m.emoji,
          m.actorId,
          m.at,
        )
      : this.db.run(
          'DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?',
          m.conversationId,
          m.seq,
          m.emoji,
          m.actorId,
        );
    if (changed === 0) return { ok: true, event: null };
    const event = this.append(
      {
        conversationId: m.conversationId,
        kind: m.on ? 'reaction.added' : 'reaction.removed',
        actorId: m.actorId,
        at: m.at,
        data: { seq: m.seq, emoji: m.emoji, userId: m.actorId },
      },
      m.seq,
    );
    return { ok: true, event };
  }

  private join(m: Extract<Mutation, { kind: 'member.join' }>): MutationResult {
    if (!this.exists(m.conversationId)) return { ok: false, error: notFound('conversation') };
    if (this.isMember(m.conversationId, m.userId)) return { ok: true, event: null };
    const event = this.append(
      {
        conversationId: m.conversationId,
        kind: 'member.joined',
        actorId: m.actorId,
        at: m.at,
        data: { userId: m.userId, role: m.role },
      },
      null,
    );
    // A new member has read everything up to their own arrival.
    this.db.run(
      'INSERT INTO members (conversation_id, user_id, role, last_read_seq, joined_at) VALUES (?, ?, ?, ?, ?)',
      m.conversationId,
      m.userId,
      m.role,
      event.seq,
      m.at,
    );
    return { ok: true, event };
  }

  private leave(m: Extract<Mutation, { kind: 'member.leave' }>): MutationResult {
    const member = this.db.get<{ role: Role }>(IS_MEMBER, m.conversationId, m.userId);
    if (!member) return { ok: false, error: notFound('member') };
    this.db.run('DELETE FROM members WHERE conversation_id = ? AND user_id = ?', m.conversationId, m.userId);
    const event = this.append(
      {
        conversationId: m.conversationId,
        kind: 'member.left',
        actorId: m.actorId,
        at: m.at,
        data: { userId: m.userId, role: member.role },
      },
      null,
    );
    return { ok: true, event };
  }

  private updateConversation(m: Extract<Mutation, { kind: 'conversation.update' }>): MutationResult {
    if (!this.exists(m.conversationId)) return { ok: false, error: notFound('conversation') };
    this.db.run('UPDATE conversations SET title = ? WHERE id = ?', m.title, m.conversationId);
    const event = this.append(
      { conversationId: m.conversationId, kind: 'conversation.updated', actorId: m.actorId, at: m.at, data: { title: m.title } },
      null,
    );
    return { ok: true, event };
  }

}

/** One batch in one transaction: the writer's whole job. */
export function applyMutations(db: Database, mutations: Mutation[]): MutationResult[] {
  return db.transaction(() => {
    const writer = new BatchWriter(db);
    const results = mutations.map((m) => writer.apply(m));
    writer.finish(Date.now());
    return results;
  });
}

/** A message with its reactions in the order they were made, or null. */
export function messageAt(db: Database, conversationId: string, seq: number): Message | null {
  const row = db.get<MessageRow>(MESSAGE_BY_SEQ, conversationId, seq);
  if (!row) return null;
  const reactions = db.all<ReactionRow>(
    'SELECT seq, emoji, user_id FROM reactions WHERE conversation_id = ? AND seq = ? ORDER BY at, user_id',
    conversationId,
    seq,
  );
  return toMessage(row, groupReactions(reactions).get(seq));
}
