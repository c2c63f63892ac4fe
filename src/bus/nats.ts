/**
 * The Bus on NATS core pub/sub, with presence in a JetStream KV bucket
 * (`nats-presence.ts`). One connection per node.
 *
 * Where it stands against the contract in `bus.ts`:
 * - At-most-once: core NATS keeps nothing. A message published while a
 *   subscriber is disconnected is lost to it.
 * - Per-publisher order: one connection per node; NATS delivers one
 *   connection's messages on a subject in order.
 * - `subscribe` resolves after a `flush()` round trip: the server has then
 *   processed the SUB, so anything published after that reaches the handler.
 * - Broker restart: nats.js reconnects forever (every `reconnectTimeWaitMs`)
 *   and sends its subscriptions again by itself. Publishes made while
 *   disconnected wait in the client's buffer and go out on reconnect; a
 *   `subscribe` or `ping` fails after its timeout instead of waiting.
 * - `close()` drops the node without disconnecting its connections: their
 *   presence expires after the TTL, as if the node had died.
 */
import { connect, StorageType, type KV, type NatsConnection, type Subscription as NatsSubscription } from 'nats';
import { subjects, type Bus, type BusHandler, type BusMessage, type Subscription } from './bus.ts';
import { Interest } from './interest.ts';
import { NatsPresence } from './nats-presence.ts';

export interface NatsBusOptions {
  /** `nats://[user:password@]host:port`; several separated by commas. */
  url: string;
  /** Prefix of every subject. Default `parley.`. */
  prefix?: string;
  /** The presence KV bucket. Default `parley_presence`. */
  bucket?: string;
  /** Where the bucket keeps its data. Default `file` (survives a broker restart). */
  storage?: 'file' | 'memory';
  /** How often this node renews its presence lease. Default 5 s. */
  heartbeatMs?: number;
  /** How long a node's connections stay registered without a renewal. Default 15 s. */
  presenceTtlMs?: number;
  /** `ping()` rejects after this long. Default 1 s. */
  pingTimeoutMs?: number;
  /** A subscribe, or a KV read or write, fails after this long. Default 5 s. */
  requestTimeoutMs?: number;
  /** Wait between reconnect attempts. Default 250 ms. */
  reconnectTimeWaitMs?: number;
  /** Errors nobody awaits: a failed heartbeat, a throwing handler. */
  onError?: (err: unknown) => void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nats: ${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class NatsBus implements Bus {
  readonly presence: NatsPresence;
  private readonly nc: NatsConnection;
  private readonly prefix: string;
  private readonly pingTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly interest: Interest;
  private readonly subs = new Map<string, NatsSubscription>();
  private readonly heartbeatMs: number;
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;

  /** Connects, opens (or creates) the presence bucket and takes a lease; rejects if NATS cannot be reached. */
  static async connect(opts: NatsBusOptions | string): Promise<NatsBus> {
    const o = typeof opts === 'string' ? { url: opts } : opts;
    const ttlMs = o.presenceTtlMs ?? 15_000;
    const heartbeatMs = o.heartbeatMs ?? 5_000;
    if (heartbeatMs * 2 > ttlMs) throw new RangeError('heartbeatMs must be at most half of presenceTtlMs');
    const requestTimeoutMs = o.requestTimeoutMs ?? 5_000;
    const nc = await connect({
      servers: o.url.split(','),
      name: 'parley',
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectTimeWaitMs ?? 250,
      timeout: requestTimeoutMs,
    }).catch((err: Error) => {
      throw new Error(`nats: cannot connect: ${err.message}`, { cause: err });
    });
    try {
      const kv = await nc.jetstream({ timeout: requestTimeoutMs }).views.kv(o.bucket ?? 'parley_presence', {
        history: 1,
        storage: o.storage === 'memory' ? StorageType.Memory : StorageType.File,
      });
      const bus = new NatsBus(nc, o, { kv, ttlMs, heartbeatMs, requestTimeoutMs });
      await bus.presence.start();
      bus.startHeartbeat();
      return bus;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  private constructor(
    nc: NatsConnection,
    opts: NatsBusOptions,
    p: { kv: KV; ttlMs: number; heartbeatMs: number; requestTimeoutMs: number },
  ) {
    this.nc = nc;
    this.prefix = opts.prefix ?? 'parley.';
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 1_000;
    this.requestTimeoutMs = p.requestTimeoutMs;
    this.heartbeatMs = p.heartbeatMs;
    this.onError = opts.onError ?? (() => {});
    this.interest = new Interest(
      {
        subscribe: (subject) => this.brokerSubscribe(subject),
        unsubscribe: (subject) => this.brokerUnsubscribe(subject),
      },
      this.onError,
    );
    this.presence = new NatsPresence(p.kv, {
      ttlMs: p.ttlMs,
      onError: this.onError,
      onRevived: (userIds) => {
        const at = Date.now();
        for (const userId of userIds) {
          this.publish(subjects.presence(userId), { type: 'presence', userId, status: 'online', lastSeenAt: at }).catch(this.onError);
        }
      },
    });
  }

  async publish(subject: string, msg: BusMessage): Promise<void> {
    this.nc.publish(this.prefix + subject, JSON.stringify(msg));
  }

  subscribe(subject: string, handler: BusHandler): Promise<Subscription> {
    if (this.closed) return Promise.reject(new Error('bus closed'));
    return this.interest.add(subject, handler);
  }

  async ping(): Promise<void> {
    await withTimeout(this.nc.rtt(), this.pingTimeoutMs, 'ping');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.interest.clear();
    this.subs.clear();
    // Let what was published go out, if the server is there to take it.
    await withTimeout(this.nc.flush(), this.pingTimeoutMs, 'flush').catch(() => {});
    await this.nc.close();
  }

  private async brokerSubscribe(subject: string): Promise<void> {
    const sub = this.nc.subscribe(this.prefix + subject, {
      callback: (err, m) => {
        if (err) return this.onError(err);
        let msg: BusMessage;
        try {
          msg = m.json<BusMessage>();
        } catch (e) {
          return this.onError(e);
        }
        this.interest.dispatch(subject, msg);
      },
    });
    this.subs.set(subject, sub);
    try {
      await withTimeout(this.nc.flush(), this.requestTimeoutMs, `subscribe ${subject}`);
    } catch (err) {
      sub.unsubscribe();
      this.subs.delete(subject);
      throw err;
    }
  }

  private async brokerUnsubscribe(subject: string): Promise<void> {
    this.subs.get(subject)?.unsubscribe();
    this.subs.delete(subject);
    // Done as far as this node goes; the flush only waits for the server to have it too.
    await withTimeout(this.nc.flush(), this.requestTimeoutMs, `unsubscribe ${subject}`).catch(() => {});
  }

  /** One beat at a time: the next is scheduled when this one ends. */
  private startHeartbeat(): void {
    const beat = () => {
      this.presence
        .heartbeat()
        .catch(this.onError)
        .finally(() => {
          if (this.closed) return;
          this.heartbeat = setTimeout(beat, this.heartbeatMs);
          this.heartbeat.unref();
        });
    };
    this.heartbeat = setTimeout(beat, this.heartbeatMs);
    this.heartbeat.unref();
  }
}
