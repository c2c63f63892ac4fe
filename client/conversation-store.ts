/**
 * Each conversation's messages as a UI shows them: acknowledged messages in
 * seq order with edits, deletions and reactions applied from the event
 * stream, then the messages still in the outbox (the optimistic echo). Older
 * messages load on demand over REST and merge with what the stream delivered.
 * Message objects are replaced, never changed in place, so a UI can compare
 * them by reference.
 */
import type { ChatEvent, Message } from '../src/protocol/types.ts';
import type { MessagePage } from './rest.ts';

/** A message typed here and not yet acknowledged by the server. */
export interface PendingMessage {
  pending: true;
  clientMsgId: string;
  conversationId: string;
  senderId: string;
  body: string;
  replyToSeq: number | null;
  attachments: string[];
  createdAt: number;
}

/** What a conversation view lists: acknowledged messages, then pending ones. */
export type ListedMessage = Message | PendingMessage;

export const isPending = (m: ListedMessage): m is PendingMessage => (m as PendingMessage).pending === true;

type Modification = Extract<ChatEvent, { kind: 'message.edited' | 'message.deleted' | 'reaction.added' | 'reaction.removed' }>;

/** Events that change a message other than their own. */
const isModification = (e: ChatEvent): e is Modification =>
  e.kind === 'message.edited' || e.kind === 'message.deleted' || e.kind === 'reaction.added' || e.kind === 'reaction.removed';

const copy = (m: Message): Message => ({
  ...m,
  attachments: [...m.attachments],
  reactions: Object.fromEntries(Object.entries(m.reactions).map(([k, v]) => [k, [...v]])),
});

/**
 * One event's change to a message. Each is an assignment (set the body, mark
 * deleted, add or remove one user's reaction), so applying again, in order,
 * events a snapshot already includes ends in the same state.
 */
function modify(m: Message, e: Modification): Message {
  switch (e.kind) {
    case 'message.edited':
      // An edit never follows a delete on the server; here it can only be a replay.
      return m.deleted ? m : { ...m, body: e.data.body, editedAt: e.data.editedAt };
    case 'message.deleted':
      return { ...m, deleted: true, body: '' };
    case 'reaction.added': {
      const users = m.reactions[e.data.emoji] ?? [];
      if (users.includes(e.data.userId)) return m;
      return { ...m, reactions: { ...m.reactions, [e.data.emoji]: [...users, e.data.userId] } };
    }
    case 'reaction.removed': {
      const users = m.reactions[e.data.emoji];
      if (!users?.includes(e.data.userId)) return m;
      const rest = users.filter((u) => u !== e.data.userId);
      const reactions = { ...m.reactions };
      if (rest.length > 0) reactions[e.data.emoji] = rest;
      else delete reactions[e.data.emoji];
      return { ...m, reactions };
    }
  }
}

/** The state of one conversation; reached by apps through `ConversationView`. */
class ConversationState {
  readonly id: string;
  /** Acknowledged messages, ascending seq. */
  items: Message[] = [];
  pending: PendingMessage[] = [];
  title: string | null | undefined = undefined;
  lastSeq = 0;
  lastReadSeq = 0;
  hasOlder = true;
  /** Modifications applied while a history page is in flight: replayed onto the page. */
  recording: Modification[] | null = null;
  loading: Promise<number> | null = null;
  listeners = new Set<() => void>();
  private listed: ListedMessage[] | null = null;

  constructor(id: string) {
    this.id = id;
  }

  list(): readonly ListedMessage[] {
    return (this.listed ??= [...this.items, ...this.pending]);
  }

  /** Index of `seq` in items, or where it would go (as a negative: -(index + 1)). */
  indexOf(seq: number): number {
    let lo = 0;
    let hi = this.items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.items[mid]!.seq;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -(lo + 1);
  }

  get(seq: number): Message | undefined {
    const i = this.indexOf(seq);
    return i >= 0 ? this.items[i] : undefined;
  }

  /** Puts a message at its seq; `replace` says whether one already there is overwritten. */
  put(m: Message, replace: boolean): void {
    const i = this.indexOf(m.seq);
    if (i >= 0) {
      if (replace) this.items[i] = m;
    } else if (i === -(this.items.length + 1)) {
      this.items.push(m);
    } else {
      this.items.splice(-(i + 1), 0, m);
    }
  }

  update(seq: number, f: (m: Message) => Message): void {
    const i = this.indexOf(seq);
    if (i >= 0) this.items[i] = f(this.items[i]!);
  }

  removePending(clientMsgId: string): boolean {
    const before = this.pending.length;
    this.pending = this.pending.filter((p) => p.clientMsgId !== clientMsgId);
    return this.pending.length !== before;
  }

  changed(): void {
    this.listed = null;
    for (const fn of [...this.listeners]) fn();
  }
}

export interface StoreOptions {
  /** A page of messages as they stand now, newest first (GET …/messages). */
  loadMessages: (conversationId: string, opts: { beforeSeq?: number; limit: number }) => Promise<MessagePage>;
  /** Receives what a change listener throws. */
  onError?: ((err: unknown) => void) | undefined;
}

export class ConversationStore {
  private readonly states = new Map<string, ConversationState>();
  private readonly views = new Map<string, ConversationView>();
  private readonly opts: StoreOptions;

  constructor(opts: StoreOptions) {
    this.opts = opts;
  }

  view(conversationId: string): ConversationView {
    let v = this.views.get(conversationId);
    if (!v) this.views.set(conversationId, (v = new ConversationView(this.state(conversationId), this.opts, this)));
    return v;
  }

  /** Conversation ids the store knows, in no particular order. */
  ids(): string[] {
    return [...this.states.keys()];
  }

  /** One event, in seq order per conversation (the connection guarantees it). */
  apply(e: ChatEvent): void {
    const c = this.state(e.conversationId);
    if (e.kind === 'message.created') {
      c.put(copy(e.data), true);
      c.removePending(e.data.clientMsgId);
    } else if (e.kind === 'conversation.updated') {
      c.title = e.data.title;
    } else if (isModification(e)) {
      c.update(e.data.seq, (m) => modify(m, e));
      c.recording?.push(e);
    }
    c.lastSeq = Math.max(c.lastSeq, e.seq);
    this.changed(c);
  }

  /** Where the server says a conversation stands (from the `hello` reply). */
  position(conversationId: string, lastSeq: number, lastReadSeq: number): void {
    const c = this.state(conversationId);
    c.lastReadSeq = Math.max(c.lastReadSeq, lastReadSeq);
    if (c.items.length === 0 && lastSeq === 0) c.hasOlder = false;
    this.changed(c);
  }

  /** The user's own `lastReadSeq` grew. */
  read(conversationId: string, seq: number): void {
    const c = this.state(conversationId);
    if (seq <= c.lastReadSeq) return;
    c.lastReadSeq = seq;
    this.changed(c);
  }

  /** The optimistic echo of a message in the outbox. */
  addPending(p: PendingMessage): void {
    const c = this.state(p.conversationId);
    c.pending.push(p);
    this.changed(c);
  }

  /** The server acknowledged a message: the echo gives way to it. */
  confirm(message: Message): void {
    const c = this.state(message.conversationId);
    c.removePending(message.clientMsgId);
    // Its creation event may already be here, with later changes applied: keep that.
    c.put(copy(message), false);
    this.changed(c);
  }

  /** A message the outbox gave up on. */
  dropPending(conversationId: string, clientMsgId: string): void {
    const c = this.state(conversationId);
    if (c.removePending(clientMsgId)) this.changed(c);
  }

  /** Merges a history page: only messages not already here, with changes seen meanwhile replayed onto them. */
  merge(c: ConversationState, page: Message[], seen: Modification[]): number {
    let added = 0;
    for (const m of page) {
      if (c.get(m.seq)) continue;
      let x = copy(m);
      for (const e of seen) if (e.data.seq === m.seq) x = modify(x, e);
      c.put(x, false);
      added++;
    }
    this.changed(c);
    return added;
  }

  private state(id: string): ConversationState {
    let c = this.states.get(id);
    if (!c) this.states.set(id, (c = new ConversationState(id)));
    return c;
  }

  private changed(c: ConversationState): void {
    try {
      c.changed();
    } catch (err) {
      (this.opts.onError ?? console.error)(err);
    }
  }
}

/**
 * A live view of one conversation. `messages()` returns the same array until
 * something changes, so it suits `useSyncExternalStore` and the like.
 *
 * @example
 * const view = client.conversation(id);
 * const off = view.onChange(() => render(view.messages()));
 * await view.loadOlder(50);
 */
export class ConversationView {
  private readonly c: ConversationState;
  private readonly opts: StoreOptions;
  private readonly store: ConversationStore;

  constructor(c: ConversationState, opts: StoreOptions, store: ConversationStore) {
    this.c = c;
    this.opts = opts;
    this.store = store;
  }

  get id(): string {
    return this.c.id;
  }
  /** The title set by the last `conversation.updated` seen; undefined if none was. */
  get title(): string | null | undefined {
    return this.c.title;
  }
  /** The highest seq applied here. */
  get lastSeq(): number {
    return this.c.lastSeq;
  }
  /** The user's own read position. */
  get lastReadSeq(): number {
    return this.c.lastReadSeq;
  }
  /** False once `loadOlder` reached the first message. */
  get hasOlder(): boolean {
    return this.c.hasOlder;
  }

  /** Acknowledged messages in seq order, then pending ones in the order they were sent. */
  messages(): readonly ListedMessage[] {
    return this.c.list();
  }

  /** An acknowledged message by seq. */
  message(seq: number): Message | undefined {
    return this.c.get(seq);
  }

  pending(): readonly PendingMessage[] {
    return this.c.pending;
  }

  /** Calls `fn` after every change; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.c.listeners.add(fn);
    return () => {
      this.c.listeners.delete(fn);
    };
  }

  /** Loads up to `limit` messages older than the oldest held (the newest, when none is); resolves with how many were added. */
  loadOlder(limit = 50): Promise<number> {
    const c = this.c;
    c.loading ??= (async () => {
      const seen: Modification[] = [];
      c.recording = seen;
      try {
        const oldest = c.items[0]?.seq;
        const page = await this.opts.loadMessages(c.id, { ...(oldest !== undefined ? { beforeSeq: oldest } : {}), limit });
        if (page.nextBeforeSeq === null) c.hasOlder = false;
        return this.store.merge(c, page.items, seen);
      } finally {
        c.recording = null;
        c.loading = null;
      }
    })();
    return c.loading;
  }
}
