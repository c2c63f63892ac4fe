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
import type { Store } from '../store/store.ts';

/** How long the node waits for an out-of-order event before asking the store. */
const FEED_HOLD_MS = 50;
/** How often the presence registry is asked for users who vanished with a dead node. */
const PRESENCE_REAP_MS = 5_000;
/** How often local users' recent memberships are compared with what their sessions follow. */
const MEMBERSHIP_REPAIR_MS = 5_000;
/** How far back that comparison looks: well past the interval, so a slow commit is not missed. */
const MEMBERSHIP_WINDOW_MS = 60_000;
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
  private repairing = false;
  private readonly repairTimer: NodeJS.Timeout;
  private readonly store: Store;
  private readonly onError: (err: unknown) => void;

  constructor(chat: Chat, config: Config, metrics: Metrics, onError: (err: unknown) => void) {
    this.store = chat.store;
    this.onError = onError;
    this.repairTimer = setInterval(() => void this.repairMemberships(), MEMBERSHIP_REPAIR_MS);
    this.repairTimer.unref();
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

  /**
   * The repair for a membership notice the bus lost (it is at-most-once): one
   * read of the local users' recent memberships; each session starts following
   * any it does not follow yet, from the member's arrival.
   */
  private async repairMemberships(): Promise<void> {
    if (this.repairing || this.sessions.size === 0) return;
    this.repairing = true;
    try {
      const byUser = new Map<string, Session[]>();
      for (const s of this.sessions) {
        if (!s.userId) continue;
        const list = byUser.get(s.userId);
        if (list) list.push(s);
        else byUser.set(s.userId, [s]);
      }
      const rows = await this.store.recentMemberships([...byUser.keys()], Date.now() - MEMBERSHIP_WINDOW_MS);
      for (const r of rows) {
        for (const s of byUser.get(r.userId) ?? []) {
          s.onMembership({ type: 'membership', conversationId: r.conversationId, userId: r.userId, seq: r.lastReadSeq, joined: true });
        }
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.repairing = false;
    }
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
    clearInterval(this.repairTimer);
    await this.presence.close();
  }
}
