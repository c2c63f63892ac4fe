/**
 * Sends that survive disconnects. Each message gets its `clientMsgId` once,
 * when it is queued, and keeps it through every retry, so the server's
 * idempotency makes a message typed offline, or one whose acknowledgement was
 * lost, appear exactly once. Per conversation, messages go one at a time in
 * the order they were queued; an entry is done when its reply or its own
 * `message.created` event arrives, whichever is first.
 */
import type { Message } from '../src/protocol/types.ts';
import type { PendingMessage } from './conversation-store.ts';
import { ParleyApiError, ParleyClientError } from './errors.ts';

export interface SendOptions {
  replyToSeq?: number | null;
  attachments?: string[];
  /** Your own idempotency key (1–64 characters), e.g. one persisted with a draft; a UUID otherwise. */
  clientMsgId?: string;
}

export interface OutboxDeps {
  /** Whether a frame can go out now. */
  isOpen(): boolean;
  /** Sends one `send` frame and resolves with the acknowledged message. */
  send(frame: { conversationId: string; clientMsgId: string; body: string; replyToSeq?: number | null; attachments?: string[] }): Promise<Message>;
  /** The sender's user id, for the optimistic echo. */
  senderId(): string;
  queued(p: PendingMessage): void;
  acknowledged(message: Message): void;
  failed(p: PendingMessage, err: unknown): void;
}

interface Entry {
  message: PendingMessage;
  attempts: number;
  inFlight: boolean;
  done: boolean;
  retryTimer: ReturnType<typeof setTimeout> | null;
  resolve: (m: Message) => void;
  reject: (err: unknown) => void;
}

/** `internal` may be passing (a node restarting); only so many tries, though. */
const MAX_INTERNAL_ATTEMPTS = 3;

export class Outbox {
  private readonly queues = new Map<string, Entry[]>();
  private readonly byId = new Map<string, Entry>();
  private readonly deps: OutboxDeps;

  constructor(deps: OutboxDeps) {
    this.deps = deps;
  }

  /** Messages not yet acknowledged, oldest first per conversation. */
  get size(): number {
    return this.byId.size;
  }

  has(clientMsgId: string): boolean {
    return this.byId.has(clientMsgId);
  }

  /** Queues a message; resolves with it once the server has it. */
  enqueue(conversationId: string, body: string, opts: SendOptions = {}): Promise<Message> {
    const clientMsgId = opts.clientMsgId ?? newClientMsgId();
    const existing = this.byId.get(clientMsgId);
    if (existing) return new Promise((resolve, reject) => chain(existing, resolve, reject));
    const message: PendingMessage = {
      pending: true,
      clientMsgId,
      conversationId,
      senderId: this.deps.senderId(),
      body,
      replyToSeq: opts.replyToSeq ?? null,
      attachments: opts.attachments ?? [],
      createdAt: Date.now(),
    };
    return new Promise<Message>((resolve, reject) => {
      const entry: Entry = { message, attempts: 0, inFlight: false, done: false, retryTimer: null, resolve, reject };
      let q = this.queues.get(conversationId);
      if (!q) this.queues.set(conversationId, (q = []));
      q.push(entry);
      this.byId.set(clientMsgId, entry);
      this.deps.queued(message);
      this.pump(conversationId);
    });
  }

  /** The connection (re)opened: send the head of every queue. */
  flush(): void {
    for (const id of this.queues.keys()) this.pump(id);
  }

  /** A `message.created` event of ours: done, whether or not its reply ever comes. */
  acknowledge(message: Message): void {
    const entry = this.byId.get(message.clientMsgId);
    if (entry && entry.message.conversationId === message.conversationId) this.settle(entry, message);
  }

  /** Rejects everything still queued (the client is closing). */
  failAll(err: unknown): void {
    for (const entry of [...this.byId.values()]) this.fail(entry, err);
  }

  private pump(conversationId: string): void {
    const head = this.queues.get(conversationId)?.[0];
    if (!head || head.inFlight || head.retryTimer || !this.deps.isOpen()) return;
    head.inFlight = true;
    head.attempts++;
    const m = head.message;
    this.deps
      .send({
        conversationId,
        clientMsgId: m.clientMsgId,
        body: m.body,
        ...(m.replyToSeq !== null ? { replyToSeq: m.replyToSeq } : {}),
        ...(m.attachments.length > 0 ? { attachments: m.attachments } : {}),
      })
      .then(
        (message) => this.settle(head, message),
        (err) => {
          head.inFlight = false;
          if (head.done) return;
          const delay = retryDelay(err, head.attempts);
          if (delay === null) return this.fail(head, err);
          if (delay === 0) return this.pump(conversationId);
          head.retryTimer = setTimeout(() => {
            head.retryTimer = null;
            this.pump(conversationId);
          }, delay);
        },
      );
  }

  private settle(entry: Entry, message: Message): void {
    if (entry.done) return;
    this.remove(entry);
    this.deps.acknowledged(message);
    entry.resolve(message);
    this.pump(entry.message.conversationId);
  }

  private fail(entry: Entry, err: unknown): void {
    if (entry.done) return;
    this.remove(entry);
    this.deps.failed(entry.message, err);
    entry.reject(err);
    this.pump(entry.message.conversationId);
  }

  private remove(entry: Entry): void {
    entry.done = true;
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
    const id = entry.message.conversationId;
    const q = this.queues.get(id);
    if (q) {
      const rest = q.filter((e) => e !== entry);
      if (rest.length > 0) this.queues.set(id, rest);
      else this.queues.delete(id);
    }
    this.byId.delete(entry.message.clientMsgId);
  }
}

/**
 * How long to wait before sending again: 0 for at once (or at the next open),
 * null to give up. The same clientMsgId makes every retry safe.
 */
function retryDelay(err: unknown, attempts: number): number | null {
  if (err instanceof ParleyClientError) {
    // Lost with the socket: the next open flushes. A timeout on an open socket: again now.
    return err.code === 'closed' ? null : 0;
  }
  if (err instanceof ParleyApiError) {
    const backoff = Math.random() * Math.min(30_000, 500 * 2 ** attempts);
    if (err.code === 'rate_limited') return Math.max(backoff, (err.retryAfter ?? 1) * 1000);
    if (err.code === 'unavailable') return backoff;
    if (err.code === 'internal' && attempts < MAX_INTERNAL_ATTEMPTS) return backoff;
  }
  return null;
}

/** A random UUID. `crypto.randomUUID` exists only in secure contexts (https, localhost); `getRandomValues` everywhere. */
function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A second send with a clientMsgId already queued shares the first one's outcome. */
function chain(entry: Entry, resolve: (m: Message) => void, reject: (err: unknown) => void): void {
  const { resolve: r0, reject: j0 } = entry;
  entry.resolve = (m) => {
    r0(m);
    resolve(m);
  };
  entry.reject = (e) => {
    j0(e);
    reject(e);
  };
}
