/**
 * The thread that commits event batches. SQLite's commit waits for fsync
 * (synchronous=FULL) and node:sqlite is synchronous, so on the main thread
 * every commit would stop all delivery for the length of an fsync. Here it
 * only stops this thread; the main thread keeps reading (WAL lets readers run
 * beside the writer) and sending.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ParleyError } from '../../errors.ts';
import type { Mutation, MutationResult } from '../store.ts';
import { Database, type Synchronous } from './database.ts';
import { applyMutations } from './mutations.ts';

export interface BatchRequest {
  id: number;
  mutations: Mutation[];
}

/** Results cross the thread boundary as plain data: errors travel as their code and message. */
export type WireResult =
  | Exclude<MutationResult, { ok: false }>
  | { ok: false; error: { code: ParleyError['code']; message: string } };

export type BatchResponse = { id: number; results: WireResult[] } | { id: number; failure: string };

const { path, synchronous } = workerData as { path: string; synchronous: Synchronous };
const db = new Database(path, synchronous);

parentPort!.on('message', (req: BatchRequest | 'close') => {
  if (req === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let response: BatchResponse;
  try {
    const results = applyMutations(db, req.mutations).map(
      (r): WireResult => (r.ok ? r : { ok: false, error: { code: r.error.code, message: r.error.message } }),
    );
    response = { id: req.id, results };
  } catch (err) {
    response = { id: req.id, failure: (err as Error).stack ?? String(err) };
  }
  parentPort!.postMessage(response);
});
