/**
 * The WebSocket life of one client: `hello` with a resume point per
 * conversation, heartbeats, reconnects with exponential backoff and full
 * jitter, one retry with a renewed token after a 4001 close, and the delivery
 * guarantee kept on this side too. Per conversation it holds the last seq it
 * handed on and hands on only the next one: duplicates are dropped, and a hole
 * (or a server `gap` frame) is filled through `GET …/events` while the live
 * events that arrive meanwhile are held back.
 */
import { PROTOCOL_JSON, closeCodes } from '../src/protocol/constants.ts';
import type { ClientFrameOf, ClientFrameType, HelloReply, SendReply, ServerFrame } from '../src/protocol/frames.ts';
import { EVENTS_MAX_LIMIT } from '../src/protocol/limits.ts';
import type { ChatEvent, Message, Presence } from '../src/protocol/types.ts';
import { isAuthError, ParleyApiError, ParleyClientError } from './errors.ts';
import type { AccessTokenSource, RestClient } from './rest.ts';

/**
 * `idle`: not started, or stopped by `disconnect()`. `connecting`: a socket
 * is opening or its `hello` is in flight. `open`: live. `waiting`: lost, the
 * next attempt is scheduled. `closed`: for good (`close()`, or the login ended).
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Attempts since the last successful `hello` (0 on the first try). */
  attempt: number;
  /** The close code of the socket that just ended, if it ended with one. */
  code?: number;
  reason?: string;
  /** In `waiting`: milliseconds until the next attempt. */
  retryInMs?: number;
  /** In `open`: the `hello` reply. */
  hello?: HelloReply;
  /** What ended or delayed the connection, when it was an error. */
  error?: unknown;
}

/** A range of events fetched over REST: a `gap` frame from the server, or a hole seen in the stream. */
export interface GapInfo {
  conversationId: string;
  /** The range is `(afterSeq, throughSeq]`. */
  afterSeq: number;
  throughSeq: number;
  reason: 'server' | 'hole';
  /**
   * `start` when the fetch begins, `end` when the range has been handed on. A
   * fill cut short by a lost socket has no `end`: the next `hello` resumes from
   * the last seq handed on.
   */
  phase: 'start' | 'end';
}

export type TypingSignal = Omit<Extract<ServerFrame, { type: 'typing' }>, 'type'>;
export type ReceiptSignal = Omit<Extract<ServerFrame, { type: 'receipt' }>, 'type'>;
export type Signal = Extract<ServerFrame, { type: 'typing' | 'receipt' | 'presence' }>;

/** The `data` of an ok reply, per frame type. */
export interface ReplyData {
  send: SendReply;
  edit: { event: ChatEvent };
  delete: { event?: ChatEvent };
  react: { event?: ChatEvent };
  read: Record<string, never>;
  typing: Record<string, never>;
  watch: { presence: Presence[] };
  unwatch: Record<string, never>;
  history: { events?: ChatEvent[]; messages?: Message[] };
  ping: Record<string, never>;
}
export type RequestType = Exclude<ClientFrameType, 'hello'>;
/** A frame's fields, without `type` and `id`. */
export type RequestFields<K extends RequestType> = Omit<ClientFrameOf<K>, 'id' | 'type'>;

export interface ConnectionHandlers {
  /** After each successful `hello`, before any event of that connection. */
  open(hello: HelloReply): void;
  /** Per conversation, in seq order, each seq once. */
  event(event: ChatEvent): void;
  signal(frame: Signal): void;
  gap(gap: GapInfo): void;
  status(status: ConnectionStatus): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface ConnectionOptions {
  baseUrl: string;
  auth: AccessTokenSource;
  rest: RestClient;
  handlers: ConnectionHandlers;
  /** Defaults to the global `WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor | undefined;
  /** Ping every this many ms; defaults to the server's `heartbeatMs`. */
  heartbeatMs?: number | undefined;
  /** A ping unanswered this long means a dead connection; defaults to min(heartbeat, 10 s). */
  pingTimeoutMs?: number | undefined;
  /** Socket open plus `hello` reply; default 15 s. */
  connectTimeoutMs?: number | undefined;
  /** Default for `request()`; 15 s. */
  requestTimeoutMs?: number | undefined;
  /** Backoff: the n-th retry waits a random time in [0, min(max, initial·2ⁿ)). */
  reconnect?: { initialDelayMs?: number | undefined; maxDelayMs?: number | undefined } | undefined;
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Waiter {
  resolve: (hello: HelloReply) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

interface Fill {
  through: number;
  reason: GapInfo['reason'];
  /** Live events of the conversation that arrived while the range was fetched. */
  held: ChatEvent[];
}

/** The server takes at most this many resume entries. */
const MAX_RESUME = 10_000;
/** Close code for a socket this side gave up on (a dead heartbeat or a slow handshake). */
const CLIENT_GAVE_UP = 4000;

export class Connection {
  private _state: ConnectionState = 'idle';
  /** Conversation id → the last seq handed on. What `hello` resumes from. */
  private readonly cursors = new Map<string, number>();
  private readonly fills = new Map<string, Fill>();
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Set<Waiter>();
  private ws: WebSocket | null = null;
  /** Bumped whenever the current socket is abandoned: callbacks of older sockets and timers see a stale number and stop. */
  private generation = 0;
  private attempt = 0;
  private authRetried = false;
  private tokenInUse = '';
  private helloError: ParleyApiError | null = null;
  private hello: HelloReply | null = null;
  private nextId = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly opts: ConnectionOptions;
  private readonly url: string;

  constructor(opts: ConnectionOptions) {
    this.opts = opts;
    const url = new URL(opts.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/ws`;
    this.url = url.toString();
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The last seq handed on for a conversation, if the connection follows it. */
  cursor(conversationId: string): number | undefined {
    return this.cursors.get(conversationId);
  }

  /** Every resume point; an app may persist them and pass them to `restore` in its next run. */
  snapshot(): { conversationId: string; afterSeq: number }[] {
    return [...this.cursors].map(([conversationId, afterSeq]) => ({ conversationId, afterSeq }));
  }

  /** Sets resume points before the first connect (from `snapshot()` of an earlier run). */
  restore(points: { conversationId: string; afterSeq: number }[]): void {
    for (const p of points) if (!this.cursors.has(p.conversationId)) this.cursors.set(p.conversationId, p.afterSeq);
  }

  /** Connects, and keeps reconnecting until `stop()` or `close()`. */
  start(): void {
    if (this._state === 'closed') throw new ParleyClientError('closed', 'the client is closed');
    if (this._state !== 'idle') return;
    this.attempt = 0;
    this.authRetried = false;
    void this.open();
  }

  /** Goes offline and stays so until `start()`; resume points are kept. */
  stop(): void {
    if (this._state === 'idle' || this._state === 'closed') return;
    this.teardown(new ParleyClientError('disconnected', 'disconnected by the client'));
    this.rejectWaiters(new ParleyClientError('disconnected', 'disconnected by the client'));
    this.setState({ state: 'idle', attempt: 0 });
  }

  /** Ends the connection for good. */
  close(): void {
    if (this._state === 'closed') return;
    const err = new ParleyClientError('closed', 'the client is closed');
    this.teardown(err);
    this.rejectWaiters(err);
    this.setState({ state: 'closed', attempt: 0 });
  }

  /** In `waiting`: tries now instead of at the end of the backoff (e.g. when the browser comes online). */
  retryNow(): void {
    if (this._state !== 'waiting') return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.open();
  }

  /** Resolves with the `hello` reply once the connection is open. */
  whenOpen(timeoutMs?: number): Promise<HelloReply> {
    if (this._state === 'open' && this.hello) return Promise.resolve(this.hello);
    if (this._state === 'closed') return Promise.reject(new ParleyClientError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new ParleyClientError('timeout', 'not connected in time'));
        }, timeoutMs);
      }
      this.waiters.add(waiter);
    });
  }

  /**
   * Sends a frame and resolves with its reply's `data`; an error reply rejects
   * with a `ParleyApiError`. Waits for the connection to open unless
   * `waitForOpen` is false. Not retried: when the socket drops first, it
   * rejects with `disconnected` and the frame may or may not have been done.
   */
  async request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
    opts: { timeoutMs?: number; waitForOpen?: boolean } = {},
  ): Promise<ReplyData[K]> {
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    if (this._state !== 'open') {
      if (opts.waitForOpen === false) throw new ParleyClientError('disconnected', 'not connected');
      await this.whenOpen(timeoutMs);
    }
    const id = `c${++this.nextId}`;
    return new Promise<ReplyData[K]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyClientError('timeout', `no reply to ${type} in ${timeoutMs} ms`));
      }, Math.max(0, deadline - Date.now()));
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, timer });
      this.write({ type, id, ...fields });
    });
  }

  // The socket

  private async open(): Promise<void> {
    const gen = ++this.generation;
    this.setState({ state: 'connecting', attempt: this.attempt });
    let token: string | null;
    try {
      token = await this.opts.auth.accessToken();
    } catch (err) {
      if (gen !== this.generation) return;
      return isAuthError(err) ? this.fail(err) : this.retryLater({ error: err });
    }
    if (gen !== this.generation) return;
    if (!token) return this.fail(new ParleyApiError(401, 'unauthorized', 'not logged in'));

    const WS = this.opts.WebSocket ?? globalThis.WebSocket;
    let ws: WebSocket;
    try {
      ws = new WS(this.url, PROTOCOL_JSON);
    } catch (err) {
      return this.fail(err);
    }
    this.ws = ws;
    this.tokenInUse = token;
    this.helloError = null;
    const helloId = `hello${++this.nextId}`;
    ws.onopen = () => {
      if (gen !== this.generation) return;
      const resume = this.snapshot().slice(0, MAX_RESUME);
      this.write({ type: 'hello', id: helloId, token, ...(resume.length > 0 ? { resume } : {}) });
    };
    ws.onmessage = (e: MessageEvent) => {
      if (gen !== this.generation || typeof e.data !== 'string') return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(e.data) as ServerFrame;
      } catch {
        return;
      }
      this.onFrame(frame, helloId);
    };
    ws.onclose = (e: CloseEvent) => {
      if (gen === this.generation) this.lost(e.code, e.reason);
    };
    ws.onerror = () => {
      // a close event follows
    };
    const connectTimeout = this.opts.connectTimeoutMs ?? 15_000;
    this.connectTimer = setTimeout(() => {
      if (gen === this.generation && this._state === 'connecting') this.lost(undefined, 'no hello reply in time', CLIENT_GAVE_UP);
    }, connectTimeout);
  }

  private onFrame(frame: ServerFrame, helloId: string): void {
    switch (frame.type) {
      case 'reply': {
        if (frame.re === helloId) return this.onHello(frame);
        const p = this.pending.get(frame.re);
        if (!p) return;
        this.pending.delete(frame.re);
        clearTimeout(p.timer);
        if (frame.ok) p.resolve(frame.data ?? {});
        else p.reject(ParleyApiError.fromReply(frame.error));
        return;
      }
      case 'event': {
        const { type: _type, ...event } = frame;
        return this.onEvent(event as ChatEvent, false);
      }
      case 'gap':
        return this.onGap(frame.conversationId, frame.afterSeq, frame.throughSeq);
      case 'typing':
      case 'receipt':
      case 'presence':
        return this.opts.handlers.signal(frame);
    }
  }

  private onHello(frame: Extract<ServerFrame, { type: 'reply' }>): void {
    if (!frame.ok) {
      // A refused token: the 4001 close follows and decides what happens next.
      this.helloError = ParleyApiError.fromReply(frame.error);
      return;
    }
    const hello = frame.data as HelloReply;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.attempt = 0;
    this.authRetried = false;
    // The server goes live at `lastSeq` for conversations we did not name: start there.
    for (const c of hello.conversations) if (!this.cursors.has(c.id)) this.cursors.set(c.id, c.lastSeq);
    this.hello = hello;
    this._state = 'open';
    this.startHeartbeat(hello.heartbeatMs);
    this.opts.handlers.open(hello);
    this.setState({ state: 'open', attempt: 0, hello });
    for (const w of [...this.waiters]) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(hello);
    }
    this.waiters.clear();
  }

  /** The socket ended (or we gave up on it): reconnect, renew the token, or stop. */
  private lost(code: number | undefined, reason: string, giveUpCode?: number): void {
    const token = this.tokenInUse;
    const helloError = this.helloError;
    this.teardown(new ParleyClientError('disconnected', `connection lost${reason ? `: ${reason}` : ''}`), giveUpCode);
    const info = { ...(code !== undefined ? { code } : {}), reason };
    if (code === closeCodes.notAuthenticated) {
      if (this.authRetried) {
        return this.fail(helloError ?? new ParleyApiError(401, 'unauthorized', reason || 'not authenticated'), info);
      }
      // Retry once, at once, with a new token.
      this.authRetried = true;
      const gen = this.generation;
      this.setState({ state: 'connecting', attempt: this.attempt, ...info });
      this.opts.auth.renew(token).then(
        () => {
          if (gen === this.generation) void this.open();
        },
        (err) => {
          if (gen !== this.generation) return;
          if (isAuthError(err)) this.fail(err, info);
          else this.retryLater({ ...info, error: err });
        },
      );
      return;
    }
    this.retryLater(info);
  }

  private retryLater(info: { code?: number; reason?: string; error?: unknown }): void {
    const initial = this.opts.reconnect?.initialDelayMs ?? 500;
    const max = this.opts.reconnect?.maxDelayMs ?? 30_000;
    // Full jitter: a server restart must not bring every client back in the same instant.
    const delay = Math.random() * Math.min(max, initial * 2 ** this.attempt);
    this.attempt++;
    const gen = this.generation;
    this.setState({ state: 'waiting', attempt: this.attempt, retryInMs: Math.round(delay), ...info });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (gen === this.generation) void this.open();
    }, delay);
  }

  /** Stops for good: the credentials are refused, or the client cannot connect at all. */
  private fail(error: unknown, info: { code?: number; reason?: string } = {}): void {
    this.teardown(new ParleyClientError('closed', 'the connection stopped', { cause: error }));
    this.rejectWaiters(error);
    this.setState({ state: 'closed', attempt: this.attempt, ...info, error });
  }

  /** Abandons the current socket, its timers, fills and unanswered requests. */
  private teardown(err: ParleyClientError, closeCode = 1000): void {
    this.generation++;
    for (const t of [this.retryTimer, this.connectTimer, this.heartbeatTimer]) if (t) clearTimeout(t);
    this.retryTimer = this.connectTimer = this.heartbeatTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.hello = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(closeCode);
      } catch {
        // already closing
      }
    }
    // Held events are dropped with the fill: the next hello resumes from the cursor before them.
    this.fills.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private rejectWaiters(err: unknown): void {
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  private setState(status: ConnectionStatus): void {
    this._state = status.state;
    this.opts.handlers.status(status);
  }

  private write(frame: object): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // the socket is closing; its close event follows
    }
  }

  /** The server pings at the WebSocket level, which a browser cannot see: so ping with frames. */
  private startHeartbeat(serverMs: number): void {
    const every = this.opts.heartbeatMs ?? serverMs;
    const timeoutMs = this.opts.pingTimeoutMs ?? Math.min(every, 10_000);
    const gen = this.generation;
    const beat = () => {
      this.heartbeatTimer = setTimeout(() => {
        if (gen !== this.generation) return;
        this.request('ping', {}, { timeoutMs, waitForOpen: false }).then(
          () => {
            if (gen === this.generation) beat();
          },
          (err) => {
            if (gen !== this.generation) return;
            // An error reply (say rate_limited) still proves the connection alive.
            if (err instanceof ParleyApiError) beat();
            else if (err instanceof ParleyClientError && err.code === 'timeout') this.lost(undefined, 'no reply to ping', CLIENT_GAVE_UP);
          },
        );
      }, every);
    };
    beat();
  }

  // Ordering

  private onEvent(event: ChatEvent, fromFill: boolean): void {
    const id = event.conversationId;
    const fill = this.fills.get(id);
    if (fill && !fromFill) {
      fill.held.push(event);
      return;
    }
    const cursor = this.cursors.get(id);
    // A conversation we were just added to starts with our own member.joined.
    if (cursor === undefined || event.seq === cursor + 1) {
      this.cursors.set(id, event.seq);
      this.opts.handlers.event(event);
      return;
    }
    if (event.seq <= cursor || fromFill) return;
    // A hole: fetch what is missing, hold this one and what follows.
    this.startFill(id, event.seq - 1, 'hole', [event]);
  }

  private onGap(conversationId: string, afterSeq: number, throughSeq: number): void {
    const fill = this.fills.get(conversationId);
    if (fill) {
      fill.through = Math.max(fill.through, throughSeq);
      return;
    }
    if (!this.cursors.has(conversationId)) this.cursors.set(conversationId, afterSeq);
    if ((this.cursors.get(conversationId) ?? 0) >= throughSeq) return;
    this.startFill(conversationId, throughSeq, 'server', []);
  }

  private startFill(conversationId: string, through: number, reason: Fill['reason'], held: ChatEvent[]): void {
    const fill: Fill = { through, reason, held };
    this.fills.set(conversationId, fill);
    const afterSeq = this.cursors.get(conversationId) ?? 0;
    this.opts.handlers.gap({ conversationId, afterSeq, throughSeq: through, reason, phase: 'start' });
    void this.runFill(conversationId, fill, afterSeq);
  }

  private async runFill(conversationId: string, fill: Fill, afterSeq: number): Promise<void> {
    const gen = this.generation;
    const live = () => gen === this.generation && this.fills.get(conversationId) === fill;
    let failures = 0;
    for (;;) {
      const cursor = this.cursors.get(conversationId) ?? 0;
      if (cursor >= fill.through) break;
      try {
        const page = await this.opts.rest.events(conversationId, { afterSeq: cursor, limit: Math.min(EVENTS_MAX_LIMIT, fill.through - cursor) });
        if (!live()) return;
        for (const e of page.items) this.onEvent(e, true);
        // An empty page, or one that did not continue from the cursor: the log cannot fill the range.
        if ((this.cursors.get(conversationId) ?? 0) === cursor) break;
        failures = 0;
      } catch (err) {
        if (!live()) return;
        // No longer ours to read (removed meanwhile): stop; anything else is retried.
        if (err instanceof ParleyApiError && (err.code === 'not_found' || err.code === 'forbidden' || isAuthError(err))) break;
        failures++;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(10_000, 250 * 2 ** failures)));
        if (!live()) return;
      }
    }
    this.fills.delete(conversationId);
    // The log had less than promised (it should not): move on rather than ask forever.
    if ((this.cursors.get(conversationId) ?? 0) < fill.through) this.cursors.set(conversationId, fill.through);
    this.opts.handlers.gap({ conversationId, afterSeq, throughSeq: fill.through, reason: fill.reason, phase: 'end' });
    fill.held.sort((a, b) => a.seq - b.seq);
    for (const e of fill.held) this.onEvent(e, false);
  }
}
