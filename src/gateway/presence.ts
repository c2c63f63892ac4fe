/**
 * Presence for local sessions: registers connections with the bus's presence
 * registry, announces online/offline on `presence.<userId>`, and answers
 * `watch`. A user goes offline `graceMs` after their last connection closes,
 * so a quick reconnect does not flicker.
 */
import { subjects, type Bus } from '../bus/bus.ts';
import type { Presence } from '../protocol/types.ts';
import type { Store } from '../store/store.ts';
import type { Hub, HubMember } from './hub.ts';

export interface PresenceOptions {
  bus: Bus;
  store: Store;
  hub: Hub;
  graceMs: number;
  /** How often the registry is asked for users whose node died with them online. */
  reapMs: number;
  onError: (err: unknown) => void;
}

export class PresenceTracker {
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; run: () => Promise<void> }>();
  private readonly opts: PresenceOptions;
  private readonly reaper: NodeJS.Timeout;

  constructor(opts: PresenceOptions) {
    this.opts = opts;
    this.reaper = setInterval(() => this.reap().catch(opts.onError), opts.reapMs);
    this.reaper.unref();
  }

  /** Announces offline the users whose last connections expired with a dead node. */
  private async reap(): Promise<void> {
    const now = Date.now();
    for (const userId of await this.opts.bus.presence.reap()) {
      await this.opts.store.setLastSeen(userId, now);
      await this.announce({ userId, status: 'offline', lastSeenAt: now });
    }
  }

  async connected(userId: string, connectionId: string): Promise<void> {
    if (await this.opts.bus.presence.connect(userId, connectionId)) {
      await this.announce({ userId, status: 'online', lastSeenAt: Date.now() });
    }
  }

  disconnected(userId: string, connectionId: string): void {
    const closedAt = Date.now();
    const run = async () => {
      this.pending.delete(connectionId);
      if (await this.opts.bus.presence.disconnect(userId, connectionId)) {
        await this.opts.store.setLastSeen(userId, closedAt);
        await this.announce({ userId, status: 'offline', lastSeenAt: closedAt });
      }
    };
    const timer = setTimeout(() => run().catch(this.opts.onError), this.opts.graceMs);
    this.pending.set(connectionId, { timer, run });
  }

  /** Subscribes `member` to the users' presence and returns where they stand now. */
  async watch(member: HubMember, userIds: string[]): Promise<Presence[]> {
    await Promise.all(userIds.map((id) => this.opts.hub.watchPresence(member, id)));
    const [online, lastSeen] = await Promise.all([
      this.opts.bus.presence.online(userIds),
      this.opts.store.getLastSeen(userIds),
    ]);
    const now = Date.now();
    return userIds.map((userId) =>
      online.has(userId)
        ? { userId, status: 'online', lastSeenAt: now }
        : { userId, status: 'offline', lastSeenAt: lastSeen.get(userId) ?? null },
    );
  }

  unwatch(member: HubMember, userIds: string[]): void {
    for (const id of userIds) this.opts.hub.unwatchPresence(member, id);
  }

  /** Settles every pending offline at once and stops reaping; used when the node drains. */
  async close(): Promise<void> {
    clearInterval(this.reaper);
    const runs = [...this.pending.values()];
    for (const p of runs) clearTimeout(p.timer);
    await Promise.all(runs.map((p) => p.run().catch(this.opts.onError)));
  }

  private announce(p: Presence): Promise<void> {
    return this.opts.bus.publish(subjects.presence(p.userId), { type: 'presence', ...p });
  }
}
