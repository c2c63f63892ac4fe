/**
 * Presence across nodes in a JetStream KV bucket. nats-server 2.9 has no
 * per-key TTL, so expiry is built from node leases and compare-and-set
 * (every write names the revision it read; a stale one fails and is retried).
 *
 * Keys (history 1):
 *   n.<nodeId>  the node's lease: { expiresAt } (ms). The node renews it every
 *               heartbeat; a node is alive while `expiresAt` is in the future.
 *   u.<userId>  the user's connections per node: { [nodeId]: connectionId[] }.
 *
 * A user is online while some node listed in `u.<userId>` is alive. Only the
 * node's lease is refreshed per heartbeat (one write per node, however many
 * connections), so a node that dies takes all its connections with it after
 * the TTL without any further write.
 *
 * Every update of `u.<userId>` first drops the nodes that are not alive, and
 * deletes the key when nothing is left. Offline is the transition to "no key":
 * it happens in one compare-and-set, so exactly one writer makes it and reports
 * it — a `disconnect` (returns true) or a `reap` (returns the user). A
 * `connect` that finds only dead nodes drops them and adds itself, so the user
 * never went offline as far as anyone is told.
 *
 * `reap` lists the leases, claims each expired one (a compare-and-set on the
 * lease, so one reaper scans per dead node), and then visits the users: those
 * whose last nodes were dead are deleted and returned. Once done it deletes the
 * dead lease. A claim lapses after a TTL, so a reaper that dies midway is
 * replaced.
 *
 * Liveness is judged by the nodes' clocks: they must agree to well within the
 * TTL (NTP does). A node never writes for itself on a lease that is about to
 * lapse: past three quarters of the TTL without a renewal (a stall, an outage
 * of the broker, a lease claimed by a reaper), it takes a new node id with a
 * fresh lease, registers its connections again under it, and reports the users
 * that had gone offline meanwhile as revived, for the bus to announce.
 *
 * Costs: deleted keys leave a delete marker each (one per user who was ever
 * online and is not now, and one per node incarnation); reaping a dead node
 * reads every user key once.
 */
import { randomUUID } from 'node:crypto';
import type { KV, KvEntry } from 'nats';
import type { PresenceRegistry } from './bus.ts';

interface Lease {
  expiresAt: number;
  claimedBy?: string;
  claimUntil?: number;
}

/** nodeId → the connection ids it holds for the user. */
type Connections = Record<string, string[]>;

interface Mutation {
  /** The user had a live connection before this write. */
  before: boolean;
  /** This write (or the deletion it made) took the user from some entries to none. */
  emptied: boolean;
}

export interface NatsPresenceOptions {
  ttlMs: number;
  /** Users brought back online by a re-registration after a lost lease. */
  onRevived: (userIds: string[]) => void;
  onError: (err: unknown) => void;
}

const MAX_ATTEMPTS = 100;
const SCAN_PARALLEL = 32;
const enc = new TextEncoder();

/** KV keys allow `[-/_=.a-zA-Z0-9]`; ids outside `[-_a-zA-Z0-9]` are base64url-encoded behind a `=`. */
const token = (id: string) => (/^[-_a-zA-Z0-9]+$/.test(id) ? id : `=${Buffer.from(id).toString('base64url')}`);
const untoken = (t: string) => (t.startsWith('=') ? Buffer.from(t.slice(1), 'base64url').toString() : t);
const userKey = (userId: string) => `u.${token(userId)}`;
const nodeKey = (nodeId: string) => `n.${nodeId}`;

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number } } | null;
  return e?.api_error?.err_code === 10071; // "wrong last sequence"
}

const json = (v: unknown) => enc.encode(JSON.stringify(v));
const hasAny = (c: Connections) => Object.values(c).some((ids) => ids.length > 0);

export class NatsPresence implements PresenceRegistry {
  private readonly kv: KV;
  private readonly opts: NatsPresenceOptions;
  private nodeId = randomUUID();
  /** Every id this process has used, newest last: a disconnect finds its connection under any of them. */
  private readonly ownIds: string[] = [];
  private leaseRevision = 0;
  private leaseExpiresAt = 0;
  private renewing: Promise<void> | null = null;
  /** The node id all local connections were last registered under. */
  private registeredAs = '';
  /** Connects that failed: taken back on the next heartbeat. */
  private readonly orphans: { userId: string; connectionId: string }[] = [];
  /** This node's connections: userId → connectionIds. */
  private readonly local = new Map<string, Set<string>>();
  /** Per-user chain: one write per user at a time from this node. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Leases seen alive: nodeId → expiresAt. A lease only moves forward, so a future one is still good. */
  private readonly leases = new Map<string, number>();

  constructor(kv: KV, opts: NatsPresenceOptions) {
    this.kv = kv;
    this.opts = opts;
  }

  /** Takes the first lease. */
  async start(): Promise<void> {
    await this.takeLease();
    this.registeredAs = this.nodeId;
  }

  connect(userId: string, connectionId: string): Promise<boolean> {
    let set = this.local.get(userId);
    if (!set) this.local.set(userId, (set = new Set()));
    set.add(connectionId);
    const op = this.serial(userId, async () => {
      const nodeId = await this.ensureLease();
      const r = await this.mutate(userId, (c) => {
        const ids = c[nodeId] ?? [];
        if (!ids.includes(connectionId)) c[nodeId] = [...ids, connectionId];
      });
      return !r.before;
    });
    // A failed connect is not a connection (the caller will not disconnect it);
    // the write may have landed all the same, so it is taken back, now or on a
    // later heartbeat.
    op.catch(() => {
      this.forget(userId, connectionId);
      this.orphans.push({ userId, connectionId });
    });
    return op;
  }

  disconnect(userId: string, connectionId: string): Promise<boolean> {
    this.forget(userId, connectionId);
    return this.serial(userId, () => this.remove(userId, connectionId));
  }

  async online(userIds: string[]): Promise<Set<string>> {
    const entries = await Promise.all(userIds.map((u) => this.kv.get(userKey(u))));
    const out = new Set<string>();
    await Promise.all(
      entries.map(async (e, i) => {
        if (e?.operation !== 'PUT') return;
        const c = e.json<Connections>();
        const live = await this.liveNodes(Object.keys(c));
        if (Object.entries(c).some(([id, ids]) => ids.length > 0 && live.has(id))) out.add(userIds[i]!);
      }),
    );
    return out;
  }

  async reap(): Promise<string[]> {
    const now = Date.now();
    const claimed: { key: string; revision: number }[] = [];
    for (const key of await this.keys('n.>')) {
      const e = await this.kv.get(key);
      if (e?.operation !== 'PUT') continue;
      const lease = e.json<Lease>();
      const id = key.slice(2);
      if (lease.expiresAt > now) {
        this.leases.set(id, lease.expiresAt);
        continue;
      }
      if (id === this.nodeId) continue;
      if ((lease.claimUntil ?? 0) > now) continue;
      const claim: Lease = { ...lease, claimedBy: this.nodeId, claimUntil: now + this.opts.ttlMs };
      try {
        claimed.push({ key, revision: await this.kv.update(key, json(claim), e.revision) });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    if (claimed.length === 0) return [];

    const gone: string[] = [];
    const users = (await this.keys('u.>')).map((k) => untoken(k.slice(2)));
    for (let i = 0; i < users.length; i += SCAN_PARALLEL) {
      await Promise.all(
        users.slice(i, i + SCAN_PARALLEL).map((userId) =>
          this.serial(userId, async () => {
            if ((await this.mutate(userId, () => {})).emptied) gone.push(userId);
          }),
        ),
      );
    }
    for (const { key, revision } of claimed) {
      await this.kv.delete(key, { previousSeq: revision }).catch((err) => {
        if (!isConflict(err)) throw err;
      });
    }
    return gone;
  }

  /**
   * Renews this node's lease; past its margin, moves to a new one. Then
   * registers the connections again if the node id changed, and takes back
   * failed connects.
   */
  async heartbeat(): Promise<void> {
    await this.renewing;
    let renewed = false;
    if (this.leaseValid()) {
      const expiresAt = Date.now() + this.opts.ttlMs;
      try {
        this.leaseRevision = await this.kv.update(nodeKey(this.nodeId), json({ expiresAt }), this.leaseRevision);
        this.leaseExpiresAt = expiresAt;
        renewed = true;
      } catch (err) {
        // A reaper claimed the lease (this node stalled, or its clock is behind): start over.
        if (!isConflict(err)) throw err;
      }
    }
    if (!renewed) await this.renew();
    if (this.registeredAs !== this.nodeId) await this.reregister();
    for (const { userId, connectionId } of this.orphans.splice(0)) {
      if (this.local.get(userId)?.has(connectionId)) continue; // connected again since
      await this.serial(userId, () => this.remove(userId, connectionId)).catch((err) => {
        this.orphans.push({ userId, connectionId });
        throw err;
      });
    }
  }

  private leaseValid(): boolean {
    return Date.now() < this.leaseExpiresAt - this.opts.ttlMs / 4;
  }

  /** The node id to write under, renewing the lease first if it is about to lapse. */
  private async ensureLease(): Promise<string> {
    while (!this.leaseValid()) await this.renew();
    return this.nodeId;
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      this.nodeId = randomUUID();
      await this.takeLease();
    })().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  private async takeLease(): Promise<void> {
    const expiresAt = Date.now() + this.opts.ttlMs;
    this.leaseRevision = await this.kv.create(nodeKey(this.nodeId), json({ expiresAt }));
    this.leaseExpiresAt = expiresAt;
    this.ownIds.push(this.nodeId);
    if (this.ownIds.length > 8) this.ownIds.shift();
  }

  /** Registers every local connection under the current node id. */
  private async reregister(): Promise<void> {
    const nodeId = this.nodeId;
    const revived: string[] = [];
    let failed: unknown = null;
    await Promise.all(
      [...this.local.keys()].map((userId) =>
        this.serial(userId, async () => {
          const conns = this.local.get(userId);
          if (!conns?.size || nodeId !== this.nodeId) return;
          const r = await this.mutate(userId, (c) => {
            c[nodeId] = [...new Set([...(c[nodeId] ?? []), ...conns])];
          });
          if (!r.before) revived.push(userId);
        }).catch((err) => {
          failed = err;
        }),
      ),
    );
    if (revived.length > 0) this.opts.onRevived(revived);
    if (failed) throw failed;
    if (nodeId === this.nodeId) this.registeredAs = nodeId;
  }

  /** Removes a connection from every id this process has used; true when the user went offline by it. */
  private async remove(userId: string, connectionId: string): Promise<boolean> {
    const r = await this.mutate(userId, (c) => {
      for (const id of this.ownIds) {
        const ids = c[id]?.filter((x) => x !== connectionId);
        if (!ids) continue;
        if (ids.length > 0) c[id] = ids;
        else delete c[id];
      }
    });
    return r.emptied;
  }

  private forget(userId: string, connectionId: string): void {
    const set = this.local.get(userId);
    set?.delete(connectionId);
    if (set?.size === 0) this.local.delete(userId);
  }

  /**
   * Reads `u.<userId>`, drops dead nodes, applies `change`, and writes the result
   * back with compare-and-set (deleting the key when nothing is left), retrying
   * on conflict.
   */
  private async mutate(userId: string, change: (c: Connections) => void): Promise<Mutation> {
    const key = userKey(userId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const e: KvEntry | null = await this.kv.get(key);
      const current: Connections = e?.operation === 'PUT' ? e.json<Connections>() : {};
      const live = await this.liveNodes(Object.keys(current));
      const next: Connections = {};
      for (const [id, ids] of Object.entries(current)) if (live.has(id) && ids.length > 0) next[id] = ids;
      const before = hasAny(next);
      change(next);
      const result = { before, emptied: hasAny(current) && !hasAny(next) };
      if (JSON.stringify(next) === JSON.stringify(current)) return result;
      try {
        if (!hasAny(next)) {
          if (e?.operation === 'PUT') await this.kv.delete(key, { previousSeq: e.revision });
        } else {
          await this.kv.put(key, json(next), { previousSeq: e?.revision ?? 0 });
        }
        return result;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`presence: gave up on ${key} after ${MAX_ATTEMPTS} conflicting writes`);
  }

  /** The ids among `nodeIds` whose lease is alive (this node's own, while valid, without a read). */
  private async liveNodes(nodeIds: string[]): Promise<Set<string>> {
    const now = Date.now();
    const live = new Set<string>();
    await Promise.all(
      nodeIds.map(async (id) => {
        if (id === this.nodeId && this.leaseExpiresAt > now) return void live.add(id);
        if ((this.leases.get(id) ?? 0) > now) return void live.add(id);
        const e = await this.kv.get(nodeKey(id));
        if (e?.operation !== 'PUT') return void this.leases.delete(id);
        const { expiresAt } = e.json<Lease>();
        if (expiresAt > now) {
          this.leases.set(id, expiresAt);
          live.add(id);
        } else this.leases.delete(id);
      }),
    );
    return live;
  }

  private async keys(filter: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(filter)) out.push(k);
    return out;
  }

  private serial<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(userId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.chains.set(userId, tail);
    void tail.then(() => {
      if (this.chains.get(userId) === tail) this.chains.delete(userId);
    });
    return run;
  }
}
