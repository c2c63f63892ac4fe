/** The in-process Bus for a single node: subjects are a Map, presence a counter per user. */
import type { Bus, BusHandler, BusMessage, PresenceRegistry, Subscription } from './bus.ts';

class LocalPresence implements PresenceRegistry {
  private readonly connections = new Map<string, Set<string>>();

  async connect(userId: string, connectionId: string): Promise<boolean> {
    let set = this.connections.get(userId);
    if (!set) this.connections.set(userId, (set = new Set()));
    set.add(connectionId);
    return set.size === 1;
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const set = this.connections.get(userId);
    if (!set?.delete(connectionId)) return false;
    if (set.size > 0) return false;
    this.connections.delete(userId);
    return true;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.connections.has(id)));
  }

  /** In one process nothing outlives its node: there is never anything to reap. */
  async reap(): Promise<string[]> {
    return [];
  }
}

export class LocalBus implements Bus {
  private readonly handlers = new Map<string, Set<BusHandler>>();
  readonly presence: PresenceRegistry = new LocalPresence();

  async publish(subject: string, msg: BusMessage): Promise<void> {
    const set = this.handlers.get(subject);
    if (!set) return;
    // Delivered on a later microtask, like a network bus: a publisher never
    // re-enters its own subscribers; microtasks keep publish order.
    for (const handler of [...set]) queueMicrotask(() => handler(msg));
  }

  async subscribe(subject: string, handler: BusHandler): Promise<Subscription> {
    let set = this.handlers.get(subject);
    if (!set) this.handlers.set(subject, (set = new Set()));
    set.add(handler);
    return {
      unsubscribe: async () => {
        set.delete(handler);
        if (set.size === 0 && this.handlers.get(subject) === set) this.handlers.delete(subject);
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
