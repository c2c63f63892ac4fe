/**
 * A node's ordered view of one conversation. The bus may lose or reorder
 * events (it is at-most-once); the feed passes them on strictly in seq order,
 * once each. An event that arrives ahead waits briefly for the missing ones
 * (reordering between publishers is usually a matter of microseconds), then
 * the hole is filled from the store, once for the whole node rather than once
 * per connection. A periodic check against the store's lastSeq (`observe`)
 * catches events the bus lost when nothing follows them, e.g. across a bus
 * restart.
 */
import type { ChatEvent } from '../protocol/types.ts';

export interface FeedOptions {
  /** How long an early event waits for the ones before it before the store is asked. */
  holdMs: number;
  readEvents: (afterSeq: number, limit: number) => Promise<ChatEvent[]>;
  emit: (event: ChatEvent) => void;
  onFill?: () => void;
  onError: (err: unknown) => void;
}

const FILL_PAGE = 500;

export class ConversationFeed {
  /** The last seq passed on; undefined until `init` or the first event fixes the starting point. */
  private head: number | undefined;
  private readonly early = new Map<number, ChatEvent>();
  private timer: NodeJS.Timeout | null = null;
  private filling = false;
  /** Fill at least up to here: set by `observe` when the store is ahead for a whole round. */
  private target = 0;
  /** The store's lastSeq at the previous `observe`. */
  private observed: number | undefined;
  private readonly opts: FeedOptions;

  constructor(opts: FeedOptions) {
    this.opts = opts;
  }

  /** Sets the starting point to the store's lastSeq, unless an event has fixed it already. */
  init(lastSeq: number): void {
    this.head ??= lastSeq;
  }

  offer(event: ChatEvent): void {
    if (this.head === undefined) this.head = event.seq - 1;
    if (event.seq <= this.head) return;
    if (event.seq === this.head + 1 && !this.filling) {
      this.pass(event);
      this.drainEarly();
      return;
    }
    this.early.set(event.seq, event);
    this.schedule();
  }

  /**
   * Compares with the store's lastSeq. Events the store had at the previous
   * call have had a whole round to arrive over the bus; any still missing are
   * read from the store now.
   */
  observe(lastSeq: number): void {
    const previous = this.observed;
    this.observed = lastSeq;
    if (this.head === undefined || previous === undefined || this.head >= previous) return;
    this.target = Math.max(this.target, previous);
    if (!this.filling) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.fill();
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.early.clear();
  }

  private schedule(): void {
    if (!this.timer && !this.filling) this.timer = setTimeout(() => void this.fill(), this.opts.holdMs);
  }

  private pass(event: ChatEvent): void {
    this.head = event.seq;
    this.opts.emit(event);
  }

  private drainEarly(): void {
    let next: ChatEvent | undefined;
    while ((next = this.early.get(this.head! + 1))) {
      this.early.delete(next.seq);
      this.pass(next);
    }
    for (const seq of this.early.keys()) if (seq <= this.head!) this.early.delete(seq);
    if (this.early.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** How far the store must be read: up to just before the first early event, or to the target. */
  private wanted(): number {
    const firstEarly = this.early.size > 0 ? Math.min(...this.early.keys()) - 1 : 0;
    return Math.max(firstEarly, this.target);
  }

  private async fill(): Promise<void> {
    this.timer = null;
    this.filling = true;
    this.opts.onFill?.();
    try {
      for (let want = this.wanted(); this.head! < want; want = this.wanted()) {
        const events = await this.opts.readEvents(this.head!, Math.min(FILL_PAGE, want - this.head!));
        if (events.length === 0) break; // not in the store yet: try again later
        for (const e of events) if (e.seq === this.head! + 1) this.pass(e);
        this.drainEarly();
      }
      this.drainEarly();
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.filling = false;
      if (this.early.size > 0) this.schedule();
    }
  }
}
