/** The node's WebSocket side, free of any transport: sessions, the hub, presence and the drain. */
import { randomUUID } from 'node:crypto';
import type { Chat } from '../chat/chat.ts';
import { TokenBucket } from '../chat/rate-limit.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { closeCodes } from '../protocol/frames.ts';
import { Hub } from './hub.ts';
import { PresenceTracker } from './presence.ts';
import { Session, type SessionContext } from './session.ts';
import type { Transport } from './transport.ts';

/** How long the node waits for an out-of-order event before asking the store. */
const FEED_HOLD_MS = 50;
/** How often the presence registry is asked for users who vanished with a dead node. */
const PRESENCE_REAP_MS = 5_000;
/** How often followed conversations are checked against the store for events the bus lost. */
const FEED_SYNC_MS = 2_000;
/** Frames per second one connection may send, of any kind (sends are also limited per user). */
const FRAME_RATE = 200;

export class Gateway {
  readonly sessions = new Set<Session>();
  readonly hub: Hub;
  readonly presence: PresenceTracker;
  private readonly ctx: SessionContext;
  private readonly frameLimiter: TokenBucket;
  private draining = false;

  constructor(chat: Chat, config: Config, metrics: Metrics, onError: (err: unknown) => void) {
    this.hub = new Hub({
      bus: chat.bus,
      store: chat.store,
      holdMs: FEED_HOLD_MS,
      syncMs: FEED_SYNC_MS,
      onError,
      onFill: () => metrics.gapFills.inc(),
    });
    this.presence = new PresenceTracker({ bus: chat.bus, store: chat.store, hub: this.hub, graceMs: config.PRESENCE_GRACE_MS, reapMs: PRESENCE_REAP_MS, onError });
    this.frameLimiter = new TokenBucket(FRAME_RATE, FRAME_RATE * 2);
    const deliveries = { count: 0 };
    metrics.onCollect(() => {
      metrics.deliveries.inc(deliveries.count);
      deliveries.count = 0;
    });
    this.ctx = {
      chat,
      hub: this.hub,
      presence: this.presence,
      metrics,
      frameLimiter: this.frameLimiter,
      deliveries,
      heartbeatMs: config.HEARTBEAT_MS,
      helloTimeoutMs: config.HELLO_TIMEOUT_MS,
      sendBufferLimit: config.SEND_BUFFER_LIMIT,
      onError,
      onClose: (s) => {
        if (this.sessions.delete(s)) metrics.connections.dec();
      },
    };
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** A new authenticated-or-not connection; the caller feeds it frames and tells it when it closes. */
  accept(transport: Transport): Session {
    const session = new Session(randomUUID(), transport, this.ctx);
    this.sessions.add(session);
    this.ctx.metrics.connections.inc();
    return session;
  }

  sweep(): void {
    this.frameLimiter.sweep();
  }

  /** From now on new connections are refused. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Stops taking connections and closes every open one with 1001; the caller commits pending writes first. */
  async drain(): Promise<void> {
    this.draining = true;
    for (const s of [...this.sessions]) s.close(closeCodes.goingAway, 'server shutting down');
    this.hub.close();
    await this.presence.close();
  }
}
