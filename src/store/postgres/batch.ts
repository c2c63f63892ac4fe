/**
 * The batch writer: applies one batch of mutations in ONE transaction on one
 * connection, with the same per-mutation checks as the SQLite adapter
 * (sqlite/mutations.ts), in a small constant number of round trips.
 *
 * Round trips for a batch of sends, however many and into however many
 * conversations:
 *   1. BEGIN, lock the batch's conversations (`FOR UPDATE`, ordered by id so two
 *      nodes' batches cannot deadlock), prefetch the senders' memberships and the
 *      batch's clientMsgIds already stored: four statements, pipelined.
 *   2. One multi-row INSERT of the messages, one of the events, one UPDATE of
 *      every touched conversation's last_seq and updated_at, and COMMIT: pipelined.
 * Seqs come from the locked rows and are assigned in memory, in batch order.
 * Because the prefetch runs after the lock is granted (READ COMMITTED: each
 * statement sees what committed before it started), a clientMsgId that another
 * node committed a moment earlier is found, and the UNIQUE (conversation_id,
 * sender_id, client_msg_id) constraint backs that up.
 *
 * Other mutations (edit, delete, react, join, leave, title) are rare: each
 * first sends the sends pending before it (so it sees them), then runs its own
 * check-and-write statement, costing one round trip more. Every mutation sees
 * the effects of those before it in the batch.
 */
import { invalid, notFound, type ParleyError } from '../../errors.ts';
import type { ChatEvent, Message } from '../../protocol/types.ts';
import type { Mutation, MutationResult } from '../store.ts';
import { newMessage } from '../new-message.ts';
import { isConnectionError, storable, type ReservedSql, type Sql } from './database.ts';
import { MESSAGE_COLUMNS, toMessage, type MessageRow } from './rows.ts';

type Send = Extract<Mutation, { kind: 'message.create' }>;
type Pending = Promise<unknown>;

const key = (...parts: (string | number)[]): string => parts.join('\u0000');

/** The strings of a mutation that PostgreSQL must store or compare. */
function strings(m: Mutation): string[] {
  const base = [m.conversationId, m.actorId];
  switch (m.kind) {
    case 'message.create':
      return [...base, m.message.id, m.message.clientMsgId, m.message.body, ...m.message.attachments];
    case 'message.edit':
      return [...base, m.body];
    case 'reaction':
      return [...base, m.emoji];
    case 'member.join':
      return [...base, m.userId, m.role];
    case 'member.leave':
      return [...base, m.userId];
    case 'conversation.update':
      return [...base, m.title];
    case 'message.delete':
      return base;
  }
}

const unstorable = (): MutationResult => ({
  ok: false,
  error: invalid('text may not contain NUL characters or unpaired surrogates'),
});
const refused = (error: ParleyError): MutationResult => ({ ok: false, error });

export async function applyBatch(sql: Sql, mutations: Mutation[]): Promise<MutationResult[]> {
  // Refused up front: one caller's unstorable text must not fail the others' writes.
  const results: (MutationResult | null)[] = mutations.map((m) => (strings(m).every(storable) ? null : unstorable()));
  const valid = mutations.filter((_, i) => results[i] === null);
  if (valid.length === 0) return results as MutationResult[];

  const tx = await sql.reserve();
  const writer = new BatchWriter(tx);
  try {
    await writer.begin(valid);
    for (let i = 0; i < mutations.length; i++) {
      if (results[i] === null) results[i] = await writer.apply(mutations[i]!);
    }
    await writer.commit(Date.now());
    tx.release();
    return results as MutationResult[];
  } catch (err) {
    const failure = await writer.fail(err);
    // A connection that died must not be written to nor handed back: postgres.js
    // (3.4.9) would write to its closed socket and throw outside any promise.
    // The pool takes it back by itself when the socket closes.
    if (!writer.broken) tx.release();
    throw failure;
  }
}

const newMessageColumns = () => ({
  conversationId: [] as string[],
  seq: [] as number[],
  id: [] as string[],
  senderId: [] as string[],
  clientMsgId: [] as string[],
  body: [] as string[],
  replyToSeq: [] as (number | null)[],
  attachments: [] as string[],
  createdAt: [] as number[],
});

const newEventColumns = () => ({
  conversationId: [] as string[],
  seq: [] as number[],
  kind: [] as string[],
  actorId: [] as string[],
  at: [] as number[],
  refSeq: [] as (number | null)[],
  data: [] as string[],
});

class BatchWriter {
  private readonly tx: ReservedSql;
  /** Locked (so existing) conversation → the last seq assigned so far in this batch. */
  private readonly seqs = new Map<string, number>();
  private readonly touched = new Set<string>();
  /** (conversation, user) → member now; prefetched for every sender, then kept current by joins and leaves. */
  private readonly members = new Map<string, boolean>();
  /** (conversation, sender, clientMsgId) → the message stored under it, before or in this batch. */
  private readonly sent = new Map<string, Message>();
  /** (conversation, seq) of messages an earlier mutation of this batch changed: `sent` may be stale for them. */
  private readonly changed = new Set<string>();
  /** Statements sent but not yet awaited, in the order they were sent. */
  private readonly inflight: Pending[] = [];
  private open = false;
  /** Set when a statement failed because the connection itself is gone. */
  broken = false;

  /** The sends and events not yet written, column by column for unnest(). */
  private msg = newMessageColumns();
  private ev = newEventColumns();

  constructor(tx: ReservedSql) {
    this.tx = tx;
  }

  /** Round trip 1: BEGIN, the conversation locks, and the prefetches for every send, pipelined. */
  async begin(mutations: Mutation[]): Promise<void> {
    const tx = this.tx;
    const conversationIds = [...new Set(mutations.map((m) => m.conversationId))].sort();
    const sends = mutations.filter((m): m is Send => m.kind === 'message.create');
    // Whose membership the batch must know: senders, and the actors of edits, deletes and reactions.
    const actors = mutations.filter((m) => m.kind === 'message.create' || m.kind === 'message.edit' || m.kind === 'message.delete' || m.kind === 'reaction');

    const begin = tx`BEGIN ISOLATION LEVEL READ COMMITTED`.execute();
    this.open = true;
    const locked = tx<{ id: string; last_seq: number }[]>`
      SELECT id, last_seq FROM conversations WHERE id = ANY(${conversationIds}::text[]) ORDER BY id FOR UPDATE`.execute();
    const queries: Promise<unknown>[] = [begin, locked];
    let memberRows: Promise<{ conversation_id: string; user_id: string }[]> | null = null;
    let sentRows: Promise<MessageRow[]> | null = null;
    if (actors.length > 0) {
      const pairs = [...new Map(actors.map((s) => [key(s.conversationId, s.actorId), s])).values()];
      memberRows = tx<{ conversation_id: string; user_id: string }[]>`
        SELECT conversation_id, user_id FROM members
        WHERE (conversation_id, user_id) IN (
          SELECT * FROM unnest(${pairs.map((s) => s.conversationId)}::text[], ${pairs.map((s) => s.actorId)}::text[]))`.execute();
      queries.push(memberRows);
      for (const s of actors) this.members.set(key(s.conversationId, s.actorId), false);
    }
    if (sends.length > 0) {
      sentRows = tx<MessageRow[]>`
        SELECT ${tx.unsafe(MESSAGE_COLUMNS)} FROM messages m
        WHERE (m.conversation_id, m.sender_id, m.client_msg_id) IN (
          SELECT * FROM unnest(${sends.map((s) => s.conversationId)}::text[], ${sends.map((s) => s.actorId)}::text[],
                               ${sends.map((s) => s.message.clientMsgId)}::text[]))`.execute();
      queries.push(sentRows);
    }
    await Promise.all(queries);

    for (const r of await locked) this.seqs.set(r.id, r.last_seq);
    for (const r of (await memberRows) ?? []) this.members.set(key(r.conversation_id, r.user_id), true);
    for (const r of (await sentRows) ?? []) this.sent.set(key(r.conversation_id, r.sender_id, r.client_msg_id), toMessage(r));
  }

  apply(m: Mutation): Promise<MutationResult> | MutationResult {
    if (m.kind === 'message.create') return this.createMessage(m);
    // Every other kind reads the database: send the pending writes first (pipelined, not awaited).
    this.flush();
    switch (m.kind) {
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

  /** Round trip 2 (with the last sends): the writes, the conversations' new last_seq, and COMMIT, pipelined. */
  async commit(now: number): Promise<void> {
    this.flush();
    if (this.touched.size > 0) {
      const ids = [...this.touched];
      this.send(this.tx`
        UPDATE conversations c SET last_seq = x.seq, updated_at = ${now}
        FROM unnest(${ids}::text[], ${ids.map((id) => this.seqs.get(id)!)}::bigint[]) AS x (id, seq)
        WHERE c.id = x.id`);
    }
    // After a failed statement PostgreSQL answers COMMIT with a rollback; the failure is reported below.
    this.send(this.tx`COMMIT`);
    this.open = false;
    const failure = await this.firstFailure();
    if (failure !== null) throw failure;
  }

  /**
   * Waits for every statement sent, rolls back if the transaction is still open,
   * and returns the error to report: the first statement's that failed, else `err`.
   */
  async fail(err: unknown): Promise<unknown> {
    const first = (await this.firstFailure()) ?? err;
    // The server rolls back the transaction of a session that ended.
    if (isConnectionError(first) || isConnectionError(err)) this.broken = true;
    if (this.open && !this.broken) {
      this.open = false;
      // If even ROLLBACK fails, the connection's state is unknown: never hand it back.
      await this.tx`ROLLBACK`.catch(() => {
        this.broken = true;
      });
    }
    return first;
  }

  private async firstFailure(): Promise<unknown> {
    const settled = await Promise.allSettled(this.inflight);
    this.inflight.length = 0;
    const failed = settled.filter((s) => s.status === 'rejected').map((s) => s.reason as unknown);
    if (failed.some(isConnectionError)) this.broken = true;
    return failed.length > 0 ? failed[0] : null;
  }

  /** Sends a statement now, without waiting for it; its failure surfaces at commit (or at the next awaited statement). */
  private send(query: Pending & { execute(): Pending }): Pending {
    const q = query.execute();
    q.catch(() => {}); // observed in firstFailure; never an unhandled rejection
    this.inflight.push(q);
    return q;
  }

  private nextSeq(conversationId: string): number {
    const seq = this.seqs.get(conversationId)! + 1;
    this.seqs.set(conversationId, seq);
    this.touched.add(conversationId);
    return seq;
  }

  /** Queues an event for the next multi-row insert. */
  private event(e: ChatEvent, refSeq: number | null): ChatEvent {
    const ev = this.ev;
    ev.conversationId.push(e.conversationId);
    ev.seq.push(e.seq);
    ev.kind.push(e.kind);
    ev.actorId.push(e.actorId);
    ev.at.push(e.at);
    ev.refSeq.push(refSeq);
    ev.data.push(JSON.stringify(e.data));
    return e;
  }

  /** Sends the pending messages and events as one multi-row INSERT each. */
  private flush(): void {
    const { msg, ev, tx } = this;
    if (msg.id.length > 0) {
      this.send(tx`
        INSERT INTO messages (conversation_id, seq, id, sender_id, client_msg_id, body, reply_to_seq, attachments, created_at)
        SELECT c, s, i, se, cm, b, r, a::jsonb, t
        FROM unnest(${msg.conversationId}::text[], ${msg.seq}::bigint[], ${msg.id}::text[], ${msg.senderId}::text[],
                    ${msg.clientMsgId}::text[], ${msg.body}::text[], ${msg.replyToSeq}::bigint[], ${msg.attachments}::text[],
                    ${msg.createdAt}::bigint[]) AS x (c, s, i, se, cm, b, r, a, t)`);
      // New arrays, not truncated ones: the driver serializes parameters a tick later.
      this.msg = newMessageColumns();
    }
    if (ev.seq.length > 0) {
      this.send(tx`
        INSERT INTO events (conversation_id, seq, kind, actor_id, at, ref_seq, data)
        SELECT c, s, k, a, t, r, d::jsonb
        FROM unnest(${ev.conversationId}::text[], ${ev.seq}::bigint[], ${ev.kind}::text[], ${ev.actorId}::text[],
                    ${ev.at}::bigint[], ${ev.refSeq}::bigint[], ${ev.data}::text[]) AS x (c, s, k, a, t, r, d)`);
      this.ev = newEventColumns();
    }
  }

  private async createMessage(m: Send): Promise<MutationResult> {
    if (!this.seqs.has(m.conversationId) || !this.members.get(key(m.conversationId, m.actorId))) {
      return refused(notFound('conversation'));
    }
    const sentKey = key(m.conversationId, m.actorId, m.message.clientMsgId);
    const original = this.sent.get(sentKey);
    if (original) {
      let current = original;
      if (this.changed.has(key(m.conversationId, original.seq))) {
        // Edited, deleted or reacted to earlier in this batch: read it as it stands now.
        this.flush();
        const [row] = await this.tx<MessageRow[]>`
          SELECT ${this.tx.unsafe(MESSAGE_COLUMNS)} FROM messages m
          WHERE m.conversation_id = ${m.conversationId} AND m.seq = ${original.seq}`;
        current = toMessage(row!);
      }
      return { ok: true, event: null, message: structuredClone(current), duplicate: true };
    }

    const seq = this.nextSeq(m.conversationId);
    const message = newMessage(m, seq);
    const msg = this.msg;
    msg.conversationId.push(m.conversationId);
    msg.seq.push(seq);
    msg.id.push(message.id);
    msg.senderId.push(m.actorId);
    msg.clientMsgId.push(message.clientMsgId);
    msg.body.push(message.body);
    msg.replyToSeq.push(message.replyToSeq);
    msg.attachments.push(JSON.stringify(message.attachments));
    msg.createdAt.push(m.at);
    this.sent.set(sentKey, message);
    const event = this.event(
      { conversationId: m.conversationId, seq, kind: 'message.created', actorId: m.actorId, at: m.at, data: message },
      seq,
    );
    return { ok: true, event, message };
  }

  private async editMessage(m: Extract<Mutation, { kind: 'message.edit' }>): Promise<MutationResult> {
    if (!this.members.get(key(m.conversationId, m.actorId))) return refused(notFound('conversation'));
    const rows = await this.tx`
      UPDATE messages SET body = ${m.body}, edited_at = ${m.at}
      WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq} AND NOT deleted
      RETURNING seq`;
    if (rows.length === 0) return refused(notFound('message'));
    this.changed.add(key(m.conversationId, m.seq));
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: 'message.edited',
        actorId: m.actorId,
        at: m.at,
        data: { seq: m.seq, body: m.body, editedAt: m.at },
      },
      m.seq,
    );
    return { ok: true, event };
  }

  private async deleteMessage(m: Extract<Mutation, { kind: 'message.delete' }>): Promise<MutationResult> {
    if (!this.members.get(key(m.conversationId, m.actorId))) return refused(notFound('conversation'));
    // One statement: look the message up, mark it deleted, and erase its text
    // everywhere, from the creation event and every edit event included.
    const [row] = await this.tx<{ was_deleted: boolean | null }[]>`
      WITH target AS (
        SELECT deleted FROM messages WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq}
      ), erased AS (
        UPDATE messages SET body = '', deleted = true
        WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq} AND NOT deleted
        RETURNING seq
      ), scrubbed AS (
        UPDATE events SET data = data || CASE kind
          WHEN 'message.created' THEN '{"body": "", "deleted": true}'::jsonb
          ELSE '{"body": ""}'::jsonb END
        WHERE conversation_id = ${m.conversationId} AND ref_seq = ${m.seq}
          AND kind IN ('message.created', 'message.edited') AND EXISTS (SELECT 1 FROM erased)
      )
      SELECT (SELECT deleted FROM target) AS was_deleted`;
    if (row!.was_deleted === null) return refused(notFound('message'));
    if (row!.was_deleted) return { ok: true, event: null };
    this.changed.add(key(m.conversationId, m.seq));
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: 'message.deleted',
        actorId: m.actorId,
        at: m.at,
        data: { seq: m.seq },
      },
      m.seq,
    );
    return { ok: true, event };
  }

  private async react(m: Extract<Mutation, { kind: 'reaction' }>): Promise<MutationResult> {
    if (!this.members.get(key(m.conversationId, m.actorId))) return refused(notFound('conversation'));
    const [row] = m.on
      ? await this.tx<{ live: boolean; changed: boolean }[]>`
          WITH live AS (
            SELECT 1 FROM messages WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq} AND NOT deleted
          ), changed AS (
            INSERT INTO reactions (conversation_id, seq, emoji, user_id, at)
            SELECT ${m.conversationId}, ${m.seq}, ${m.emoji}, ${m.actorId}, ${m.at} WHERE EXISTS (SELECT 1 FROM live)
            ON CONFLICT DO NOTHING
            RETURNING 1
          )
          SELECT EXISTS (SELECT 1 FROM live) AS live, EXISTS (SELECT 1 FROM changed) AS changed`
      : await this.tx<{ live: boolean; changed: boolean }[]>`
          WITH live AS (
            SELECT 1 FROM messages WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq} AND NOT deleted
          ), changed AS (
            DELETE FROM reactions
            WHERE conversation_id = ${m.conversationId} AND seq = ${m.seq} AND emoji = ${m.emoji} AND user_id = ${m.actorId}
              AND EXISTS (SELECT 1 FROM live)
            RETURNING 1
          )
          SELECT EXISTS (SELECT 1 FROM live) AS live, EXISTS (SELECT 1 FROM changed) AS changed`;
    if (!row!.live) return refused(notFound('message'));
    if (!row!.changed) return { ok: true, event: null };
    this.changed.add(key(m.conversationId, m.seq));
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: m.on ? 'reaction.added' : 'reaction.removed',
        actorId: m.actorId,
        at: m.at,
        data: { seq: m.seq, emoji: m.emoji, userId: m.actorId },
      },
      m.seq,
    );
    return { ok: true, event };
  }

  private async join(m: Extract<Mutation, { kind: 'member.join' }>): Promise<MutationResult> {
    if (!this.seqs.has(m.conversationId)) return refused(notFound('conversation'));
    // A new member has read everything up to their own arrival: the seq their join takes.
    const seq = this.seqs.get(m.conversationId)! + 1;
    const rows = await this.tx`
      INSERT INTO members (conversation_id, user_id, role, last_read_seq, joined_at)
      VALUES (${m.conversationId}, ${m.userId}, ${m.role}, ${seq}, ${m.at})
      ON CONFLICT DO NOTHING
      RETURNING 1`;
    if (rows.length === 0) return { ok: true, event: null };
    this.members.set(key(m.conversationId, m.userId), true);
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: 'member.joined',
        actorId: m.actorId,
        at: m.at,
        data: { userId: m.userId, role: m.role },
      },
      null,
    );
    return { ok: true, event };
  }

  private async leave(m: Extract<Mutation, { kind: 'member.leave' }>): Promise<MutationResult> {
    const [row] = await this.tx<{ role: 'owner' | 'admin' | 'member' }[]>`
      DELETE FROM members WHERE conversation_id = ${m.conversationId} AND user_id = ${m.userId} RETURNING role`;
    if (!row) return refused(notFound('member'));
    this.members.set(key(m.conversationId, m.userId), false);
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: 'member.left',
        actorId: m.actorId,
        at: m.at,
        data: { userId: m.userId, role: row.role },
      },
      null,
    );
    return { ok: true, event };
  }

  private updateConversation(m: Extract<Mutation, { kind: 'conversation.update' }>): MutationResult {
    if (!this.seqs.has(m.conversationId)) return refused(notFound('conversation'));
    // Nothing to check: sent without waiting, like the inserts.
    this.send(this.tx`UPDATE conversations SET title = ${m.title} WHERE id = ${m.conversationId}`);
    const event = this.event(
      {
        conversationId: m.conversationId,
        seq: this.nextSeq(m.conversationId),
        kind: 'conversation.updated',
        actorId: m.actorId,
        at: m.at,
        data: { title: m.title },
      },
      null,
    );
    return { ok: true, event };
  }
}
