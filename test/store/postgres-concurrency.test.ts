/**
 * PostgresStore as several nodes see it: two (or three) store instances, each
 * with its own pool, on one database. What the contract suite cannot show with
 * one instance: seqs stay gap-free and unique, and sends idempotent, when the
 * writers are different processes; migrations started at once apply once.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mutation, MutationResult, UserRecord } from '../../src/store/store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { migrations, type MigrateResult } from '../../src/store/postgres/schema.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

type Ok = Extract<MutationResult, { ok: true }>;

function ok(r: MutationResult | undefined): Ok {
  if (!r?.ok) throw new Error(`expected ok, got ${r ? `${r.error.code}: ${r.error.message}` : 'nothing'}`);
  return r;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('PostgresStore across nodes', () => {
  let db: TestDatabase;
  let a: PostgresStore;
  let b: PostgresStore;
  let c: PostgresStore;
  let migrated: MigrateResult[];

  beforeAll(async () => {
    db = await createTestDatabase();
    [a, b, c] = [1, 2, 3].map(() => new PostgresStore({ url: db.url, max: 4 })) as [PostgresStore, PostgresStore, PostgresStore];
    // Three nodes starting at once on an empty database.
    migrated = await Promise.all([a.migrate(), b.migrate(), c.migrate()]);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
    await db?.drop();
  });

  async function newUsers(n: number): Promise<UserRecord[]> {
    const users = Array.from({ length: n }, () => ({
      id: randomUUID(),
      username: `u${randomUUID().slice(0, 12)}`,
      displayName: 'Node test',
      passwordHash: 'x',
      createdAt: Date.now(),
    }));
    await Promise.all(users.map((u) => a.createUser(u)));
    return users;
  }

  async function newGroup(userIds: string[]): Promise<string> {
    const id = randomUUID();
    await b.createConversation({
      id,
      kind: 'group',
      title: 'nodes',
      public: false,
      createdAt: Date.now(),
      directKey: null,
      members: userIds.map((userId, i) => ({ userId, role: i === 0 ? 'owner' : 'member' })),
    });
    return id;
  }

  const send = (conversationId: string, actorId: string, clientMsgId = `c-${randomUUID()}`): Mutation => ({
    kind: 'message.create',
    conversationId,
    actorId,
    at: Date.now(),
    message: { id: randomUUID(), clientMsgId, body: `from ${actorId.slice(0, 4)}`, replyToSeq: null, attachments: [] },
  });

  it('migrations started at once by three nodes apply each step exactly once', async () => {
    expect(migrated.map((r) => r.version)).toEqual([migrations.length, migrations.length, migrations.length]);
    expect(migrated.reduce((sum, r) => sum + r.applied, 0)).toBe(migrations.length);
    const sql = postgres(db.url, { max: 1 });
    try {
      const rows = await sql<{ version: number }[]>`SELECT version FROM parley_migrations ORDER BY version`;
      expect(rows.map((r) => r.version)).toEqual(range(migrations.length));
    } finally {
      await sql.end();
    }
    expect(await c.migrate()).toEqual({ applied: 0, version: migrations.length });
  });

  it('seqs are gap-free and unique across two nodes writing into the same conversations', async () => {
    const users = await newUsers(4);
    const ids = users.map((u) => u.id);
    const x = await newGroup(ids);
    const y = await newGroup(ids);
    // Each node sends 30 batches at once; half of them touch x then y, the other half y then x,
    // so the two nodes lock the same rows in opposite batch order (the lock order is by id).
    const batches: Promise<MutationResult[]>[] = [];
    for (let i = 0; i < 30; i++) {
      for (const [n, node] of [a, b].entries()) {
        const first = (i + n) % 2 ? x : y;
        const second = first === x ? y : x;
        batches.push(
          node.applyBatch([
            send(first, ids[i % 4]!),
            send(second, ids[(i + 1) % 4]!),
            send(first, ids[(i + 2) % 4]!),
            send(second, ids[(i + 3) % 4]!),
          ]),
        );
      }
    }
    const events = (await Promise.all(batches)).flat().map((r) => ok(r).event!);
    for (const conv of [x, y]) {
      const seqs = events.filter((e) => e.conversationId === conv).map((e) => e.seq);
      expect([...seqs].sort((p, q) => p - q)).toEqual(range(120));
      expect((await a.getConversation(conv))!.lastSeq).toBe(120);
      expect((await b.readEvents(conv, 0, 1000)).map((e) => e.seq)).toEqual(range(120));
      expect(await a.readMessages(conv, null, 200)).toHaveLength(120);
    }
  });

  it('the same clientMsgId sent through both nodes at once creates exactly one message', async () => {
    const users = await newUsers(2);
    const [u, v] = users.map((x) => x.id) as [string, string];
    const conv = await newGroup([u, v]);
    const keys = Array.from({ length: 40 }, (_, i) => `retry-${i}`);
    const racing = keys.map((k, i) =>
      Promise.all([
        a.applyBatch([send(conv, u, k), send(conv, v)]),
        // Node b also repeats the key within its own batch.
        b.applyBatch(i % 2 ? [send(conv, u, k)] : [send(conv, v), send(conv, u, k), send(conv, u, k)]),
      ]),
    );
    const settled = await Promise.all(racing);
    for (const [k, [fromA, fromB]] of keys.map((k, i) => [k, settled[i]!] as const)) {
      const results = [...fromA, ...fromB].map(ok).filter((r) => r.message!.clientMsgId === k && r.message!.senderId === u);
      const created = results.filter((r) => !r.duplicate);
      expect(created).toHaveLength(1);
      expect(created[0]!.event).not.toBeNull();
      for (const r of results.filter((r) => r.duplicate)) {
        expect(r.event).toBeNull();
        expect(r.message).toEqual(created[0]!.message);
      }
    }
    // 40 keyed messages from u, and v's 40 + 20 unkeyed ones: every event is one message.
    const messages = await a.readMessages(conv, null, 200);
    expect(messages.filter((m) => m.senderId === u)).toHaveLength(40);
    expect(messages).toHaveLength(100);
    expect((await b.readEvents(conv, 0, 1000)).map((e) => e.seq)).toEqual(range(100));
    expect((await b.getConversation(conv))!.lastSeq).toBe(100);
  });

  it('rare mutations racing on two nodes stay ordered and apply once', async () => {
    const users = await newUsers(3);
    const [u, v, w] = users.map((x) => x.id) as [string, string, string];
    const conv = await newGroup([u, v]);
    const first = ok((await a.applyBatch([send(conv, u)]))[0]).message!;
    const results = await Promise.all([
      a.applyBatch([
        { kind: 'member.join', conversationId: conv, actorId: u, at: Date.now(), userId: w, role: 'member' },
        { kind: 'reaction', conversationId: conv, actorId: v, at: Date.now(), seq: first.seq, emoji: '👍', on: true },
        send(conv, v),
      ]),
      b.applyBatch([
        send(conv, u),
        { kind: 'member.join', conversationId: conv, actorId: v, at: Date.now(), userId: w, role: 'member' },
        { kind: 'reaction', conversationId: conv, actorId: v, at: Date.now(), seq: first.seq, emoji: '👍', on: true },
        send(conv, w),
      ]),
    ]);
    const all = results.flat().map(ok);
    // One join and one reaction won; the losers changed nothing.
    expect(all.filter((r) => r.event?.kind === 'member.joined')).toHaveLength(1);
    expect(all.filter((r) => r.event?.kind === 'reaction.added')).toHaveLength(1);
    const events = await c.readEvents(conv, 0, 100);
    expect(events.map((e) => e.seq)).toEqual(range(events.length));
    expect(events).toHaveLength(6); // first send, join, reaction, three sends
    expect((await c.getMessage(conv, first.seq))!.reactions).toEqual({ '👍': [v] });
  });
});

describe('PostgresStore: opening, and text PostgreSQL cannot store', () => {
  let db: TestDatabase;
  let store: PostgresStore;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('open without migrate refuses a database that needs migrating, and says so', async () => {
    await expect(PostgresStore.open({ url: db.url })).rejects.toThrow(/version 0, this build needs \d+: run `parley migrate`/);
    await (await PostgresStore.open({ url: db.url, migrate: true })).close();
    store = await PostgresStore.open({ url: db.url });
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('a NUL or a lone surrogate refuses that mutation only, not the batch', async () => {
    const u = { id: randomUUID(), username: `u${randomUUID().slice(0, 12)}`, displayName: 'x', passwordHash: 'x', createdAt: Date.now() };
    await store.createUser(u);
    const conv = randomUUID();
    await store.createConversation({
      id: conv,
      kind: 'group',
      title: 't',
      public: false,
      createdAt: Date.now(),
      directKey: null,
      members: [{ userId: u.id, role: 'owner' }],
    });
    const mk = (body: string, clientMsgId = `c-${randomUUID()}`): Mutation => ({
      kind: 'message.create',
      conversationId: conv,
      actorId: u.id,
      at: Date.now(),
      message: { id: randomUUID(), clientMsgId, body, replyToSeq: null, attachments: [] },
    });
    const results = await store.applyBatch([mk('fine'), mk('nul \u0000 inside'), mk('surrogate \ud800'), mk('x', 'k\u0000'), mk('also fine')]);
    expect(results.map((r) => (r.ok ? r.event!.seq : r.error.code))).toEqual([1, 'invalid_request', 'invalid_request', 'invalid_request', 2]);
    expect(await store.readMessages(conv, null, 10)).toHaveLength(2);
    // Reads and single writes answer invalid_request rather than failing with a driver error.
    await expect(store.getConversation('a\u0000b')).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(store.setDisplayName(u.id, 'nul\u0000')).rejects.toMatchObject({ code: 'invalid_request' });
  });
});
