/**
 * Presence across nodes in Redis. Every decision is one Lua script, so
 * "went online", "went offline" and "expired" are each decided atomically.
 *
 * Layout (`<p>` is the key prefix):
 *   <p>presence:user:<userId>  sorted set of `<nodeId>:<connectionId>`, scored by
 *                              the entry's expiry (ms, Redis server time)
 *   <p>presence:users          sorted set of userIds with entries, scored by the
 *                              latest expiry among them (an upper bound)
 *
 * A connection is live while its score is in the future. Its node re-scores all
 * of its connections every heartbeat (one script per batch); a node that dies
 * stops doing so and its entries expire after the TTL. `reap` takes the users
 * whose every entry has expired, drops them from `presence:users` and returns
 * them: being one script, it hands each such user to exactly one caller. A
 * `disconnect` that removes the last live entry removes the user too, so the
 * same user is never also reaped. Times come from Redis (`TIME`), so node
 * clocks do not matter.
 *
 * A node that was cut off for longer than the TTL (a stall, a broker outage, a
 * broker restart without persistence) finds on its next heartbeat that some of
 * its users had no live entry left; the heartbeat registers them again and
 * reports them as revived, and the bus announces them online.
 *
 * Keys are built inside the scripts from the prefix: standalone Redis (or a
 * prefix with a hash tag, `{parley}:`, on a cluster).
 */
import type { Redis } from 'ioredis';
import type { PresenceRegistry } from './bus.ts';

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: user, users. ARGV: member, ttl, userId. Returns 1 when the user had no live entry. */
const CONNECT = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
local exp = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], exp, ARGV[1])
redis.call('ZADD', KEYS[2], 'GT', exp, ARGV[3])
if before == 0 then return 1 end
return 0
`;

/** KEYS: user, users. ARGV: member, userId. Returns 1 when this removed the last live entry. */
const DISCONNECT = `${NOW}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #top == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
redis.call('ZADD', KEYS[2], top[2], ARGV[2])
return 0
`;

/** KEYS: users. ARGV: user key prefix, ttl, then userId, member pairs. Returns the users that had no live entry. */
const HEARTBEAT = `${NOW}
local exp = now + tonumber(ARGV[2])
local revived = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[1] .. ARGV[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) == 0 then revived[#revived + 1] = ARGV[i] end
  redis.call('ZADD', key, exp, ARGV[i + 1])
  redis.call('ZADD', KEYS[1], 'GT', exp, ARGV[i])
end
return revived
`;

/** ARGV: user key prefix, then userIds. Returns those with a live entry. */
const ONLINE = `${NOW}
local out = {}
for i = 2, #ARGV do
  if redis.call('ZCOUNT', ARGV[1] .. ARGV[i], '(' .. now, '+inf') > 0 then out[#out + 1] = ARGV[i] end
end
return out
`;

/** KEYS: users. ARGV: user key prefix, limit. Returns { users looked at, users gone offline }. */
const REAP = `${NOW}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, uid in ipairs(due) do
  local key = ARGV[1] .. uid
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #top == 0 then
    redis.call('ZREM', KEYS[1], uid)
    gone[#gone + 1] = uid
  else
    redis.call('ZADD', KEYS[1], top[2], uid)
  end
end
return { #due, gone }
`;

const REAP_BATCH = 1000;
const HEARTBEAT_BATCH = 500;

export interface RedisPresenceOptions {
  /** Key prefix, e.g. `parley:`. */
  prefix: string;
  nodeId: string;
  ttlMs: number;
}

export class RedisPresence implements PresenceRegistry {
  private readonly redis: Redis;
  private readonly opts: RedisPresenceOptions;
  private readonly usersKey: string;
  private readonly userPrefix: string;
  /** This node's connections: member → userId. */
  private readonly local = new Map<string, string>();

  constructor(redis: Redis, opts: RedisPresenceOptions) {
    this.redis = redis;
    this.opts = opts;
    this.usersKey = `${opts.prefix}presence:users`;
    this.userPrefix = `${opts.prefix}presence:user:`;
  }

  // Scripts go as EVAL, never EVALSHA: ioredis retries a NOSCRIPT (after a
  // broker restart) as a second command, which could overtake later ones.
  // Each method updates `local` and sends its command in the same turn, so
  // the heartbeat never re-registers a connection after its disconnect.

  async connect(userId: string, connectionId: string): Promise<boolean> {
    const member = this.member(connectionId);
    this.local.set(member, userId);
    try {
      const r = await this.redis.eval(CONNECT, 2, this.userPrefix + userId, this.usersKey, member, this.opts.ttlMs, userId);
      return r === 1;
    } catch (err) {
      // A failed connect is not a connection (the caller will not disconnect
      // it): stop refreshing it. If the script ran all the same, it expires.
      this.local.delete(member);
      throw err;
    }
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const member = this.member(connectionId);
    this.local.delete(member);
    const r = await this.redis.eval(DISCONNECT, 2, this.userPrefix + userId, this.usersKey, member, userId);
    return r === 1;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const r = (await this.redis.eval(ONLINE, 0, this.userPrefix, ...userIds)) as string[];
    return new Set(r);
  }

  async reap(): Promise<string[]> {
    const gone: string[] = [];
    for (;;) {
      const [seen, batch] = (await this.redis.eval(REAP, 1, this.usersKey, this.userPrefix, REAP_BATCH)) as [number, string[]];
      gone.push(...batch);
      if (seen < REAP_BATCH) return gone;
    }
  }

  /** Refreshes this node's connections; returns the users it had to bring back online. */
  async heartbeat(): Promise<string[]> {
    const pairs: string[] = [];
    for (const [member, userId] of this.local) pairs.push(userId, member);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < pairs.length; i += HEARTBEAT_BATCH * 2) {
      const batch = pairs.slice(i, i + HEARTBEAT_BATCH * 2);
      sends.push(this.redis.eval(HEARTBEAT, 1, this.usersKey, this.userPrefix, this.opts.ttlMs, ...batch));
    }
    const revived = (await Promise.all(sends)) as string[][];
    return revived.flat();
  }

  private member(connectionId: string): string {
    return `${this.opts.nodeId}:${connectionId}`;
  }
}
