/**
 * A node's ordered view of one conversation. The bus may lose or reorder
 * events (it is at-most-once); the feed passes them on strictly in seq order,
 * once each. An event that arrives ahead waits briefly for the missing ones
 * (reordering between publishers is usually a matter of microseconds) and then
 * the hole is filled from the store, once for the whole node rather than once
 * per connection.
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
  /** The last seq passed on; undefined until the first event fixes the starting point. */
  private head: number | undefined;
  private readonly early = new Map<number, ChatEvent>();
  private timer: NodeJS.Timeout | null = null;
  private filling = false;
  private readonly opts: FeedOptions;

  constructor(opts: FeedOptions) {
    this.opts = opts;
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
    if (!this.timer && !this.filling) this.timer = setTimeout(() => void this.fill(), this.opts.holdMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.early.clear();
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
    if (this.early.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private async fill(): Promise<void> {
    this.timer = null;
    this.filling = true;
    this.opts.onFill?.();
    try {
      while (this.early.size > 0) {
        const target = Math.min(...this.early.keys()) - 1;
        if (target <= this.head!) {
          this.drainEarly();
          for (const seq of this.early.keys()) if (seq <= this.head!) this.early.delete(seq);
          continue;
        }
        const events = await this.opts.readEvents(this.head!, Math.min(FILL_PAGE, target - this.head!));
        if (events.length === 0) break; // the store has not got them either: try again on the next event
        for (const e of events) if (e.seq === this.head! + 1) this.pass(e);
        this.drainEarly();
      }
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.filling = false;
      if (this.early.size > 0 && !this.timer) this.timer = setTimeout(() => void this.fill(), this.opts.holdMs);
    }
  }
}
