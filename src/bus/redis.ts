/**
 * The Bus on Redis pub/sub, with presence in Redis sorted sets
 * (`redis-presence.ts`). Two connections: one in subscriber mode, one for
 * everything else.
 *
 * Where it stands against the contract in `bus.ts`:
 * - At-most-once: pub/sub keeps nothing. A message published while a
 *   subscriber is disconnected is lost to it; commands are never resent after
 *   a reconnect (a PUBLISH whose reply was lost might otherwise go twice).
 * - Per-publisher order: one command connection per node, so PUBLISHes reach
 *   Redis, and from there each subscriber, in call order.
 * - `subscribe` resolves on Redis's SUBSCRIBE reply, so anything published
 *   after that reaches the handler.
 * - Broker restart: ioredis reconnects both connections and re-subscribes
 *   every channel by itself. While the broker is down, commands fail at once
 *   (no offline queue): `ping`, `publish`, `subscribe` and presence calls
 *   reject instead of waiting for the broker to come back.
 * - `close()` drops the node without disconnecting its connections: their
 *   presence expires after the TTL, as if the node had died. A draining node
 *   disconnects its sessions first.
 */
import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { subjects, type Bus, type BusHandler, type BusMessage, type Subscription } from './bus.ts';
import { Interest } from './interest.ts';
import { RedisPresence } from './redis-presence.ts';

export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** Prefix of every key and channel. Default `parley:`. */
  prefix?: string;
  /** How often this node refreshes its connections' presence. Default 5 s. */
  heartbeatMs?: number;
  /** How long a connection stays registered without a refresh. Default 15 s. */
  presenceTtlMs?: number;
  /** `ping()` rejects after this long. Default 1 s. */
  pingTimeoutMs?: number;
  /** Any command rejects after this long without a reply. Default 5 s. */
  commandTimeoutMs?: number;
  /** Errors nobody awaits: a failed heartbeat, a throwing handler. */
  onError?: (err: unknown) => void;
}

export class RedisBus implements Bus {
  readonly presence: RedisPresence;
  readonly nodeId = randomUUID();
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly pingTimeoutMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly interest: Interest;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  /** Connects both connections; rejects if Redis cannot be reached. */
  static async connect(opts: RedisBusOptions | string): Promise<RedisBus> {
    const bus = new RedisBus(typeof opts === 'string' ? { url: opts } : opts);
    let reason: unknown = null;
    const note = (err: unknown) => void (reason ??= err);
    bus.cmd.on('error', note);
    try {
      await Promise.all([bus.cmd.connect(), bus.sub.connect()]);
    } catch (err) {
      await bus.close();
      const why = (reason ?? err) as Error;
      throw new Error(`redis: cannot connect: ${why.message}`, { cause: why });
    } finally {
      bus.cmd.off('error', note);
    }
    return bus;
  }

  private constructor(opts: RedisBusOptions) {
    this.prefix = opts.prefix ?? 'parley:';
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 1_000;
    this.onError = opts.onError ?? (() => {});
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2_000,
      commandTimeout: opts.commandTimeoutMs ?? 5_000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1_000),
    };
    // Commands in flight when the connection drops are not resent: a PUBLISH
    // or a presence script may have run already. (They reject on the timeout.)
    this.cmd = new Redis(opts.url, { ...common, autoResendUnfulfilledCommands: false, connectionName: `parley-${this.nodeId}` });
    // SUBSCRIBE and UNSUBSCRIBE are idempotent: resending them is safe.
    this.sub = new Redis(opts.url, { ...common, autoResubscribe: true, connectionName: `parley-sub-${this.nodeId}` });
    // ioredis reports every failed reconnect attempt as an error event; without
    // a listener they would crash the process.
    for (const c of [this.cmd, this.sub]) c.on('error', (err) => this.closed || this.onError(err));

    this.interest = new Interest(
      {
        subscribe: async (subject) => {
          await this.sub.subscribe(this.channel(subject));
        },
        unsubscribe: async (subject) => {
          await this.sub.unsubscribe(this.channel(subject));
        },
      },
      this.onError,
    );
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel.toString(), message));
    // ioredis re-subscribes right after 'ready'; then finish any unsubscribe
    // that failed while the connection was down.
    this.sub.on('ready', () => setImmediate(() => this.interest.resync()));

    const ttlMs = opts.presenceTtlMs ?? 15_000;
    const heartbeatMs = opts.heartbeatMs ?? 5_000;
    if (heartbeatMs * 2 > ttlMs) throw new RangeError('heartbeatMs must be at most half of presenceTtlMs');
    this.presence = new RedisPresence(this.cmd, { prefix: this.prefix, nodeId: this.nodeId, ttlMs });
    this.heartbeat = setInterval(() => this.beat(), heartbeatMs);
    this.heartbeat.unref();
  }

  async publish(subject: string, msg: BusMessage): Promise<void> {
    await this.cmd.publish(this.channel(subject), JSON.stringify(msg));
  }

  subscribe(subject: string, handler: BusHandler): Promise<Subscription> {
    if (this.closed) return Promise.reject(new Error('bus closed'));
    return this.interest.add(subject, handler);
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis: no PONG within ${this.pingTimeoutMs} ms`)), this.pingTimeoutMs);
    });
    try {
      // Both connections: a node whose subscriber connection is down misses every message.
      await Promise.race([Promise.all([this.cmd.ping(), this.sub.ping()]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.interest.clear();
    // QUIT lets commands already sent finish; it fails at once if the broker is down.
    await Promise.allSettled([this.cmd.quit(), this.sub.quit()]);
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  private channel(subject: string): string {
    return this.prefix + subject;
  }

  private receive(channel: string, payload: Buffer): void {
    if (!channel.startsWith(this.prefix)) return;
    let msg: BusMessage;
    try {
      msg = JSON.parse(payload.toString()) as BusMessage;
    } catch (err) {
      this.onError(err);
      return;
    }
    const subject = channel.slice(this.prefix.length);
    // A channel nobody here wants (its SUBSCRIBE timed out but ran after all,
    // then ioredis kept re-subscribing it): let it go.
    if (!this.interest.dispatch(subject, msg)) this.sub.unsubscribe(channel).catch(() => {});
  }

  private beat(): void {
    this.presence
      .heartbeat()
      .then((revived) => {
        const at = Date.now();
        for (const userId of new Set(revived)) {
          this.publish(subjects.presence(userId), { type: 'presence', userId, status: 'online', lastSeenAt: at }).catch(this.onError);
        }
      })
      .catch(this.onError);
  }
}
