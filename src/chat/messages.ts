/** Sending, editing, deleting, reacting, reading, typing and history: the hot path of chat. */
import { subjects, type Bus } from '../bus/bus.ts';
import { forbidden, invalid, notFound } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { ChatEvent, ConversationKind, Message } from '../protocol/types.ts';
import type { Store } from '../store/store.ts';
import { isModerator, requireMember, requireNotBlocked } from './access.ts';
import type { Committer } from './committer.ts';
import { TokenBucket } from './rate-limit.ts';

export interface SendInput {
  clientMsgId: string;
  body: string;
  replyToSeq?: number | null | undefined;
  attachments?: string[] | undefined;
}

/** Conversation kinds remembered per node before the cache starts over. */
const MAX_CACHED_KINDS = 100_000;

/** How often one user's typing in one conversation is passed on. */
const TYPING_INTERVAL_MS = 1_000;

export class MessageService {
  private readonly sends: TokenBucket;
  private readonly lastTyping = new Map<string, number>();
  private readonly kinds = new Map<string, ConversationKind>();
  private readonly pairs = new Map<string, [string, string]>();

  private readonly store: Store;
  private readonly bus: Bus;
  private readonly committer: Committer;
  private readonly metrics: Metrics;
  private readonly newId: () => string;

  constructor(store: Store, bus: Bus, committer: Committer, metrics: Metrics, newId: () => string, sendRateLimit: number) {
    this.store = store;
    this.bus = bus;
    this.committer = committer;
    this.metrics = metrics;
    this.newId = newId;
    this.sends = new TokenBucket(sendRateLimit, sendRateLimit * 2);
  }

  /** Sends a message; `created` is false when the clientMsgId was seen before (the original is returned). */
  async send(userId: string, conversationId: string, input: SendInput): Promise<{ message: Message; created: boolean }> {
    const started = performance.now();
    this.sends.take(userId);
    const replyToSeq = input.replyToSeq ?? null;
    // Membership is checked by the store inside the commit, under the same lock
    // as the seq: reading it here too would cost a round trip per send. A reply
    // or attachments (no answers about others' conversations) need the member
    // read first; a direct conversation needs its pair (cached: it never
    // changes) for the block check.
    const attaches = (input.attachments?.length ?? 0) > 0;
    const kind = await this.kindOf(conversationId);
    if (replyToSeq !== null || attaches) {
      const m = await requireMember(this.store, conversationId, userId);
      await requireNotBlocked(this.store, m, userId);
      if (replyToSeq !== null && !(await this.store.getMessage(conversationId, replyToSeq))) {
        throw invalid('replyToSeq names no message', [{ path: 'replyToSeq', message: 'no such message' }]);
      }
      if (attaches) throw invalid('unknown file', [{ path: 'attachments', message: 'no such file' }]);
    } else if (kind === 'direct') {
      const pair = await this.pairOf(conversationId);
      if (!pair.includes(userId)) throw notFound('conversation');
      const other = pair[0] === userId ? pair[1] : pair[0];
      if (await this.store.isBlockedEitherWay(userId, other)) throw forbidden('this conversation is blocked');
    }
    const r = await this.committer.apply({
      kind: 'message.create',
      conversationId,
      actorId: userId,
      at: Date.now(),
      message: { id: this.newId(), clientMsgId: input.clientMsgId, body: input.body, replyToSeq, attachments: [] },
    });
    this.metrics.sendAckSeconds.observe((performance.now() - started) / 1000);
    return { message: r.message!, created: !r.duplicate };
  }

  async edit(userId: string, conversationId: string, seq: number, body: string): Promise<ChatEvent> {
    const m = await requireMember(this.store, conversationId, userId);
    const message = await this.liveMessage(conversationId, seq);
    if (message.senderId !== userId) throw forbidden('only the sender may edit a message');
    await requireNotBlocked(this.store, m, userId);
    const r = await this.committer.apply({ kind: 'message.edit', conversationId, actorId: userId, at: Date.now(), seq, body });
    return r.event!;
  }

  /** Deletes a message; null when it was already deleted. */
  async delete(userId: string, conversationId: string, seq: number): Promise<ChatEvent | null> {
    const m = await requireMember(this.store, conversationId, userId);
    const message = await this.store.getMessage(conversationId, seq);
    if (!message) throw notFound('message');
    if (message.senderId !== userId && !isModerator(m.member.role)) {
      throw forbidden('only the sender, an admin or the owner may delete a message');
    }
    const r = await this.committer.apply({ kind: 'message.delete', conversationId, actorId: userId, at: Date.now(), seq });
    return r.event;
  }

  /** Adds or removes a reaction; null when nothing changed. */
  async react(userId: string, conversationId: string, seq: number, emoji: string, on: boolean): Promise<ChatEvent | null> {
    const m = await requireMember(this.store, conversationId, userId);
    await requireNotBlocked(this.store, m, userId);
    const r = await this.committer.apply({ kind: 'reaction', conversationId, actorId: userId, at: Date.now(), seq, emoji, on });
    return r.event;
  }

  /** Raises the caller's lastReadSeq; others hear of it as a `receipt`. */
  async read(userId: string, conversationId: string, seq: number): Promise<void> {
    await requireMember(this.store, conversationId, userId);
    const grown = await this.store.markRead(conversationId, userId, seq);
    if (grown !== null) {
      await this.bus.publish(subjects.conversation(conversationId), { type: 'receipt', conversationId, userId, seq: grown });
    }
  }

  async typing(userId: string, conversationId: string): Promise<void> {
    await requireMember(this.store, conversationId, userId);
    const key = `${userId} ${conversationId}`;
    const now = Date.now();
    if (now - (this.lastTyping.get(key) ?? 0) < TYPING_INTERVAL_MS) return;
    this.lastTyping.set(key, now);
    await this.bus.publish(subjects.conversation(conversationId), { type: 'typing', conversationId, userId });
  }

  async messages(userId: string, conversationId: string, beforeSeq: number | null, limit: number): Promise<{ items: Message[]; nextBeforeSeq: number | null }> {
    await requireMember(this.store, conversationId, userId);
    const items = await this.store.readMessages(conversationId, beforeSeq, limit + 1);
    const more = items.length > limit;
    if (more) items.length = limit;
    return { items, nextBeforeSeq: more ? items[items.length - 1]!.seq : null };
  }

  async events(userId: string, conversationId: string, afterSeq: number, limit: number): Promise<{ items: ChatEvent[]; nextAfterSeq: number | null }> {
    await requireMember(this.store, conversationId, userId);
    const items = await this.store.readEvents(conversationId, afterSeq, limit + 1);
    const more = items.length > limit;
    if (more) items.length = limit;
    return { items, nextAfterSeq: more ? items[items.length - 1]!.seq : null };
  }

  sweep(): void {
    this.sends.sweep();
    const cutoff = Date.now() - TYPING_INTERVAL_MS;
    for (const [key, at] of this.lastTyping) if (at < cutoff) this.lastTyping.delete(key);
  }

  /** A conversation's kind never changes, so it is read once per node. */
  private async kindOf(conversationId: string): Promise<ConversationKind> {
    let kind = this.kinds.get(conversationId);
    if (kind === undefined) {
      const conversation = await this.store.getConversation(conversationId);
      if (!conversation) throw notFound('conversation');
      kind = conversation.kind;
      if (this.kinds.size >= MAX_CACHED_KINDS) this.kinds.clear();
      this.kinds.set(conversationId, kind);
    }
    return kind;
  }

  /** The two members of a direct conversation, which never change. */
  private async pairOf(conversationId: string): Promise<[string, string]> {
    let pair = this.pairs.get(conversationId);
    if (!pair) {
      const members = await this.store.listMembers(conversationId);
      pair = [members[0]?.userId ?? '', members[1]?.userId ?? ''];
      if (this.pairs.size >= MAX_CACHED_KINDS) this.pairs.clear();
      this.pairs.set(conversationId, pair);
    }
    return pair;
  }

  private async liveMessage(conversationId: string, seq: number): Promise<Message> {
    const message = await this.store.getMessage(conversationId, seq);
    if (!message || message.deleted) throw notFound('message');
    return message;
  }
}
