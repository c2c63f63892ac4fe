/** The main thread's side of batch-writer-thread.ts: one request at a time in, results out, in order. */
import { Worker } from 'node:worker_threads';
import { ParleyError } from '../../errors.ts';
import type { Mutation, MutationResult } from '../store.ts';
import type { BatchRequest, BatchResponse } from './batch-writer-thread.ts';
import type { Synchronous } from './database.ts';

export class WriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: MutationResult[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failed: Error | null = null;

  /** Why the thread can take no more batches, if it cannot. */
  get failure(): Error | null {
    return this.failed;
  }

  constructor(path: string, synchronous: Synchronous) {
    this.worker = new Worker(new URL('./batch-writer-thread.ts', import.meta.url), { workerData: { path, synchronous } });
    this.worker.unref();
    this.worker.on('message', (res: BatchResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if ('failure' in res) p.reject(new Error(`batch failed: ${res.failure}`));
      else p.resolve(res.results.map((r) => (r.ok ? r : { ok: false, error: new ParleyError(r.error.code, r.error.message) })));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the SQLite writer thread exited (${code})`)));
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  apply(mutations: Mutation[]): Promise<MutationResult[]> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, { resolve, reject });
      this.worker.ref(); // keep the process alive while a commit is owed
      this.worker.postMessage({ id, mutations } satisfies BatchRequest);
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    }) as Promise<MutationResult[]>;
  }

  async close(): Promise<void> {
    if (this.failed) return;
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.failed = new Error('the store is closed');
    this.worker.postMessage('close');
    await exited;
  }
}
