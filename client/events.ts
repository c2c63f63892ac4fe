/**
 * A small typed emitter. `on` returns the function that unsubscribes, so a UI
 * component can subscribe in its mount and return that from its cleanup.
 */

export type Handler<T> = (value: T) => void;

export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<Handler<never>>>();
  private readonly onError: (err: unknown) => void;

  /** `onError` receives what a handler throws, so one bad handler cannot break delivery to the rest. */
  constructor(onError: (err: unknown) => void = (err) => console.error('parley: an event handler threw', err)) {
    this.onError = onError;
  }

  on<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    const h = handler as Handler<never>;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  /** Calls the handler once, on the next emission. */
  once<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    const off = this.on(name, (v) => {
      off();
      handler(v);
    });
    return off;
  }

  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    const set = this.handlers.get(name);
    if (!set) return;
    // A copy: a handler may unsubscribe (itself or others) while we iterate.
    for (const h of [...set]) {
      try {
        (h as Handler<Events[K]>)(value);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}
