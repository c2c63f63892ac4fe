/**
 * Group commit. Writes that arrive close together share one transaction (one
 * fsync): a batch is cut when the store is free again, after at most
 * `windowMs` (0 = at the end of the current event-loop turn) or at
 * `batchSize` mutations. Each caller is answered only after its batch commits;
 * then the batch's events are published on the bus in seq order.
 */
import type { Bus } from '../bus/bus.ts';
import { subjects } from '../bus/bus.ts';
import type { Metrics } from '../metrics.ts';
import type { Mutation, MutationResult, Store } from '../store/store.ts';

interface Pending {
  mutation: Mutation;
  resolve: (r: MutationResult) => void;
  reject: (err: unknown) => void;
}

export interface CommitterOptions {
  batchSize: number;
  windowMs: number;
  onPublishError: (err: unknown) => void;
}

export class Committer {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Immediate | NodeJS.Timeout | null = null;

  private readonly store: Store;
  private readonly bus: Bus;
  private readonly metrics: Metrics;
  private readonly opts: CommitterOptions;

  constructor(store: Store, bus: Bus, metrics: Metrics, opts: CommitterOptions) {
    this.store = store;
    this.bus = bus;
    this.metrics = metrics;
    this.opts = opts;
  }

  submit(mutation: Mutation): Promise<MutationResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ mutation, resolve, reject });
      this.schedule();
    });
  }

  /** Like `submit`, but a refused mutation throws its error. */
  async apply(mutation: Mutation): Promise<Extract<MutationResult, { ok: true }>> {
    const r = await this.submit(mutation);
    if (!r.ok) throw r.error;
    return r;
  }

  /** Commits everything queued so far; used when draining. */
  async flush(): Promise<void> {
    this.cancelTimer();
    while (this.queue.length > 0 || this.running) {
      if (this.running) await this.running;
      else await this.run();
    }
  }

  private cancelTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
  }

  private schedule(): void {
    if (this.timer || this.running) return;
    if (this.queue.length >= this.opts.batchSize) {
      void this.run();
      return;
    }
    const fire = () => {
      this.timer = null;
      void this.run();
    };
    this.timer = this.opts.windowMs > 0 ? setTimeout(fire, this.opts.windowMs) : setImmediate(fire);
  }

  private run(): Promise<void> {
    this.cancelTimer();
    this.running = this.loop().finally(() => {
      this.running = null;
      if (this.queue.length > 0) this.schedule();
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.batchSize);
      let results: MutationResult[];
      try {
        results = await this.store.applyBatch(batch.map((p) => p.mutation));
      } catch (err) {
        for (const p of batch) p.reject(err);
        continue;
      }
      this.metrics.commitBatches.observe(batch.length);
      this.publish(results);
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    }
  }

  private publish(results: MutationResult[]): void {
    let appended = 0;
    for (const r of results) {
      if (!r.ok || !r.event) continue;
      appended++;
      const e = r.event;
      this.bus.publish(subjects.conversation(e.conversationId), { type: 'event', event: e }).catch(this.opts.onPublishError);
      if (e.kind === 'member.joined' || e.kind === 'member.left') {
        this.bus
          .publish(subjects.user(e.data.userId), {
            type: 'membership',
            conversationId: e.conversationId,
            userId: e.data.userId,
            seq: e.seq,
            joined: e.kind === 'member.joined',
          })
          .catch(this.opts.onPublishError);
      }
    }
    this.metrics.eventsAppended.inc(appended);
  }
}
