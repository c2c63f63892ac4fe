/**
 * One client connection: the `hello` handshake, frame dispatch, and the
 * delivery guarantee. Per conversation it keeps the last seq delivered; an
 * event is written only when it is exactly the next one, older ones are
 * dropped, and a hole is filled from the store before anything after it is
 * written. Resumes replay from the store the same way.
 */
import type { BusMessage } from '../bus/bus.ts';
import type { Chat } from '../chat/chat.ts';
import type { TokenBucket } from '../chat/rate-limit.ts';
import { invalid, ParleyError, toParleyError } from '../errors.ts';
import { clientFrames, closeCodes, isClientFrameType, type ClientFrame, type ClientFrameOf, type HelloReply } from '../protocol/frames.ts';
import { EVENTS_DEFAULT_LIMIT, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, MAX_WATCHED_USERS, RESUME_REPLAY_LIMIT } from '../protocol/limits.ts';
import type { ChatEvent } from '../protocol/types.ts';
import { parse } from '../protocol/validate.ts';
import type { Metrics } from '../metrics.ts';
import type { Hub, HubMember } from './hub.ts';
import type { PresenceTracker } from './presence.ts';
import type { Transport } from './transport.ts';

export interface SessionContext {
  chat: Chat;
  hub: Hub;
  presence: PresenceTracker;
  metrics: Metrics;
  frameLimiter: TokenBucket;
  /** Deliveries since the metrics were last read; a plain counter on the hot path. */
  deliveries: { count: number };
  heartbeatMs: number;
  helloTimeoutMs: number;
  sendBufferLimit: number;
  onError: (err: unknown) => void;
  onClose: (session: Session) => void;
}

type State = 'new' | 'starting' | 'open' | 'closed';

/** Rate-limited frames in a row after which the connection is closed with 4008. */
const MAX_STRIKES = 20;
/** Frames a client may send behind its hello before the reply; more is a flood. */
const MAX_QUEUED_DURING_HELLO = 100;
/** How long a conversation whose fill failed (store down) waits before trying again. */
const FILL_RETRY_MS = 1_000;
const FILL_PAGE = 500;

export class Session implements HubMember {
  readonly id: string;
  userId = '';
  private state: State = 'new';
  private readonly ctx: SessionContext;
  private readonly transport: Transport;
  /** Conversation id → last seq delivered on this connection. */
  private readonly cursors = new Map<string, number>();
  /** Conversations being filled from the store, with the live events that arrived meanwhile. */
  private filling: Map<string, ChatEvent[]> | null = null;
  /**
   * Conversations whose replay has passed this user's own `member.left`: later
   * events are not theirs to see unless a `member.joined` of theirs follows.
   */
  private departed: Set<string> | null = null;
  private watched: Set<string> | null = null;
  private queued: ClientFrame[] | null = null;
  /** Conversations subscribed after their lastSeq was read during the handshake. */
  private late: Set<string> | null = null;
  private strikes = 0;
  /** Registered with the presence registry (and so owes it a disconnect). */
  private present = false;
  private helloTimer: NodeJS.Timeout | null;

  constructor(id: string, transport: Transport, ctx: SessionContext) {
    this.id = id;
    this.transport = transport;
    this.ctx = ctx;
    this.helloTimer = setTimeout(() => this.close(closeCodes.notAuthenticated, 'no hello in time'), ctx.helloTimeoutMs);
  }

  // Frames from the client

  /** One text frame from the client. */
  receive(text: string): void {
    if (this.state === 'closed') return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.close(closeCodes.protocolError, 'frame is not JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !isClientFrameType((raw as { type?: unknown }).type)) {
      return this.close(closeCodes.protocolError, 'frame is not an object with a known type');
    }
    const type = (raw as { type: ClientFrame['type'] }).type;
    const rawId = (raw as { id?: unknown }).id;
    // A string id is echoed as sent, even when too long, so the client can match
    // the error reply; anything else is no id at all (and is never serialized back).
    const re = typeof rawId === 'string' ? rawId : undefined;
    if (this.state === 'new' && type !== 'hello') return this.close(closeCodes.notAuthenticated, 'hello must come first');

    let frame: ClientFrame;
    try {
      frame = parse(clientFrames[type], raw) as ClientFrame;
    } catch (err) {
      // A bad field is an error reply, not a close; an unauthenticated connection may try hello again.
      return this.reply(re, toParleyError(err));
    }
    if (frame.type === 'hello') {
      if (this.state !== 'new') return this.reply(re, invalid('already authenticated'));
      void this.hello(frame);
      return;
    }
    if (this.state === 'starting') {
      const queued = (this.queued ??= []);
      if (queued.length >= MAX_QUEUED_DURING_HELLO) return this.close(closeCodes.rateLimited, 'too many frames before hello completed');
      queued.push(frame);
      return;
    }
    this.dispatch(frame);
  }

  private dispatch(frame: Exclude<ClientFrame, { type: 'hello' }>): void {
    let result: Promise<unknown>;
    try {
      this.ctx.frameLimiter.take(this.id);
      result = this.handle(frame);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (data) => {
        this.strikes = 0;
        this.reply(frame.id, null, data);
      },
      (err) => {
        const e = toParleyError(err);
        if (e.code === 'internal') this.ctx.onError(err);
        this.reply(frame.id, e);
        if (e.code === 'rate_limited' && ++this.strikes >= MAX_STRIKES) {
          this.close(closeCodes.rateLimited, 'rate limited repeatedly');
        }
      },
    );
  }

  private async handle(frame: Exclude<ClientFrame, { type: 'hello' }>): Promise<unknown> {
    const { messages } = this.ctx.chat;
    const u = this.userId;
    switch (frame.type) {
      case 'send': {
        const { message } = await messages.send(u, frame.conversationId, frame);
        return { message };
      }
      case 'edit':
        return { event: await messages.edit(u, frame.conversationId, frame.seq, frame.body) };
      case 'delete': {
        const event = await messages.delete(u, frame.conversationId, frame.seq);
        return event ? { event } : {};
      }
      case 'react': {
        const event = await messages.react(u, frame.conversationId, frame.seq, frame.emoji, frame.on);
        return event ? { event } : {};
      }
      case 'read':
        await messages.read(u, frame.conversationId, frame.seq);
        return {};
      case 'typing':
        await messages.typing(u, frame.conversationId);
        return {};
      case 'watch':
        return { presence: await this.watch(frame.userIds) };
      case 'unwatch':
        this.unwatch(frame.userIds);
        return {};
      case 'history':
        return this.history(frame);
      case 'ping':
        return {};
    }
  }

  private async history(frame: ClientFrameOf<'history'>): Promise<unknown> {
    const { messages } = this.ctx.chat;
    if (frame.afterSeq !== undefined && frame.beforeSeq !== undefined) {
      throw invalid('give afterSeq or beforeSeq, not both', [{ path: 'beforeSeq', message: 'not with afterSeq' }]);
    }
    if (frame.afterSeq !== undefined) {
      const page = await messages.events(this.userId, frame.conversationId, frame.afterSeq, frame.limit ?? EVENTS_DEFAULT_LIMIT);
      return { events: page.items };
    }
    const limit = frame.limit ?? HISTORY_DEFAULT_LIMIT;
    if (limit > HISTORY_MAX_LIMIT) throw invalid(`limit: at most ${HISTORY_MAX_LIMIT} messages`, [{ path: 'limit', message: `at most ${HISTORY_MAX_LIMIT}` }]);
    const page = await messages.messages(this.userId, frame.conversationId, frame.beforeSeq ?? null, limit);
    return { messages: page.items };
  }

  private async watch(userIds: string[]) {
    const watched = (this.watched ??= new Set());
    const fresh = [...new Set(userIds)].filter((id) => !watched.has(id));
    if (watched.size + fresh.length > MAX_WATCHED_USERS) {
      throw invalid(`at most ${MAX_WATCHED_USERS} watched users in all`, [{ path: 'userIds', message: 'too many' }]);
    }
    for (const id of fresh) watched.add(id);
    return this.ctx.presence.watch(this, [...new Set(userIds)]);
  }

  private unwatch(userIds: string[]): void {
    const gone = userIds.filter((id) => this.watched?.delete(id));
    this.ctx.presence.unwatch(this, gone);
  }

  // The handshake

  private async hello(frame: ClientFrameOf<'hello'>): Promise<void> {
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.state = 'starting';
    // The connection may close during any await below: each step checks, and
    // whatever was registered by then is released by closed() or here.
    try {
      const claims = await this.ctx.chat.auth.authenticate(frame.token);
      if (this.isClosed()) return;
      this.userId = claims.userId;
    } catch (err) {
      this.reply(frame.id, toParleyError(err));
      return this.close(closeCodes.notAuthenticated, 'invalid or expired token');
    }
    try {
      const conversations = await this.subscribeAll(frame.resume ?? []);
      if (this.isClosed()) return this.releaseAll();
      await this.ctx.presence.connected(this.userId, this.id);
      this.present = true;
      if (this.isClosed()) return this.ctx.presence.disconnected(this.userId, this.id);
      const reply: HelloReply = {
        userId: this.userId,
        sessionId: this.id,
        heartbeatMs: this.ctx.heartbeatMs,
        conversations,
      };
      this.reply(frame.id, null, reply);
      this.state = 'open';
      this.startDelivery(
        new Map((frame.resume ?? []).map((r) => [r.conversationId, r.afterSeq])),
        new Map(conversations.map((c) => [c.id, c.lastSeq])),
      );
      const queued = this.queued ?? [];
      this.queued = null;
      for (const f of queued) this.dispatch(f as Exclude<ClientFrame, { type: 'hello' }>);
    } catch (err) {
      this.ctx.onError(err);
      this.reply(frame.id, toParleyError(err));
      this.close(closeCodes.goingAway, 'could not start the session');
      this.releaseAll(); // what subscribeAll added after an earlier close
    }
  }

  /**
   * Joins every conversation of the user BEFORE reading where each stands, so
   * nothing committed in between can slip past both the read and the bus.
   */
  private async subscribeAll(resume: { conversationId: string; afterSeq: number }[]) {
    const store = this.ctx.chat.store;
    await this.ctx.hub.joinUser(this);
    const before = await store.listCursors(this.userId);
    for (const c of before) this.track(c.id);
    await Promise.all(before.map((c) => this.ctx.hub.joinConversation(this, c.id)));
    const now = await store.listCursors(this.userId);
    const resumeAt = new Map(resume.map((r) => [r.conversationId, r.afterSeq]));
    for (const c of now) {
      if (!this.cursors.has(c.id)) {
        // Subscribed only after its lastSeq was read: whatever came between is read back in startDelivery.
        this.track(c.id);
        (this.late ??= new Set()).add(c.id);
        await this.ctx.hub.joinConversation(this, c.id);
      }
      // A resume point past the end (a confused client) starts at the end.
      if (this.cursors.get(c.id) === -1) this.cursors.set(c.id, Math.min(resumeAt.get(c.id) ?? c.lastSeq, c.lastSeq));
    }
    // Conversations left between the two reads.
    const current = new Set(now.map((c) => c.id));
    for (const c of before) if (!current.has(c.id)) this.untrack(c.id);
    return now;
  }

  /** Starts holding live events for a conversation whose starting point is not yet known (-1). */
  private track(conversationId: string): void {
    this.cursors.set(conversationId, -1);
    (this.filling ??= new Map()).set(conversationId, []);
  }

  private untrack(conversationId: string): void {
    this.cursors.delete(conversationId);
    this.filling?.delete(conversationId);
    this.departed?.delete(conversationId);
    this.ctx.hub.leaveConversation(this, conversationId);
  }

  /**
   * After the hello reply: replays resumed conversations, fills those joined
   * during the handshake, and lets the rest go live without a store read.
   */
  private startDelivery(resumeAt: Map<string, number>, lastSeqs: Map<string, number>): void {
    for (const id of [...(this.filling?.keys() ?? [])]) {
      if (resumeAt.has(id)) void this.fill(id, RESUME_REPLAY_LIMIT);
      else if (this.late?.has(id) || (this.cursors.get(id) ?? 0) < (lastSeqs.get(id) ?? Infinity)) void this.fill(id, Infinity);
      else this.release(id);
    }
    this.late = null;
  }

  // Delivery

  onEvent(event: ChatEvent, frame: Buffer | string): void {
    if (this.state === 'closed') return;
    const id = event.conversationId;
    const held = this.filling?.get(id);
    if (held) {
      held.push(event);
      return;
    }
    const cursor = this.cursors.get(id);
    if (cursor === undefined || event.seq <= cursor) return;
    if (event.seq === cursor + 1) {
      this.deliver(event, frame);
      return;
    }
    (this.filling ??= new Map()).set(id, [event]);
    this.ctx.metrics.gapFills.inc();
    void this.fill(id, Infinity);
  }

  private deliver(event: ChatEvent, frame: Buffer | string): void {
    const id = event.conversationId;
    this.cursors.set(id, event.seq);
    const own = (event.kind === 'member.joined' || event.kind === 'member.left') && event.data.userId === this.userId;
    if (own && event.kind === 'member.joined') this.departed?.delete(id);
    if (this.departed?.has(id)) return;
    this.write(frame);
    this.ctx.deliveries.count++;
    if (own && event.kind === 'member.left') {
      // Mid-replay the user may have been re-added later in the log: decide when the replay ends.
      if (this.filling?.has(id)) (this.departed ??= new Set()).add(id);
      else this.untrack(id);
    }
  }

  /**
   * Writes what the store holds after this connection's cursor (at most `limit`
   * events, then a `gap` frame for the rest), then the live events held
   * meanwhile, each only if it is the next seq.
   */
  private async fill(conversationId: string, limit: number): Promise<void> {
    const store = this.ctx.chat.store;
    let sent = 0;
    let failed = false;
    try {
      for (let pages = 0; ; pages++) {
        // Between pages, let the turn end: corked frames go out (so the send
        // buffer limit sees what is really unsent) and other sockets get served.
        if (pages > 0) await new Promise((r) => setImmediate(r));
        const cursor = this.cursors.get(conversationId);
        if (cursor === undefined || this.state === 'closed') return;
        const held = this.filling?.get(conversationId) ?? [];
        const firstHeld = held.length > 0 ? Math.min(...held.map((e) => e.seq)) : undefined;
        if (firstHeld !== undefined && firstHeld <= cursor + 1) break;
        if (sent >= limit) {
          await this.skipTo(conversationId, cursor);
          break;
        }
        const page = Math.min(FILL_PAGE, limit - sent);
        const events = await store.readEvents(conversationId, cursor, page);
        for (const e of events) {
          if (this.cursors.get(conversationId) !== e.seq - 1) break;
          this.deliver(e, JSON.stringify({ type: 'event', ...e }));
          sent++;
        }
        if (events.length < page) break;
      }
    } catch (err) {
      failed = true;
      this.ctx.onError(err);
    } finally {
      // After a failure (the store is down) keep holding, and try again later rather than at once.
      if (failed) setTimeout(() => this.release(conversationId), FILL_RETRY_MS).unref();
      else this.release(conversationId);
    }
  }

  /**
   * Past the replay limit: a `gap` frame tells the client to page the rest over
   * REST, and the cursor jumps to the end. Whether the user is still a member
   * is read AFTER the end, so a departure inside the skipped range is seen.
   */
  private async skipTo(conversationId: string, cursor: number): Promise<void> {
    const store = this.ctx.chat.store;
    const through = (await store.getConversation(conversationId))?.lastSeq ?? cursor;
    const member = await store.getMember(conversationId, this.userId);
    if (!this.cursors.has(conversationId)) return;
    if (!member) return this.untrack(conversationId);
    this.departed?.delete(conversationId);
    if (through > cursor) {
      this.write(JSON.stringify({ type: 'gap', conversationId, afterSeq: cursor, throughSeq: through }));
      this.cursors.set(conversationId, through);
    }
  }

  /** Ends holding a conversation's live events and offers the held ones in seq order. */
  private release(conversationId: string): void {
    const held = this.filling?.get(conversationId);
    this.filling?.delete(conversationId);
    if (!held) return;
    held.sort((a, b) => a.seq - b.seq);
    for (const e of held) this.onEvent(e, JSON.stringify({ type: 'event', ...e }));
    if (this.departed?.has(conversationId) && !this.filling?.has(conversationId)) this.untrack(conversationId);
  }

  onSignal(msg: BusMessage, frame: string): void {
    if (this.state !== 'open') return;
    if (msg.type === 'typing' && msg.userId === this.userId) return;
    this.write(frame);
  }

  onMembership(msg: Extract<BusMessage, { type: 'membership' }>): void {
    if (!msg.joined || this.cursors.has(msg.conversationId) || this.state === 'closed') return;
    const id = msg.conversationId;
    // seq 0: a member from the conversation's creation, before any event.
    this.cursors.set(id, Math.max(0, msg.seq - 1));
    (this.filling ??= new Map()).set(id, []);
    this.ctx.hub
      .joinConversation(this, id)
      .then(() => {
        // During the handshake, startDelivery() fills every tracked conversation.
        if (this.state === 'open') return this.fill(id, Infinity);
      })
      .catch((err) => {
        this.ctx.onError(err);
        // Not subscribed: following it half-way would be worse than a resume, so the client is sent to resume.
        this.close(closeCodes.goingAway, 'could not follow a new conversation');
      });
  }

  // Output and life cycle

  private write(frame: Buffer | string): void {
    if (this.state === 'closed') return;
    if (this.transport.bufferedAmount > this.ctx.sendBufferLimit) {
      this.ctx.metrics.slowClosures.inc();
      this.close(closeCodes.tooSlow, 'connection too slow');
      return;
    }
    this.transport.send(frame);
  }

  private reply(re: string | undefined, error: ParleyError | null, data?: unknown): void {
    if (re === undefined) return;
    if (error) {
      const body: Record<string, unknown> = { code: error.code, message: error.message };
      if (error.details) body.details = error.details;
      this.write(JSON.stringify({ type: 'reply', re, ok: false, error: body }));
    } else {
      this.write(JSON.stringify({ type: 'reply', re, ok: true, data: data ?? {} }));
    }
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.transport.close(code, reason);
    this.closed();
  }

  /** A method, not a field test, so the compiler does not assume state survives an await. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** The transport is gone (closed by either side): release everything. */
  closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.releaseAll();
    if (this.present) this.ctx.presence.disconnected(this.userId, this.id);
    this.ctx.onClose(this);
  }

  /** Drops every subscription this session holds in the hub; safe to call again. */
  private releaseAll(): void {
    for (const id of this.cursors.keys()) this.ctx.hub.leaveConversation(this, id);
    this.cursors.clear();
    this.filling = null;
    this.departed = null;
    if (this.watched) this.ctx.presence.unwatch(this, [...this.watched]);
    this.watched = null;
    if (this.userId) this.ctx.hub.leaveUser(this);
  }
}
