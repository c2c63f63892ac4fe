/**
 * The node's switchboard between the bus and local sessions. It holds one bus
 * subscription per subject that at least one local session needs (interest-
 * based fan-out), one ordered feed per conversation, and serializes each event
 * once for all local sessions.
 */
import { subjects, type Bus, type BusMessage, type Subscription } from '../bus/bus.ts';
import type { ChatEvent } from '../protocol/types.ts';
import type { Store } from '../store/store.ts';
import { ConversationFeed } from './feed.ts';

/** What the hub needs of a session. */
export interface HubMember {
  readonly userId: string;
  onEvent(event: ChatEvent, frame: Buffer): void;
  /** A typing, receipt or presence frame, already serialized. */
  onSignal(msg: BusMessage, frame: string): void;
  onMembership(msg: Extract<BusMessage, { type: 'membership' }>): void;
}

interface Topic {
  conversationId: string | null;
  members: Set<HubMember>;
  subscription: Promise<Subscription>;
  feed: ConversationFeed | null;
}

export interface HubOptions {
  bus: Bus;
  store: Store;
  holdMs: number;
  /** How often every followed conversation is checked against the store for events the bus lost. */
  syncMs: number;
  onError: (err: unknown) => void;
  onFill: () => void;
}

export class Hub {
  private readonly topics = new Map<string, Topic>();
  /** Conversation id → its topic's feed, for the periodic store check. */
  private readonly feeds = new Map<string, ConversationFeed>();
  private readonly opts: HubOptions;
  private readonly syncTimer: NodeJS.Timeout;
  private syncing = false;

  constructor(opts: HubOptions) {
    this.opts = opts;
    this.syncTimer = setInterval(() => void this.sync(), opts.syncMs);
    this.syncTimer.unref();
  }

  /** One store read for every conversation this node follows; each feed fills what the bus lost. */
  private async sync(): Promise<void> {
    if (this.syncing || this.feeds.size === 0) return;
    this.syncing = true;
    try {
      const seqs = await this.opts.store.lastSeqs([...this.feeds.keys()]);
      for (const [id, seq] of seqs) this.feeds.get(id)?.observe(seq);
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.syncing = false;
    }
  }

  close(): void {
    clearInterval(this.syncTimer);
  }

  /** Adds `member` to a conversation's audience; resolves when the bus subscription is live. */
  joinConversation(member: HubMember, conversationId: string): Promise<void> {
    return this.join(subjects.conversation(conversationId), member, conversationId);
  }

  leaveConversation(member: HubMember, conversationId: string): void {
    this.leave(subjects.conversation(conversationId), member);
  }

  joinUser(member: HubMember): Promise<void> {
    return this.join(subjects.user(member.userId), member, null);
  }

  leaveUser(member: HubMember): void {
    this.leave(subjects.user(member.userId), member);
  }

  watchPresence(member: HubMember, userId: string): Promise<void> {
    return this.join(subjects.presence(userId), member, null);
  }

  unwatchPresence(member: HubMember, userId: string): void {
    this.leave(subjects.presence(userId), member);
  }

  get subjectCount(): number {
    return this.topics.size;
  }

  private async join(subject: string, member: HubMember, conversationId: string | null): Promise<void> {
    let topic = this.topics.get(subject);
    if (!topic) {
      const feed = conversationId === null ? null : this.createFeed(subject, conversationId);
      const subscribe = () => this.opts.bus.subscribe(subject, (msg) => this.dispatch(subject, msg));
      // A feed starts from the lastSeq read BEFORE subscribing: an event committed
      // after the read arrives over the bus (or is filled by the periodic check);
      // a read after subscribing could pass an event still in flight and drop it.
      const subscription =
        feed && conversationId !== null
          ? this.opts.store.lastSeqs([conversationId]).then(async (seqs) => {
              const s = await subscribe();
              feed.init(seqs.get(conversationId) ?? 0);
              return s;
            })
          : subscribe();
      topic = { conversationId, members: new Set<HubMember>(), feed, subscription };
      this.topics.set(subject, topic);
      if (feed && conversationId !== null) this.feeds.set(conversationId, feed);
      subscription.catch(() => {
        // A failed subscription must not stay cached: the next join tries again.
        if (this.topics.get(subject) === topic) this.drop(subject, topic!);
      });
    }
    topic.members.add(member);
    await topic.subscription;
  }

  private leave(subject: string, member: HubMember): void {
    const topic = this.topics.get(subject);
    if (!topic?.members.delete(member) || topic.members.size > 0) return;
    this.drop(subject, topic);
    topic.subscription.then((s) => s.unsubscribe()).catch(this.opts.onError);
  }

  private drop(subject: string, topic: Topic): void {
    this.topics.delete(subject);
    topic.feed?.close();
    if (topic.conversationId !== null) this.feeds.delete(topic.conversationId);
  }

  private createFeed(subject: string, conversationId: string): ConversationFeed {
    return new ConversationFeed({
      holdMs: this.opts.holdMs,
      readEvents: (afterSeq, limit) => this.opts.store.readEvents(conversationId, afterSeq, limit),
      onFill: this.opts.onFill,
      onError: this.opts.onError,
      emit: (event) => {
        const members = this.topics.get(subject)?.members;
        if (!members) return;
        const frame = Buffer.from(JSON.stringify({ type: 'event', ...event }));
        for (const m of [...members]) m.onEvent(event, frame);
      },
    });
  }

  private dispatch(subject: string, msg: BusMessage): void {
    const topic = this.topics.get(subject);
    if (!topic) return;
    if (msg.type === 'event') {
      topic.feed?.offer(msg.event);
      return;
    }
    if (msg.type === 'membership') {
      for (const m of [...topic.members]) m.onMembership(msg);
      return;
    }
    const frame = JSON.stringify(msg);
    for (const m of [...topic.members]) m.onSignal(msg, frame);
  }
}
