/**
 * Interest-based subscriptions for the networked buses: the local handlers of
 * each subject, and exactly one broker subscription per subject while at least
 * one handler exists. Broker calls for one subject run one at a time, and each
 * reconciles the broker with the handlers as they are when it runs, so a quick
 * unsubscribe + subscribe never leaves the two out of step.
 */
import type { BusHandler, BusMessage, Subscription } from './bus.ts';

/** What an adapter does at its broker. */
export interface BrokerSubscriber {
  /** Resolves once the broker has confirmed the subscription. */
  subscribe(subject: string): Promise<void>;
  unsubscribe(subject: string): Promise<void>;
}

interface Entry {
  /** One token per `subscribe` call, so one function may be subscribed twice. */
  readonly handlers: Set<{ handler: BusHandler }>;
  /** Whether the broker holds (or is being asked for) this subject. */
  live: boolean;
  /** The tail of this subject's broker calls. */
  queue: Promise<void>;
}

export class Interest {
  private readonly entries = new Map<string, Entry>();
  private readonly broker: BrokerSubscriber;
  private readonly onError: (err: unknown) => void;

  constructor(broker: BrokerSubscriber, onError: (err: unknown) => void) {
    this.broker = broker;
    this.onError = onError;
  }

  /** Adds a handler; resolves when the broker subscription is live, rejects (adding nothing) if it fails. */
  async add(subject: string, handler: BusHandler): Promise<Subscription> {
    const entry = this.entry(subject);
    const token = { handler };
    entry.handlers.add(token);
    try {
      await this.reconcile(subject, entry);
    } catch (err) {
      entry.handlers.delete(token);
      this.reconcile(subject, entry).catch(this.onError);
      throw err;
    }
    let done = false;
    return {
      unsubscribe: async () => {
        if (done) return;
        done = true;
        entry.handlers.delete(token);
        // The handler is gone whatever the broker says; a failed broker
        // unsubscribe stays `live` and is retried by `resync`.
        await this.reconcile(subject, entry).catch(this.onError);
      },
    };
  }

  /** Hands a message to every handler of `subject` on this node; false when nothing here knows the subject. */
  dispatch(subject: string, msg: BusMessage): boolean {
    const entry = this.entries.get(subject);
    if (!entry) return false;
    for (const { handler } of [...entry.handlers]) {
      try {
        handler(msg);
      } catch (err) {
        this.onError(err);
      }
    }
    return true;
  }

  /** Reconciles every subject again, e.g. after a reconnect left some broker unsubscribes undone. */
  resync(): void {
    for (const [subject, entry] of this.entries) this.reconcile(subject, entry).catch(this.onError);
  }

  clear(): void {
    this.entries.clear();
  }

  private entry(subject: string): Entry {
    let entry = this.entries.get(subject);
    if (!entry) {
      entry = { handlers: new Set(), live: false, queue: Promise.resolve() };
      this.entries.set(subject, entry);
    }
    return entry;
  }

  private reconcile(subject: string, entry: Entry): Promise<void> {
    const run = async () => {
      if (entry.handlers.size > 0 && !entry.live) {
        await this.broker.subscribe(subject);
        entry.live = true;
      } else if (entry.handlers.size === 0 && entry.live) {
        await this.broker.unsubscribe(subject);
        entry.live = false;
      }
    };
    const result = entry.queue.then(run);
    const tail = result.then(
      () => {},
      () => {},
    );
    entry.queue = tail;
    void tail.then(() => {
      // Forget the subject once nothing wants it, nothing holds it and nothing is queued.
      if (entry.queue === tail && entry.handlers.size === 0 && !entry.live && this.entries.get(subject) === entry) {
        this.entries.delete(subject);
      }
    });
    return result;
  }
}
