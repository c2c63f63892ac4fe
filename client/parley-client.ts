/**
 * `ParleyClient`: one login's view of a Parley server. It ties together the
 * REST calls (`client.api`), the token pair, the WebSocket connection, the
 * outbox and the conversation store, and re-emits what happens as typed events.
 */
import type { HelloReply } from '../src/protocol/frames.ts';
import type { AuthResult, ChatEvent, Message, Presence, User } from '../src/protocol/types.ts';
import { ConversationStore, type ConversationView } from './conversation-store.ts';
import {
  Connection,
  type ConnectionOptions,
  type ConnectionState,
  type ConnectionStatus,
  type GapInfo,
  type ReceiptSignal,
  type TypingSignal,
  type WebSocketConstructor,
} from './connection.ts';
import { ParleyClientError } from './errors.ts';
import { Emitter } from './events.ts';
import { Outbox, type SendOptions } from './outbox.ts';
import { RestClient } from './rest.ts';
import { TokenManager, tokensFrom, type Tokens } from './tokens.ts';

/** What `client.on(name, handler)` delivers. */
export interface ClientEvents {
  /** Every event of every conversation, in seq order per conversation, each once. */
  event: ChatEvent;
  /** Someone is typing; show it for about 5 s. */
  typing: TypingSignal;
  /** A watched user went online or offline. */
  presence: Presence;
  /** Someone's read position grew (your own included). */
  receipt: ReceiptSignal;
  /** The connection's state changed. */
  connection: ConnectionStatus;
  /** A range of events is being fetched over REST (`phase: 'start'`) or has been delivered (`'end'`). */
  gap: GapInfo;
}

export interface ParleyClientOptions {
  /** The server, e.g. `https://chat.example.com`. */
  baseUrl: string;
  /** A pair from an earlier login (see `onTokens`). */
  tokens?: Tokens | null | undefined;
  /** Called with every new pair (refresh tokens rotate) and with null when the login ends: persist them here. */
  onTokens?: ((tokens: Tokens | null) => void) | undefined;
  /** Resume points from `client.resumePoints()` of an earlier run, to pick up where it stopped. */
  resume?: { conversationId: string; afterSeq: number }[] | undefined;
  /** Receives errors thrown by your event handlers (default: console.error). */
  onError?: ((err: unknown) => void) | undefined;
  /** Defaults to the global `WebSocket`. */
  WebSocket?: WebSocketConstructor | undefined;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch | undefined;
  heartbeatMs?: ConnectionOptions['heartbeatMs'];
  pingTimeoutMs?: ConnectionOptions['pingTimeoutMs'];
  connectTimeoutMs?: ConnectionOptions['connectTimeoutMs'];
  requestTimeoutMs?: ConnectionOptions['requestTimeoutMs'];
  reconnect?: ConnectionOptions['reconnect'];
}

export type ClientOptions = Omit<ParleyClientOptions, 'baseUrl' | 'tokens'>;

export interface HistoryOptions {
  afterSeq?: number;
  beforeSeq?: number;
  limit?: number;
}

/**
 * A Parley client for browsers and Node 22+.
 *
 * @example
 * const client = await ParleyClient.login('https://chat.example.com', 'ada', 'correct horse');
 * client.on('event', (e) => console.log(e.conversationId, e.seq, e.kind));
 * await client.connect();
 * const message = await client.send(conversationId, 'hello'); // queued while offline, sent once
 * client.close();
 */
export class ParleyClient {
  /** Typed REST calls, with the client's token. */
  readonly api: RestClient;
  private readonly emitter: Emitter<ClientEvents>;
  private readonly tokenManager: TokenManager;
  private readonly connection: Connection;
  private readonly outbox: Outbox;
  private readonly store: ConversationStore;
  private _user: User | null = null;
  private _userId: string | null = null;
  private closed = false;

  /** Registers a new user and returns a client logged in as them (not yet connected). */
  static async register(
    baseUrl: string,
    username: string,
    password: string,
    opts: ClientOptions & { displayName?: string } = {},
  ): Promise<ParleyClient> {
    const { displayName, ...rest } = opts;
    const sentAt = Date.now();
    const auth = await new RestClient({ baseUrl, ...(opts.fetch ? { fetch: opts.fetch } : {}) }).register({
      username,
      password,
      ...(displayName !== undefined ? { displayName } : {}),
    });
    return ParleyClient.fromAuth(baseUrl, auth, sentAt, rest);
  }

  /** Logs in and returns a client (not yet connected). Wrong credentials reject with `invalid_credentials`. */
  static async login(baseUrl: string, username: string, password: string, opts: ClientOptions = {}): Promise<ParleyClient> {
    const sentAt = Date.now();
    const auth = await new RestClient({ baseUrl, ...(opts.fetch ? { fetch: opts.fetch } : {}) }).login(username, password);
    return ParleyClient.fromAuth(baseUrl, auth, sentAt, opts);
  }

  private static fromAuth(baseUrl: string, auth: AuthResult, sentAt: number, opts: ClientOptions): ParleyClient {
    const tokens = tokensFrom(auth, sentAt);
    opts.onTokens?.(tokens);
    const client = new ParleyClient({ ...opts, baseUrl, tokens });
    client._user = auth.user;
    client._userId = auth.user.id;
    return client;
  }

  constructor(opts: ParleyClientOptions) {
    this.emitter = new Emitter(opts.onError);
    const rawApi = new RestClient({ baseUrl: opts.baseUrl, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    this.tokenManager = new TokenManager(
      {
        refresh: (refreshToken) => rawApi.refresh(refreshToken),
        onChange: opts.onTokens,
      },
      opts.tokens,
    );
    this.api = new RestClient({ baseUrl: opts.baseUrl, auth: this.tokenManager, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
    this.store = new ConversationStore({
      loadMessages: (id, o) => this.api.messages(id, o),
      onError: opts.onError,
    });
    this.outbox = new Outbox({
      isOpen: () => this.connection.state === 'open',
      send: (frame) => this.connection.request('send', frame, { waitForOpen: false }).then((r) => r.message),
      senderId: () => this._userId ?? '',
      queued: (p) => this.store.addPending(p),
      acknowledged: (m) => this.store.confirm(m),
      failed: (p) => this.store.dropPending(p.conversationId, p.clientMsgId),
    });
    this.connection = new Connection({
      baseUrl: opts.baseUrl,
      auth: this.tokenManager,
      rest: this.api,
      WebSocket: opts.WebSocket,
      heartbeatMs: opts.heartbeatMs,
      pingTimeoutMs: opts.pingTimeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      reconnect: opts.reconnect,
      handlers: {
        open: (hello) => this.onOpen(hello),
        event: (e) => this.onEvent(e),
        signal: (f) => {
          if (f.type === 'typing') this.emitter.emit('typing', { conversationId: f.conversationId, userId: f.userId });
          else if (f.type === 'receipt') {
            if (f.userId === this._userId) this.store.read(f.conversationId, f.seq);
            this.emitter.emit('receipt', { conversationId: f.conversationId, userId: f.userId, seq: f.seq });
          } else this.emitter.emit('presence', { userId: f.userId, status: f.status, lastSeenAt: f.lastSeenAt });
        },
        gap: (g) => this.emitter.emit('gap', g),
        status: (s) => this.onStatus(s),
      },
    });
    if (opts.resume) this.connection.restore(opts.resume);
  }

  /** The logged-in user's id: known after login, or after the first `hello`. */
  get userId(): string | null {
    return this._userId;
  }

  /** The user from login or register; null for a client made from stored tokens (see `api.me()`). */
  get user(): User | null {
    return this._user;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The current token pair, or null once the login has ended. */
  get tokens(): Tokens | null {
    return this.tokenManager.current;
  }

  /** Messages queued and not yet acknowledged. */
  get outboxSize(): number {
    return this.outbox.size;
  }

  /**
   * Opens the WebSocket and keeps it open (reconnecting as needed) until
   * `disconnect()` or `close()`. Resolves with the first `hello` reply;
   * rejects if the login is refused for good.
   */
  connect(): Promise<HelloReply> {
    if (this.closed) return Promise.reject(new ParleyClientError('closed', 'the client is closed'));
    const opened = this.connection.whenOpen();
    this.connection.start();
    return opened;
  }

  /** Goes offline until the next `connect()`; state, resume points and the outbox are kept. */
  disconnect(): void {
    this.connection.stop();
  }

  /**
   * While waiting to reconnect, tries now instead of at the end of the backoff.
   * In a browser: `addEventListener('online', () => client.retryNow())`.
   */
  retryNow(): void {
    this.connection.retryNow();
  }

  /** Ends the client: the connection, timers, and every queued send (rejected with `closed`). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.close();
    this.tokenManager.stop();
    this.outbox.failAll(new ParleyClientError('closed', 'the client is closed'));
  }

  /** Revokes the refresh token on the server, then closes. */
  async logout(): Promise<void> {
    const t = this.tokenManager.current;
    this.close();
    if (t) {
      try {
        await this.api.logout(t.refreshToken);
      } finally {
        this.tokenManager.set(null);
      }
    }
  }

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, handler: (value: ClientEvents[K]) => void): () => void {
    return this.emitter.on(name, handler);
  }

  /** The live view of one conversation: its messages in seq order, then pending ones. */
  conversation(conversationId: string): ConversationView {
    return this.store.view(conversationId);
  }

  /** Where each followed conversation stands; pass as `resume` to a later client to pick up from here. */
  resumePoints(): { conversationId: string; afterSeq: number }[] {
    return this.connection.snapshot();
  }

  /**
   * Sends a message through the outbox: it shows at once as pending in
   * `conversation(id)`, goes out when connected (now or after a reconnect)
   * with one clientMsgId however often it is retried, and resolves with the
   * acknowledged message. Rejects on a permanent refusal (say `forbidden`)
   * or when the client closes first.
   */
  send(conversationId: string, body: string, opts: SendOptions = {}): Promise<Message> {
    if (this.closed) return Promise.reject(new ParleyClientError('closed', 'the client is closed'));
    return this.outbox.enqueue(conversationId, body, opts);
  }

  /** Edits your message; resolves with its `message.edited` event. */
  async edit(conversationId: string, seq: number, body: string): Promise<ChatEvent> {
    return (await this.connection.request('edit', { conversationId, seq, body })).event;
  }

  /** Deletes a message; resolves with its `message.deleted` event, or null when it was already deleted. */
  async delete(conversationId: string, seq: number): Promise<ChatEvent | null> {
    return (await this.connection.request('delete', { conversationId, seq })).event ?? null;
  }

  /** Adds (or with `on` false removes) your reaction; null when nothing changed. */
  async react(conversationId: string, seq: number, emoji: string, on = true): Promise<ChatEvent | null> {
    return (await this.connection.request('react', { conversationId, seq, emoji, on })).event ?? null;
  }

  /** Marks everything up to `seq` read. */
  async read(conversationId: string, seq: number): Promise<void> {
    await this.connection.request('read', { conversationId, seq });
    this.store.read(conversationId, seq);
  }

  /** Tells the other members you are typing (the server passes on at most one a second). */
  async typing(conversationId: string): Promise<void> {
    await this.connection.request('typing', { conversationId });
  }

  /** Follows users' presence; resolves with where each stands now. */
  async watch(userIds: string[]): Promise<Presence[]> {
    return (await this.connection.request('watch', { userIds })).presence;
  }

  async unwatch(userIds: string[]): Promise<void> {
    await this.connection.request('unwatch', { userIds });
  }

  /**
   * Over the WebSocket: with `afterSeq`, the event log after it (`{events}`);
   * otherwise messages before `beforeSeq`, newest first (`{messages}`).
   */
  history(conversationId: string, opts: HistoryOptions & { afterSeq: number }): Promise<{ events: ChatEvent[] }>;
  history(conversationId: string, opts?: Omit<HistoryOptions, 'afterSeq'>): Promise<{ messages: Message[] }>;
  async history(conversationId: string, opts: HistoryOptions = {}): Promise<{ events: ChatEvent[] } | { messages: Message[] }> {
    const data = await this.connection.request('history', { conversationId, ...opts });
    return opts.afterSeq !== undefined ? { events: data.events ?? [] } : { messages: data.messages ?? [] };
  }

  private onOpen(hello: HelloReply): void {
    this._userId = hello.userId;
    for (const c of hello.conversations) this.store.position(c.id, c.lastSeq, c.lastReadSeq);
    this.outbox.flush();
  }

  private onEvent(e: ChatEvent): void {
    this.store.apply(e);
    if (e.kind === 'message.created' && e.data.senderId === this._userId) this.outbox.acknowledge(e.data);
    this.emitter.emit('event', e);
  }

  private onStatus(s: ConnectionStatus): void {
    // The login is over (refresh refused): nothing queued can ever be sent.
    if (s.state === 'closed' && s.error !== undefined && !this.closed) {
      this.closed = true;
      this.tokenManager.stop();
      this.outbox.failAll(s.error);
    }
    this.emitter.emit('connection', s);
  }
}
