/** Group commit: writes that arrive together share one transaction, and nobody is answered before it commits. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBus } from '../../src/bus/local.ts';
import { Committer } from '../../src/chat/committer.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Mutation, MutationResult } from '../../src/store/store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

/** The real SQLite store, with each applyBatch recorded and held until the test lets it go. */
class GatedStore extends SqliteStore {
  batches: number[] = [];
  gate: Promise<void> = Promise.resolve();

  override async applyBatch(mutations: Mutation[]): Promise<MutationResult[]> {
    this.batches.push(mutations.length);
    await this.gate;
    return super.applyBatch(mutations);
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(batchSize: number) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-committer-'));
  dirs.push(dir);
  const store = new GatedStore({ path: join(dir, 'db') });
  const committer = new Committer(store, new LocalBus(), createMetrics(), { batchSize, windowMs: 0, onPublishError: () => {} });
  await store.createUser({ id: 'u', username: 'user', displayName: 'u', passwordHash: 'x', createdAt: 1 });
  await store.createConversation({
    id: 'c',
    kind: 'group',
    title: 't',
    public: false,
    createdAt: 1,
    directKey: null,
    members: [{ userId: 'u', role: 'owner' }],
  });
  const send = (i: number) =>
    committer.submit({
      kind: 'message.create',
      conversationId: 'c',
      actorId: 'u',
      at: Date.now(),
      message: { id: `m${i}`, clientMsgId: `k${i}`, body: `b${i}`, replyToSeq: null, attachments: [] },
    });
  return { store, committer, send };
}

describe('Committer', () => {
  it('writes sends that arrive in the same turn in one transaction', async () => {
    const { store, send } = await setup(512);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => send(i)));
    expect(store.batches).toEqual([100]);
    expect(results.map((r) => (r.ok ? r.event!.seq : 0))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('cuts batches at the batch size', async () => {
    const { store, send } = await setup(10);
    await Promise.all(Array.from({ length: 35 }, (_, i) => send(i)));
    expect(store.batches).toEqual([10, 10, 10, 5]);
  });

  it('gathers what arrives while a commit runs into the next batch, and answers only after commit', async () => {
    const { store, send } = await setup(512);
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    let answered = 0;
    const first = send(0).then((r) => (answered++, r));
    await new Promise((r) => setImmediate(r));
    expect(store.batches).toEqual([1]);
    const later = Array.from({ length: 20 }, (_, i) => send(i + 1).then((r) => (answered++, r)));
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(0); // the first transaction has not committed: nobody is answered
    release();
    await Promise.all([first, ...later]);
    expect(store.batches).toEqual([1, 20]);
    expect(answered).toBe(21);
  });

  it('flush() commits everything queued', async () => {
    const { store, committer, send } = await setup(512);
    const pending = Array.from({ length: 5 }, (_, i) => send(i));
    await committer.flush();
    expect(store.batches.reduce((a, b) => a + b, 0)).toBe(5);
    await Promise.all(pending);
  });
});
