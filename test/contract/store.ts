/**
 * The Store contract: what every adapter (SQLite now, PostgreSQL later) must do,
 * tested through the `Store` interface only. Tests share one store per adapter
 * but never depend on each other or on an empty database: each one makes its
 * own users and conversations with fresh ids.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError } from '../../src/errors.ts';
import type { ChatEvent, ConversationSummary, Message, Role } from '../../src/protocol/types.ts';
import type { Mutation, MutationResult, Store, UserRecord } from '../../src/store/store.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

type Ok = Extract<MutationResult, { ok: true }>;
type EventOf<K extends ChatEvent['kind']> = Extract<ChatEvent, { kind: K }>;

const rand = (n = 10): string => randomUUID().replaceAll('-', '').slice(0, n);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function expectOk(r: MutationResult | undefined): Ok {
  expect(r).toBeDefined();
  if (!r!.ok) throw new Error(`expected ok, got ${r!.error.code}: ${r!.error.message}`);
  return r!;
}

function expectNotFound(r: MutationResult | undefined): void {
  expect(r).toBeDefined();
  expect(r!.ok).toBe(false);
  if (r!.ok) return;
  expect(r!.error).toBeInstanceOf(ParleyError);
  expect(r!.error.code).toBe('not_found');
}

function expectEvent<K extends ChatEvent['kind']>(e: ChatEvent | null | undefined, kind: K): EventOf<K> {
  expect(e).toBeTruthy();
  expect(e!.kind).toBe(kind);
  return e as EventOf<K>;
}

const ofKind = <K extends ChatEvent['kind']>(events: ChatEvent[], kind: K): EventOf<K>[] =>
  events.filter((e): e is EventOf<K> => e.kind === kind);

const sortedIds = (xs: { id: string }[]) => xs.map((x) => x.id).sort();

export function runStoreContract(name: string, create: StoreFactory): void {
  describe(name, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ store, cleanup } = await create());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    // ---- helpers (all through the interface) ----

    async function newUser(fields: Partial<UserRecord> = {}): Promise<UserRecord> {
      const u: UserRecord = {
        id: randomUUID(),
        username: `u${rand(12)}`,
        displayName: `User ${rand(6)}`,
        passwordHash: `hash-${rand()}`,
        createdAt: Date.now(),
        ...fields,
      };
      await store.createUser(u);
      return u;
    }

    async function users(n: number): Promise<UserRecord[]> {
      return Promise.all(Array.from({ length: n }, () => newUser()));
    }

    /** A group owned by the first user; the others are members. */
    async function group(
      memberIds: string[],
      opts: { title?: string; createdAt?: number; roles?: Role[]; id?: string } = {},
    ): Promise<string> {
      const id = opts.id ?? randomUUID();
      const r = await store.createConversation({
        id,
        kind: 'group',
        title: opts.title ?? `Group ${rand(4)}`,
        public: false,
        createdAt: opts.createdAt ?? Date.now(),
        directKey: null,
        members: memberIds.map((userId, i) => ({ userId, role: opts.roles?.[i] ?? (i === 0 ? 'owner' : 'member') })),
      });
      expect(r).toEqual({ id, created: true });
      return id;
    }

    function createMsg(
      conversationId: string,
      actorId: string,
      body = `hello ${rand(6)}`,
      extra: { clientMsgId?: string; id?: string; replyToSeq?: number | null; attachments?: string[]; at?: number } = {},
    ): Mutation {
      return {
        kind: 'message.create',
        conversationId,
        actorId,
        at: extra.at ?? Date.now(),
        message: {
          id: extra.id ?? randomUUID(),
          clientMsgId: extra.clientMsgId ?? `c-${rand()}`,
          body,
          replyToSeq: extra.replyToSeq ?? null,
          attachments: extra.attachments ?? [],
        },
      };
    }

    async function one(m: Mutation): Promise<MutationResult> {
      const results = await store.applyBatch([m]);
      expect(results).toHaveLength(1);
      return results[0]!;
    }

    async function send(conversationId: string, actorId: string, body?: string): Promise<Message> {
      const r = expectOk(await one(createMsg(conversationId, actorId, body)));
      expect(r.message).toBeDefined();
      return r.message!;
    }

    async function lastSeq(conversationId: string): Promise<number> {
      const c = await store.getConversation(conversationId);
      expect(c).not.toBeNull();
      return c!.lastSeq;
    }

    async function allEvents(conversationId: string): Promise<ChatEvent[]> {
      return store.readEvents(conversationId, 0, 10_000);
    }

    // ---- users ----

    describe('users', () => {
      it('creates a user and reads it back by id and by username ignoring case', async () => {
        const u = await newUser({ username: `Mixed${rand(8)}Case`, displayName: 'Zoë Example' });
        expect(await store.getUser(u.id)).toEqual(u);
        expect(await store.getUserByUsername(u.username)).toEqual(u);
        expect(await store.getUserByUsername(u.username.toUpperCase())).toEqual(u);
        expect(await store.getUserByUsername(u.username.toLowerCase())).toEqual(u);
        expect(await store.getUser(randomUUID())).toBeNull();
        expect(await store.getUserByUsername(`nobody${rand()}`)).toBeNull();
      });

      it('refuses a taken username, ignoring case, with a conflict error', async () => {
        const u = await newUser({ username: `Taken${rand(8)}` });
        const attempt = store.createUser({
          id: randomUUID(),
          username: u.username.toUpperCase(),
          displayName: 'Other',
          passwordHash: 'x',
          createdAt: Date.now(),
        });
        await expect(attempt).rejects.toBeInstanceOf(ParleyError);
        await expect(attempt).rejects.toMatchObject({ code: 'conflict' });
        // The original is untouched and keeps the spelling it was created with.
        expect(await store.getUserByUsername(u.username.toLowerCase())).toEqual(u);
      });

      it('lets exactly one of two concurrent registrations of a username win', async () => {
        const name = `race${rand(10)}`;
        const mk = (username: string): UserRecord => ({
          id: randomUUID(),
          username,
          displayName: username,
          passwordHash: 'x',
          createdAt: Date.now(),
        });
        const results = await Promise.allSettled([store.createUser(mk(name)), store.createUser(mk(name.toUpperCase()))]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const rejected = results.find((r) => r.status === 'rejected');
        expect(rejected?.status === 'rejected' && rejected.reason).toMatchObject({ code: 'conflict' });
      });

      it('searches by username or display name prefix, ignoring case, with a limit', async () => {
        const tag = `s${rand(9)}`;
        const byName = await newUser({ username: `${tag}Alice`, displayName: 'Alice' });
        const byDisplay = await newUser({ username: `z${rand(10)}`, displayName: `${tag.toUpperCase()} Bobby` });
        const inside = await newUser({ username: `q${rand(10)}`, displayName: `Mr ${tag}` });

        const found = await store.searchUsers(tag.toUpperCase(), 10);
        expect(sortedIds(found)).toEqual(sortedIds([byName, byDisplay]));
        expect(found.map((u) => u.id)).not.toContain(inside.id);
        // Whole records come back.
        expect(found.find((u) => u.id === byName.id)).toEqual(byName);

        expect(sortedIds(await store.searchUsers(tag, 10))).toEqual(sortedIds([byName, byDisplay]));
        expect((await store.searchUsers(`${tag}ALI`, 10)).map((u) => u.id)).toEqual([byName.id]);
        expect((await store.searchUsers(`${tag} bob`, 10)).map((u) => u.id)).toEqual([byDisplay.id]);

        const limited = await store.searchUsers(tag, 1);
        expect(limited).toHaveLength(1);
        expect([byName.id, byDisplay.id]).toContain(limited[0]!.id);

        expect(await store.searchUsers(`${tag}nomatch`, 10)).toEqual([]);
      });

      it('searches non-ASCII display names ignoring case', async () => {
        const tag = rand(8);
        const u = await newUser({ displayName: `Émile${tag}` });
        expect((await store.searchUsers(`émile${tag}`, 5)).map((x) => x.id)).toEqual([u.id]);
        expect((await store.searchUsers(`ÉMILE${tag}`, 5)).map((x) => x.id)).toEqual([u.id]);
      });

      it('a user matching on both username and display name is returned once', async () => {
        const tag = `d${rand(9)}`;
        const u = await newUser({ username: `${tag}x`, displayName: `${tag} X` });
        expect((await store.searchUsers(tag, 10)).map((x) => x.id)).toEqual([u.id]);
      });

      it('setDisplayName changes the display name and what search finds', async () => {
        const tag = rand(8);
        const u = await newUser({ displayName: `Old${tag}` });
        await store.setDisplayName(u.id, `New${tag}`);
        expect(await store.getUser(u.id)).toEqual({ ...u, displayName: `New${tag}` });
        expect((await store.searchUsers(`new${tag}`, 5)).map((x) => x.id)).toEqual([u.id]);
        expect(await store.searchUsers(`old${tag}`, 5)).toEqual([]);
      });

      it('blocks are seen either way, are idempotent, and can be lifted', async () => {
        const [a, b, c] = await users(3);
        expect(await store.isBlockedEitherWay(a!.id, b!.id)).toBe(false);

        await store.setBlocked(a!.id, b!.id, true);
        await store.setBlocked(a!.id, b!.id, true);
        expect(await store.isBlockedEitherWay(a!.id, b!.id)).toBe(true);
        expect(await store.isBlockedEitherWay(b!.id, a!.id)).toBe(true);
        expect(await store.isBlockedEitherWay(a!.id, c!.id)).toBe(false);
        expect(await store.isBlockedEitherWay(c!.id, b!.id)).toBe(false);

        // Both block; lifting one side leaves the other.
        await store.setBlocked(b!.id, a!.id, true);
        await store.setBlocked(a!.id, b!.id, false);
        expect(await store.isBlockedEitherWay(a!.id, b!.id)).toBe(true);
        await store.setBlocked(b!.id, a!.id, false);
        expect(await store.isBlockedEitherWay(a!.id, b!.id)).toBe(false);
        expect(await store.isBlockedEitherWay(b!.id, a!.id)).toBe(false);

        // Unblocking what was never blocked is harmless.
        await store.setBlocked(c!.id, a!.id, false);
        expect(await store.isBlockedEitherWay(a!.id, c!.id)).toBe(false);
      });

      it('lastSeen round-trips and omits users never seen', async () => {
        const [a, b, c] = await users(3);
        await store.setLastSeen(a!.id, 1_700_000_000_123);
        await store.setLastSeen(b!.id, 1_700_000_000_456);
        await store.setLastSeen(b!.id, 1_700_000_000_789);
        const seen = await store.getLastSeen([a!.id, b!.id, c!.id, randomUUID()]);
        expect(seen).toBeInstanceOf(Map);
        expect([...seen.entries()].sort()).toEqual(
          [
            [a!.id, 1_700_000_000_123],
            [b!.id, 1_700_000_000_789],
          ].sort(),
        );
        expect((await store.getLastSeen([])).size).toBe(0);
      });
    });

    // ---- refresh tokens ----

    describe('refresh tokens', () => {
      const DAY = 86_400_000;

      async function login(userId: string, expiresAt = Date.now() + 30 * DAY) {
        const t = { tokenHash: `t-${randomUUID()}`, loginId: randomUUID(), userId, expiresAt };
        await store.createRefreshToken(t);
        return t;
      }

      it('rotates a token: the new one works and carries the same login', async () => {
        const u = await newUser();
        const t = await login(u.id);
        const next = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect(await store.rotateRefreshToken(t.tokenHash, next, Date.now())).toEqual({
          ok: true,
          userId: u.id,
          loginId: t.loginId,
        });
        const third = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect(await store.rotateRefreshToken(next.tokenHash, third, Date.now())).toEqual({
          ok: true,
          userId: u.id,
          loginId: t.loginId,
        });
      });

      it('presenting a rotated token is reuse and revokes the whole login', async () => {
        const u = await newUser();
        const t = await login(u.id);
        const other = await login(u.id); // another sign-in of the same user
        const next = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect((await store.rotateRefreshToken(t.tokenHash, next, Date.now())).ok).toBe(true);

        const replay = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect(await store.rotateRefreshToken(t.tokenHash, replay, Date.now())).toEqual({ ok: false, reason: 'reused' });
        // The token that replaced it is dead too, and the replay stored nothing.
        const later = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect(await store.rotateRefreshToken(next.tokenHash, later, Date.now())).toEqual({ ok: false, reason: 'revoked' });
        expect(await store.rotateRefreshToken(replay.tokenHash, later, Date.now())).toEqual({ ok: false, reason: 'unknown' });

        // Other logins of the same user are untouched.
        const otherNext = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY };
        expect(await store.rotateRefreshToken(other.tokenHash, otherNext, Date.now())).toEqual({
          ok: true,
          userId: u.id,
          loginId: other.loginId,
        });
      });

      it('two concurrent rotations of one token: exactly one succeeds', async () => {
        const u = await newUser();
        const t = await login(u.id);
        const mk = () => ({ tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + 30 * DAY });
        const results = await Promise.all([
          store.rotateRefreshToken(t.tokenHash, mk(), Date.now()),
          store.rotateRefreshToken(t.tokenHash, mk(), Date.now()),
        ]);
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      });

      it('reports unknown tokens', async () => {
        const next = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + DAY };
        expect(await store.rotateRefreshToken(`t-${randomUUID()}`, next, Date.now())).toEqual({
          ok: false,
          reason: 'unknown',
        });
        // Nothing was stored under the would-be successor either.
        expect(await store.rotateRefreshToken(next.tokenHash, { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + DAY }, Date.now())).toEqual({
          ok: false,
          reason: 'unknown',
        });
      });

      it('reports expired tokens and stores no successor', async () => {
        const u = await newUser();
        const now = Date.now();
        const t = await login(u.id, now - 1000);
        const next = { tokenHash: `t-${randomUUID()}`, expiresAt: now + DAY };
        expect(await store.rotateRefreshToken(t.tokenHash, next, now)).toEqual({ ok: false, reason: 'expired' });
        expect(await store.rotateRefreshToken(next.tokenHash, { tokenHash: `t-${randomUUID()}`, expiresAt: now + DAY }, now)).toEqual({
          ok: false,
          reason: 'unknown',
        });
        // Expiry is judged against `now` as given: the same token is fine earlier.
        const fresh = await login(u.id, now + 1000);
        expect(await store.rotateRefreshToken(fresh.tokenHash, { tokenHash: `t-${randomUUID()}`, expiresAt: now + DAY }, now)).toMatchObject({
          ok: true,
        });
      });

      it('revokeLoginOf revokes every token of that login only, and ignores unknown tokens', async () => {
        const u = await newUser();
        const t = await login(u.id);
        const other = await login(u.id);
        const next = { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + DAY };
        expect((await store.rotateRefreshToken(t.tokenHash, next, Date.now())).ok).toBe(true);

        // Revoke through the old (rotated) token: the current one dies with it.
        await store.revokeLoginOf(t.tokenHash);
        expect(await store.rotateRefreshToken(next.tokenHash, { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + DAY }, Date.now())).toEqual({
          ok: false,
          reason: 'revoked',
        });
        expect(await store.rotateRefreshToken(other.tokenHash, { tokenHash: `t-${randomUUID()}`, expiresAt: Date.now() + DAY }, Date.now())).toMatchObject({
          ok: true,
        });

        await expect(store.revokeLoginOf(`t-${randomUUID()}`)).resolves.toBeUndefined();
      });
    });

    // ---- conversations ----

    describe('conversations', () => {
      it('creates a group with its members and lastSeq 0, with no events', async () => {
        const [a, b, c] = await users(3);
        const createdAt = Date.now() - 5000;
        const id = await group([a!.id, b!.id, c!.id], { title: 'Planning', createdAt, roles: ['owner', 'admin', 'member'] });

        const conv = await store.getConversation(id);
        expect(conv).toMatchObject({ id, kind: 'group', title: 'Planning', public: false, lastSeq: 0, createdAt });
        expect(conv!.updatedAt).toBeGreaterThanOrEqual(createdAt);

        expect(await store.getMember(id, b!.id)).toEqual({ userId: b!.id, role: 'admin', lastReadSeq: 0, joinedAt: createdAt });
        expect(await store.getMember(id, randomUUID())).toBeNull();
        expect(await store.getMember(randomUUID(), a!.id)).toBeNull();

        expect(await store.getMembership(id, b!.id)).toEqual({
          conversation: conv,
          member: { userId: b!.id, role: 'admin', lastReadSeq: 0, joinedAt: createdAt },
        });
        expect(await store.getMembership(id, randomUUID())).toBeNull();
        expect(await store.getMembership(randomUUID(), a!.id)).toBeNull();

        const members = await store.listMembers(id);
        expect([...members].sort((x, y) => x.userId.localeCompare(y.userId))).toEqual(
          [
            { userId: a!.id, role: 'owner', lastReadSeq: 0, joinedAt: createdAt },
            { userId: b!.id, role: 'admin', lastReadSeq: 0, joinedAt: createdAt },
            { userId: c!.id, role: 'member', lastReadSeq: 0, joinedAt: createdAt },
          ].sort((x, y) => x.userId.localeCompare(y.userId)),
        );
        expect(await allEvents(id)).toEqual([]);
        expect(await store.getConversation(randomUUID())).toBeNull();
        expect(await store.listMembers(randomUUID())).toEqual([]);
      });

      it('creates a public channel', async () => {
        const [a] = await users(1);
        const id = randomUUID();
        expect(
          await store.createConversation({
            id,
            kind: 'channel',
            title: 'general',
            public: true,
            createdAt: Date.now(),
            directKey: null,
            members: [{ userId: a!.id, role: 'owner' }],
          }),
        ).toEqual({ id, created: true });
        expect(await store.getConversation(id)).toMatchObject({ kind: 'channel', title: 'general', public: true, lastSeq: 0 });
      });

      it('a direct conversation is unique per pair: a second create returns the first', async () => {
        const [a, b] = await users(2);
        const directKey = [a!.id, b!.id].sort().join(':');
        const mk = (id: string) => ({
          id,
          kind: 'direct' as const,
          title: null,
          public: false,
          createdAt: Date.now(),
          directKey,
          members: [
            { userId: a!.id, role: 'member' as const },
            { userId: b!.id, role: 'member' as const },
          ],
        });
        const first = randomUUID();
        expect(await store.createConversation(mk(first))).toEqual({ id: first, created: true });
        const second = randomUUID();
        expect(await store.createConversation(mk(second))).toEqual({ id: first, created: false });
        expect(await store.getConversation(second)).toBeNull();
        expect(await store.getConversation(first)).toMatchObject({ kind: 'direct', title: null, lastSeq: 0 });
        expect((await store.listMembers(first)).map((m) => m.userId).sort()).toEqual([a!.id, b!.id].sort());
      });

      it('concurrent creates of the same direct pair agree on one conversation', async () => {
        const [a, b] = await users(2);
        const directKey = [a!.id, b!.id].sort().join(':');
        const mk = () => ({
          id: randomUUID(),
          kind: 'direct' as const,
          title: null,
          public: false,
          createdAt: Date.now(),
          directKey,
          members: [
            { userId: a!.id, role: 'member' as const },
            { userId: b!.id, role: 'member' as const },
          ],
        });
        const results = await Promise.all([store.createConversation(mk()), store.createConversation(mk())]);
        expect(results[0]!.id).toBe(results[1]!.id);
        expect(results.filter((r) => r.created)).toHaveLength(1);
      });

      it('getSummary is null for a non-member or an unknown conversation', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id]);
        expect(await store.getSummary(id, b!.id)).toBeNull();
        expect(await store.getSummary(randomUUID(), a!.id)).toBeNull();
        expect(await store.getSummary(id, a!.id)).toMatchObject({
          id,
          kind: 'group',
          public: false,
          lastSeq: 0,
          lastReadSeq: 0,
          unreadCount: 0,
          lastMessage: null,
        });
      });
    });

    // ---- applyBatch: seqs ----

    describe('applyBatch sequencing', () => {
      it('assigns seqs 1..N without gaps across several batches', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const r1 = await store.applyBatch([createMsg(id, a!.id), createMsg(id, b!.id), createMsg(id, a!.id)]);
        expect(r1.map((r) => expectOk(r).event!.seq)).toEqual([1, 2, 3]);
        expect(r1.map((r) => expectOk(r).message!.seq)).toEqual([1, 2, 3]);
        expect(await lastSeq(id)).toBe(3);
        const r2 = await store.applyBatch([createMsg(id, b!.id), createMsg(id, b!.id)]);
        expect(r2.map((r) => expectOk(r).event!.seq)).toEqual([4, 5]);
        const r3 = await one(createMsg(id, a!.id));
        expect(expectOk(r3).event!.seq).toBe(6);
        expect(await lastSeq(id)).toBe(6);
        expect((await allEvents(id)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      });

      it('numbers two conversations interleaved in one batch independently', async () => {
        const [a] = await users(1);
        const x = await group([a!.id]);
        const y = await group([a!.id]);
        const results = await store.applyBatch([
          createMsg(x, a!.id),
          createMsg(y, a!.id),
          createMsg(x, a!.id),
          { kind: 'conversation.update', conversationId: y, actorId: a!.id, at: Date.now(), title: 'renamed' },
          createMsg(x, a!.id),
          createMsg(y, a!.id),
        ]);
        const seqs = results.map((r) => {
          const e = expectOk(r).event!;
          return [e.conversationId === x ? 'x' : 'y', e.seq];
        });
        expect(seqs).toEqual([
          ['x', 1],
          ['y', 1],
          ['x', 2],
          ['y', 2],
          ['x', 3],
          ['y', 3],
        ]);
        expect(await lastSeq(x)).toBe(3);
        expect(await lastSeq(y)).toBe(3);
        expect((await allEvents(x)).map((e) => e.seq)).toEqual([1, 2, 3]);
        expect((await allEvents(y)).map((e) => [e.seq, e.kind])).toEqual([
          [1, 'message.created'],
          [2, 'conversation.updated'],
          [3, 'message.created'],
        ]);
      });

      it('keeps seqs gap-free under concurrent batches', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.applyBatch([createMsg(id, i % 2 ? a!.id : b!.id), createMsg(id, i % 2 ? b!.id : a!.id)]),
          ),
        );
        const seqs = results.flat().map((r) => expectOk(r).event!.seq);
        expect([...seqs].sort((p, q) => p - q)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(await lastSeq(id)).toBe(40);
        expect((await allEvents(id)).map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      });

      it('a refused mutation consumes no seq and the rest of the batch still applies', async () => {
        const [a, outsider] = await users(2);
        const id = await group([a!.id]);
        const refusedClientId = `c-${rand()}`;
        const results = await store.applyBatch([
          createMsg(id, a!.id),
          createMsg(id, outsider!.id, 'not allowed', { clientMsgId: refusedClientId }),
          createMsg(id, a!.id),
        ]);
        expect(expectOk(results[0]).event!.seq).toBe(1);
        expectNotFound(results[1]);
        expect(expectOk(results[2]).event!.seq).toBe(2);
        expect(await lastSeq(id)).toBe(2);
        const events = await allEvents(id);
        expect(events.map((e) => e.seq)).toEqual([1, 2]);
        expect(JSON.stringify(events)).not.toContain('not allowed');
        expect((await store.readMessages(id, null, 10)).map((m) => m.senderId)).toEqual([a!.id, a!.id]);
      });

      it('message.create by a non-member, or into an unknown conversation, is not_found', async () => {
        const [a, outsider] = await users(2);
        const id = await group([a!.id]);
        expectNotFound(await one(createMsg(id, outsider!.id)));
        expectNotFound(await one(createMsg(randomUUID(), a!.id)));
        expect(await lastSeq(id)).toBe(0);
        expect(await allEvents(id)).toEqual([]);
        expect(await store.readMessages(id, null, 10)).toEqual([]);
      });

      it('a batch that cannot commit keeps nothing (two messages with one id)', async () => {
        // Message ids are unique identifiers. A store may refuse the second one
        // as a failed mutation (ok: false) or fail the whole batch (reject);
        // either way two messages never share an id, and a rejected batch
        // leaves no trace at all.
        const [a] = await users(1);
        const id = await group([a!.id]);
        await send(id, a!.id, 'before');
        const messageId = randomUUID();
        const firstClient = `c-${rand()}`;
        let results: MutationResult[] | null = null;
        let failure: unknown = null;
        try {
          results = await store.applyBatch([
            createMsg(id, a!.id, 'first', { id: messageId, clientMsgId: firstClient }),
            createMsg(id, a!.id, 'second', { id: messageId }),
          ]);
        } catch (err) {
          failure = err;
        }
        const messages = await store.readMessages(id, null, 10);
        if (failure !== null) {
          expect(await lastSeq(id)).toBe(1);
          expect((await allEvents(id)).map((e) => e.seq)).toEqual([1]);
          expect(messages.map((m) => m.body)).toEqual(['before']);
        } else {
          expect(expectOk(results![0]).message!.id).toBe(messageId);
          expect(results![1]!.ok).toBe(false);
          expect(await lastSeq(id)).toBe(2);
          expect(messages.filter((m) => m.id === messageId)).toHaveLength(1);
        }
      });
    });

    // ---- messages ----

    describe('messages', () => {
      it('message.create returns the message and a message.created event carrying it', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        await send(id, a!.id, 'first');
        // Stored exactly as given: combining characters and emoji are not normalized.
        const body = 'cafe\u0301 👩🏽‍💻 "quotes" \\ <tag>';
        const at = Date.now() - 1234;
        const messageId = randomUUID();
        const r = expectOk(
          await one(createMsg(id, b!.id, body, { id: messageId, clientMsgId: 'client-1', replyToSeq: 1, attachments: ['f1', 'f2'], at })),
        );
        const expected: Message = {
          id: messageId,
          conversationId: id,
          seq: 2,
          senderId: b!.id,
          clientMsgId: 'client-1',
          body,
          replyToSeq: 1,
          attachments: ['f1', 'f2'],
          reactions: {},
          createdAt: at,
          editedAt: null,
          deleted: false,
        };
        expect(r.message).toEqual(expected);
        expect(r.duplicate ?? false).toBe(false);
        expect(r.event).toEqual({ conversationId: id, seq: 2, kind: 'message.created', actorId: b!.id, at, data: expected });
        expect(await store.getMessage(id, 2)).toEqual(expected);
        expect(await store.getMessage(id, 99)).toBeNull();
        expect(await store.getMessage(randomUUID(), 1)).toBeNull();
        expect((await store.readEvents(id, 1, 10))[0]).toEqual(r.event);
      });

      it('a repeated clientMsgId in later batches returns the original with duplicate and no event', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const original = expectOk(await one(createMsg(id, a!.id, 'original', { clientMsgId: 'same' })));
        const again = expectOk(await one(createMsg(id, a!.id, 'a different body', { clientMsgId: 'same' })));
        expect(again.duplicate).toBe(true);
        expect(again.event).toBeNull();
        expect(again.message).toEqual(original.message);
        expect(await lastSeq(id)).toBe(1);
        expect(await allEvents(id)).toHaveLength(1);
        expect(await store.readMessages(id, null, 10)).toHaveLength(1);
      });

      it('a repeated clientMsgId within one batch returns the first message with duplicate', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const results = await store.applyBatch([
          createMsg(id, a!.id, 'one', { clientMsgId: 'dup' }),
          createMsg(id, a!.id, 'two', { clientMsgId: 'dup' }),
          createMsg(id, a!.id, 'three'),
        ]);
        const first = expectOk(results[0]);
        const second = expectOk(results[1]);
        expect(first.duplicate ?? false).toBe(false);
        expect(second.duplicate).toBe(true);
        expect(second.event).toBeNull();
        expect(second.message).toEqual(first.message);
        expect(expectOk(results[2]).event!.seq).toBe(2);
        expect(await lastSeq(id)).toBe(2);
        expect((await store.readMessages(id, null, 10)).map((m) => m.body)).toEqual(['three', 'one']);
      });

      it('clientMsgId is unique per sender and conversation, not globally', async () => {
        const [a, b] = await users(2);
        const x = await group([a!.id, b!.id]);
        const y = await group([a!.id]);
        const r = await store.applyBatch([
          createMsg(x, a!.id, 'a in x', { clientMsgId: 'k' }),
          createMsg(x, b!.id, 'b in x', { clientMsgId: 'k' }),
          createMsg(y, a!.id, 'a in y', { clientMsgId: 'k' }),
        ]);
        for (const res of r) {
          const ok = expectOk(res);
          expect(ok.duplicate ?? false).toBe(false);
          expect(ok.event).not.toBeNull();
        }
        expect(await lastSeq(x)).toBe(2);
        expect(await lastSeq(y)).toBe(1);
      });

      it('edits a message: event {seq, body, editedAt}, message updated', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const m = await send(id, a!.id, 'tpyo');
        const at = Date.now() + 5;
        const r = expectOk(await one({ kind: 'message.edit', conversationId: id, actorId: a!.id, at, seq: m.seq, body: 'typo' }));
        const e = expectEvent(r.event, 'message.edited');
        expect(e).toEqual({
          conversationId: id,
          seq: 2,
          kind: 'message.edited',
          actorId: a!.id,
          at,
          data: { seq: m.seq, body: 'typo', editedAt: at },
        });
        expect(await store.getMessage(id, m.seq)).toEqual({ ...m, body: 'typo', editedAt: at });
        expect(await lastSeq(id)).toBe(2);
        expect((await store.readEvents(id, 1, 10))).toEqual([e]);
      });

      it('edit of a missing message, or of a seq that is not a message, is not_found and consumes no seq', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id]);
        const join = expectOk(await one({ kind: 'member.join', conversationId: id, actorId: a!.id, at: Date.now(), userId: b!.id, role: 'member' }));
        expect(join.event!.seq).toBe(1);
        expectNotFound(await one({ kind: 'message.edit', conversationId: id, actorId: a!.id, at: Date.now(), seq: 1, body: 'x' }));
        expectNotFound(await one({ kind: 'message.edit', conversationId: id, actorId: a!.id, at: Date.now(), seq: 42, body: 'x' }));
        expect(await lastSeq(id)).toBe(1);
      });

      it('deletes a message and erases its text everywhere, the event log included', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const secret = `secret-${rand()}`;
        const edited = `edited-secret-${rand()}`;
        const m = await send(id, a!.id, secret);
        expectOk(await one({ kind: 'message.edit', conversationId: id, actorId: a!.id, at: Date.now(), seq: m.seq, body: edited }));
        await send(id, b!.id, 'unrelated');

        const at = Date.now();
        const r = expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: b!.id, at, seq: m.seq }));
        expect(r.event).toEqual({ conversationId: id, seq: 4, kind: 'message.deleted', actorId: b!.id, at, data: { seq: m.seq } });

        const stored = await store.getMessage(id, m.seq);
        expect(stored).toMatchObject({ id: m.id, seq: m.seq, senderId: a!.id, deleted: true, body: '' });

        const events = await allEvents(id);
        expect(events.map((e) => e.kind)).toEqual(['message.created', 'message.edited', 'message.created', 'message.deleted']);
        const created = ofKind(events, 'message.created').find((e) => e.data.seq === m.seq)!;
        expect(created.data.body).toBe('');
        for (const e of ofKind(events, 'message.edited')) expect(e.data.body).toBe('');
        expect(ofKind(events, 'message.created').find((e) => e.data.seq === 3)!.data.body).toBe('unrelated');

        const everything = JSON.stringify([
          events,
          await store.readMessages(id, null, 50),
          await store.getSummary(id, a!.id),
          await store.listSummaries(b!.id, 50, null),
        ]);
        expect(everything).not.toContain(secret);
        expect(everything).not.toContain(edited);
      });

      it('deleting twice is ok with no event; edit or react on a deleted message is not_found', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const m = await send(id, a!.id);
        expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: a!.id, at: Date.now(), seq: m.seq }));
        const again = expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: a!.id, at: Date.now(), seq: m.seq }));
        expect(again.event).toBeNull();
        expectNotFound(await one({ kind: 'message.edit', conversationId: id, actorId: a!.id, at: Date.now(), seq: m.seq, body: 'back' }));
        expectNotFound(await one({ kind: 'reaction', conversationId: id, actorId: a!.id, at: Date.now(), seq: m.seq, emoji: '👍', on: true }));
        expectNotFound(await one({ kind: 'message.delete', conversationId: id, actorId: a!.id, at: Date.now(), seq: 77 }));
        expect(await lastSeq(id)).toBe(2);
        expect(await store.getMessage(id, m.seq)).toMatchObject({ deleted: true, body: '' });
      });

      it('a retried send of a deleted message returns it deleted and does not bring it back', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const r = expectOk(await one(createMsg(id, a!.id, 'gone soon', { clientMsgId: 'retry' })));
        expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: a!.id, at: Date.now(), seq: r.message!.seq }));
        const retry = expectOk(await one(createMsg(id, a!.id, 'gone soon', { clientMsgId: 'retry' })));
        expect(retry.duplicate).toBe(true);
        expect(retry.event).toBeNull();
        expect(retry.message).toMatchObject({ id: r.message!.id, seq: 1, deleted: true, body: '' });
        expect(await lastSeq(id)).toBe(2);
      });

      it('reactions: added and removed with events, no event when nothing changes, visible on messages', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const m = await send(id, a!.id);
        const react = (actorId: string, emoji: string, on: boolean) =>
          one({ kind: 'reaction', conversationId: id, actorId, at: Date.now(), seq: m.seq, emoji, on });

        const added = expectOk(await react(b!.id, '👍', true));
        const e = expectEvent(added.event, 'reaction.added');
        expect(e).toMatchObject({ conversationId: id, seq: 2, actorId: b!.id, data: { seq: m.seq, emoji: '👍', userId: b!.id } });
        expect(expectOk(await react(b!.id, '👍', true)).event).toBeNull();
        expect(expectEvent(expectOk(await react(a!.id, '👍', true)).event, 'reaction.added').seq).toBe(3);
        expect(expectEvent(expectOk(await react(a!.id, '🎉', true)).event, 'reaction.added').seq).toBe(4);
        expect(await lastSeq(id)).toBe(4);

        const sortReactions = (r: Record<string, string[]>) =>
          Object.fromEntries(Object.entries(r).map(([k, v]) => [k, [...v].sort()]));
        const got = await store.getMessage(id, m.seq);
        expect(sortReactions(got!.reactions)).toEqual({ '👍': [a!.id, b!.id].sort(), '🎉': [a!.id] });
        const listed = await store.readMessages(id, null, 10);
        expect(sortReactions(listed[0]!.reactions)).toEqual({ '👍': [a!.id, b!.id].sort(), '🎉': [a!.id] });

        const removed = expectEvent(expectOk(await react(a!.id, '🎉', false)).event, 'reaction.removed');
        expect(removed).toMatchObject({ seq: 5, actorId: a!.id, data: { seq: m.seq, emoji: '🎉', userId: a!.id } });
        expect(expectOk(await react(a!.id, '🎉', false)).event).toBeNull();
        expect(expectOk(await react(b!.id, '❤️', false)).event).toBeNull();
        expect(await lastSeq(id)).toBe(5);

        expect(sortReactions((await store.getMessage(id, m.seq))!.reactions)).toEqual({ '👍': [a!.id, b!.id].sort() });
        expectOk(await react(a!.id, '👍', false));
        expectOk(await react(b!.id, '👍', false));
        expect((await store.getMessage(id, m.seq))!.reactions).toEqual({});
        expect((await store.readMessages(id, null, 10))[0]!.reactions).toEqual({});

        expectNotFound(await one({ kind: 'reaction', conversationId: id, actorId: a!.id, at: Date.now(), seq: 999, emoji: '👍', on: true }));
      });

      it('a duplicate send returns the original with its current reactions', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const r = expectOk(await one(createMsg(id, a!.id, 'hi', { clientMsgId: 'with-reactions' })));
        expectOk(await one({ kind: 'reaction', conversationId: id, actorId: b!.id, at: Date.now(), seq: r.message!.seq, emoji: '👀', on: true }));
        const dup = expectOk(await one(createMsg(id, a!.id, 'hi', { clientMsgId: 'with-reactions' })));
        expect(dup.duplicate).toBe(true);
        expect(dup.message).toMatchObject({ id: r.message!.id, seq: 1, reactions: { '👀': [b!.id] } });
      });
    });

    // ---- membership and conversation updates ----

    describe('membership', () => {
      it('member.join emits member.joined and the new member has read up to the join', async () => {
        const [a, b, c] = await users(3);
        const id = await group([a!.id, b!.id]);
        await send(id, a!.id);
        await send(id, b!.id);
        const at = Date.now();
        const r = expectOk(await one({ kind: 'member.join', conversationId: id, actorId: a!.id, at, userId: c!.id, role: 'member' }));
        expect(r.event).toEqual({
          conversationId: id,
          seq: 3,
          kind: 'member.joined',
          actorId: a!.id,
          at,
          data: { userId: c!.id, role: 'member' },
        });
        expect(await store.getMember(id, c!.id)).toEqual({ userId: c!.id, role: 'member', lastReadSeq: 3, joinedAt: at });
        expect((await store.listMembers(id)).map((m) => m.userId).sort()).toEqual([a!.id, b!.id, c!.id].sort());
        // History before the join is not unread for the newcomer.
        expect(await store.getSummary(id, c!.id)).toMatchObject({ lastSeq: 3, lastReadSeq: 3, unreadCount: 0 });
        // And the newcomer can now send.
        expect((await send(id, c!.id)).seq).toBe(4);
      });

      it('joining when already a member changes nothing', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const r = expectOk(await one({ kind: 'member.join', conversationId: id, actorId: b!.id, at: Date.now(), userId: b!.id, role: 'admin' }));
        expect(r.event).toBeNull();
        expect(await lastSeq(id)).toBe(0);
        expect(await store.getMember(id, b!.id)).toMatchObject({ role: 'member', lastReadSeq: 0 });
      });

      it('member.leave emits member.left with the role and removes the member', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id], { roles: ['owner', 'admin'] });
        await send(id, b!.id);
        const at = Date.now();
        const r = expectOk(await one({ kind: 'member.leave', conversationId: id, actorId: a!.id, at, userId: b!.id }));
        expect(r.event).toEqual({
          conversationId: id,
          seq: 2,
          kind: 'member.left',
          actorId: a!.id,
          at,
          data: { userId: b!.id, role: 'admin' },
        });
        expect(await store.getMember(id, b!.id)).toBeNull();
        expect(await store.getSummary(id, b!.id)).toBeNull();
        expect((await store.listSummaries(b!.id, 50, null)).map((s) => s.id)).not.toContain(id);
        expect((await store.listCursors(b!.id)).map((c) => c.id)).not.toContain(id);
        expect((await store.listMembers(id)).map((m) => m.userId)).toEqual([a!.id]);
        // A former member can no longer send.
        expectNotFound(await one(createMsg(id, b!.id)));
        // Leaving again is refused, and consumes no seq.
        expect((await one({ kind: 'member.leave', conversationId: id, actorId: b!.id, at, userId: b!.id })).ok).toBe(false);
        expect(await lastSeq(id)).toBe(2);
        // Their message stays.
        expect((await store.getMessage(id, 1))!.senderId).toBe(b!.id);
      });

      it('a member who leaves and rejoins gets a new join seq', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        expectOk(await one({ kind: 'member.leave', conversationId: id, actorId: b!.id, at: Date.now(), userId: b!.id }));
        await send(id, a!.id);
        const r = expectOk(await one({ kind: 'member.join', conversationId: id, actorId: b!.id, at: Date.now(), userId: b!.id, role: 'member' }));
        expect(r.event!.seq).toBe(3);
        expect(await store.getMember(id, b!.id)).toMatchObject({ role: 'member', lastReadSeq: 3 });
      });

      it('conversation.update changes the title and emits conversation.updated', async () => {
        const [a] = await users(1);
        const id = await group([a!.id], { title: 'Before' });
        const at = Date.now();
        const r = expectOk(await one({ kind: 'conversation.update', conversationId: id, actorId: a!.id, at, title: 'After' }));
        expect(r.event).toEqual({ conversationId: id, seq: 1, kind: 'conversation.updated', actorId: a!.id, at, data: { title: 'After' } });
        expect(await store.getConversation(id)).toMatchObject({ title: 'After', lastSeq: 1 });
        expect(await store.getSummary(id, a!.id)).toMatchObject({ title: 'After', lastSeq: 1 });
      });

      // With group commit, one caller's mutation on a conversation that does not
      // exist must not take the whole batch (other callers' writes) down with it.
      it('edits, deletes and reactions need the actor to be a member at commit, even one removed in the same batch', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        const sent = expectOk(await one(createMsg(id, b!.id)));
        const seq = sent.message!.seq;
        const at = Date.now();
        const results = await store.applyBatch([
          { kind: 'member.leave', conversationId: id, actorId: a!.id, at, userId: b!.id },
          { kind: 'message.edit', conversationId: id, actorId: b!.id, at, seq, body: 'too late' },
          { kind: 'reaction', conversationId: id, actorId: b!.id, at, seq, emoji: '👍', on: true },
          { kind: 'message.delete', conversationId: id, actorId: b!.id, at, seq },
        ]);
        expect(results[0]!.ok).toBe(true);
        for (const r of results.slice(1)) {
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.error.code).toBe('not_found');
        }
        expect(await store.getMessage(id, seq)).toMatchObject({ body: sent.message!.body, deleted: false, reactions: {} });
        expect((await store.getConversation(id))!.lastSeq).toBe(seq + 1);
      });

      it('member.join on an unknown conversation is refused without failing the batch', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id]);
        const unknown = randomUUID();
        const results = await store.applyBatch([
          createMsg(id, a!.id),
          { kind: 'member.join', conversationId: unknown, actorId: b!.id, at: Date.now(), userId: b!.id, role: 'member' },
          createMsg(id, a!.id),
        ]);
        expectOk(results[0]);
        expectNotFound(results[1]);
        expectOk(results[2]);
        expect(await lastSeq(id)).toBe(2);
        expect(await store.getConversation(unknown)).toBeNull();
        expect(await store.getMember(unknown, b!.id)).toBeNull();
      });

      it('conversation.update on an unknown conversation is refused without failing the batch', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        const unknown = randomUUID();
        const results = await store.applyBatch([
          createMsg(id, a!.id),
          { kind: 'conversation.update', conversationId: unknown, actorId: a!.id, at: Date.now(), title: 'ghost' },
          createMsg(id, a!.id),
        ]);
        expectOk(results[0]);
        expectNotFound(results[1]);
        expectOk(results[2]);
        expect(await lastSeq(id)).toBe(2);
        expect(await store.getConversation(unknown)).toBeNull();
      });
    });

    // ---- reading ----

    describe('reading events and messages', () => {
      it('readEvents returns events after afterSeq in order, at most limit, and pages', async () => {
        const [a] = await users(1);
        const id = await group([a!.id]);
        for (let i = 1; i <= 5; i++) await send(id, a!.id, `m${i}`);
        const all = await store.readEvents(id, 0, 100);
        expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(ofKind(all, 'message.created').map((e) => e.data.body)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
        for (const e of all) expect(e).toMatchObject({ conversationId: id, actorId: a!.id });

        expect((await store.readEvents(id, 0, 2)).map((e) => e.seq)).toEqual([1, 2]);
        expect((await store.readEvents(id, 2, 2)).map((e) => e.seq)).toEqual([3, 4]);
        expect((await store.readEvents(id, 4, 2)).map((e) => e.seq)).toEqual([5]);
        expect(await store.readEvents(id, 5, 2)).toEqual([]);
        expect(await store.readEvents(randomUUID(), 0, 10)).toEqual([]);

        // Paging to the end reproduces the whole log.
        const paged: ChatEvent[] = [];
        for (let after = 0; ; ) {
          const page = await store.readEvents(id, after, 2);
          if (page.length === 0) break;
          paged.push(...page);
          after = page[page.length - 1]!.seq;
        }
        expect(paged).toEqual(all);
      });

      it('readMessages returns messages only, newest first, before beforeSeq, at most limit', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        await send(id, a!.id, 'one'); // 1
        await send(id, b!.id, 'two'); // 2
        expectOk(await one({ kind: 'conversation.update', conversationId: id, actorId: a!.id, at: Date.now(), title: 't' })); // 3
        await send(id, a!.id, 'four'); // 4
        expectOk(await one({ kind: 'message.edit', conversationId: id, actorId: b!.id, at: Date.now(), seq: 2, body: 'TWO' })); // 5
        await send(id, b!.id, 'six'); // 6

        const all = await store.readMessages(id, null, 50);
        expect(all.map((m) => [m.seq, m.body])).toEqual([
          [6, 'six'],
          [4, 'four'],
          [2, 'TWO'],
          [1, 'one'],
        ]);
        expect((await store.readMessages(id, null, 2)).map((m) => m.seq)).toEqual([6, 4]);
        expect((await store.readMessages(id, 4, 2)).map((m) => m.seq)).toEqual([2, 1]);
        expect((await store.readMessages(id, 5, 50)).map((m) => m.seq)).toEqual([4, 2, 1]);
        expect(await store.readMessages(id, 1, 50)).toEqual([]);
        expect(await store.readMessages(randomUUID(), null, 50)).toEqual([]);
        // Messages as they stand now, the same as getMessage shows them.
        for (const m of all) expect(await store.getMessage(id, m.seq)).toEqual(m);
      });
    });

    // ---- summaries, cursors, read markers ----

    describe('summaries and read state', () => {
      it('unreadCount counts only others\u2019 live messages after lastReadSeq', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        await send(id, a!.id, 'a1'); // 1
        await send(id, b!.id, 'b1'); // 2
        await send(id, b!.id, 'b2'); // 3
        await send(id, a!.id, 'a2'); // 4
        await send(id, b!.id, 'b3'); // 5
        expect(await store.getSummary(id, a!.id)).toMatchObject({ lastSeq: 5, lastReadSeq: 0, unreadCount: 3 });
        expect(await store.getSummary(id, b!.id)).toMatchObject({ lastSeq: 5, lastReadSeq: 0, unreadCount: 2 });

        expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: b!.id, at: Date.now(), seq: 3 })); // 6
        expectOk(await one({ kind: 'conversation.update', conversationId: id, actorId: b!.id, at: Date.now(), title: 'x' })); // 7
        expectOk(await one({ kind: 'reaction', conversationId: id, actorId: b!.id, at: Date.now(), seq: 1, emoji: '👍', on: true })); // 8
        expect(await store.getSummary(id, a!.id)).toMatchObject({ lastSeq: 8, unreadCount: 2 });

        expect(await store.markRead(id, a!.id, 2)).toBe(2);
        expect(await store.getSummary(id, a!.id)).toMatchObject({ lastReadSeq: 2, unreadCount: 1 });
        expect(await store.markRead(id, a!.id, 5)).toBe(5);
        expect(await store.getSummary(id, a!.id)).toMatchObject({ lastReadSeq: 5, unreadCount: 0 });
        // b's count is independent of a's reading.
        expect(await store.getSummary(id, b!.id)).toMatchObject({ lastReadSeq: 0, unreadCount: 2 });
      });

      it('lastMessage is the newest live message', async () => {
        const [a, b] = await users(2);
        const id = await group([a!.id, b!.id]);
        expect((await store.getSummary(id, a!.id))!.lastMessage).toBeNull();
        await send(id, a!.id, 'first'); // 1
        const second = await send(id, b!.id, 'second'); // 2
        expect((await store.getSummary(id, a!.id))!.lastMessage).toEqual(second);

        expectOk(await one({ kind: 'conversation.update', conversationId: id, actorId: a!.id, at: Date.now(), title: 'x' })); // 3
        expect((await store.getSummary(id, a!.id))!.lastMessage).toEqual(second);

        expectOk(await one({ kind: 'message.edit', conversationId: id, actorId: b!.id, at: 1_000, seq: 2, body: 'second!' })); // 4
        expect((await store.getSummary(id, a!.id))!.lastMessage).toMatchObject({ seq: 2, body: 'second!', editedAt: 1_000 });

        expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: b!.id, at: Date.now(), seq: 2 })); // 5
        const s = await store.getSummary(id, b!.id);
        expect(s!.lastMessage).toMatchObject({ seq: 1, body: 'first', deleted: false });
        expect(s!.lastSeq).toBe(5);

        expectOk(await one({ kind: 'message.delete', conversationId: id, actorId: a!.id, at: Date.now(), seq: 1 }));
        expect((await store.getSummary(id, b!.id))!.lastMessage).toBeNull();
      });

      it('listSummaries shows the caller\u2019s conversations, most recently active first', async () => {
        const [u, other] = await users(2);
        const base = Date.now() - 60_000;
        const c1 = await group([u!.id, other!.id], { createdAt: base + 1, title: 'c1' });
        const c2 = await group([u!.id], { createdAt: base + 2, title: 'c2' });
        const c3 = await group([other!.id, u!.id], { createdAt: base + 3, title: 'c3' });
        const notMine = await group([other!.id], { createdAt: base + 4 });

        const ids = (xs: ConversationSummary[]) => xs.map((s) => s.id);
        expect(ids(await store.listSummaries(u!.id, 10, null))).toEqual([c3, c2, c1]);
        expect(ids(await store.listSummaries(other!.id, 10, null))).toEqual([notMine, c3, c1]);

        await send(c1, other!.id, 'wake c1');
        await sleep(5);
        await send(c2, u!.id, 'wake c2');

        const list = await store.listSummaries(u!.id, 10, null);
        expect(ids(list)).toEqual([c2, c1, c3]);
        for (let i = 1; i < list.length; i++) expect(list[i - 1]!.updatedAt).toBeGreaterThanOrEqual(list[i]!.updatedAt);
        expect(list[0]!.updatedAt).toBeGreaterThan(list[1]!.updatedAt);
        expect(list[1]!.updatedAt).toBeGreaterThan(base + 3);

        // Each item is the caller's view, the same as getSummary.
        for (const s of list) expect(await store.getSummary(s.id, u!.id)).toEqual(s);
        expect(list.find((s) => s.id === c1)).toMatchObject({
          kind: 'group',
          title: 'c1',
          public: false,
          lastSeq: 1,
          lastReadSeq: 0,
          unreadCount: 1,
          lastMessage: { body: 'wake c1', senderId: other!.id },
        });

        // Paging with the `after` cursor.
        const page1 = await store.listSummaries(u!.id, 2, null);
        expect(ids(page1)).toEqual([c2, c1]);
        const last1 = page1[page1.length - 1]!;
        const page2 = await store.listSummaries(u!.id, 2, { updatedAt: last1.updatedAt, id: last1.id });
        expect(ids(page2)).toEqual([c3]);
        const last2 = page2[0]!;
        expect(await store.listSummaries(u!.id, 2, { updatedAt: last2.updatedAt, id: last2.id })).toEqual([]);
      });

      it('paging is exact when several conversations share one updatedAt', async () => {
        const [u] = await users(1);
        const at = Date.now() - 120_000;
        const made = [];
        for (let i = 0; i < 5; i++) made.push(await group([u!.id], { createdAt: at }));
        const full = await store.listSummaries(u!.id, 50, null);
        expect(full.map((s) => s.id).sort()).toEqual([...made].sort());

        const paged: string[] = [];
        let after: { updatedAt: number; id: string } | null = null;
        for (let guard = 0; guard < 10; guard++) {
          const page: ConversationSummary[] = await store.listSummaries(u!.id, 2, after);
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(2);
          paged.push(...page.map((s) => s.id));
          const last = page[page.length - 1]!;
          after = { updatedAt: last.updatedAt, id: last.id };
        }
        expect(paged).toEqual(full.map((s) => s.id));
      });

      it('listCursors gives lastSeq and lastReadSeq for each of the caller\u2019s conversations', async () => {
        const [u, other] = await users(2);
        const x = await group([u!.id, other!.id]);
        const y = await group([other!.id, u!.id]);
        const z = await group([other!.id]);
        await send(x, other!.id);
        await send(x, other!.id);
        await send(x, u!.id);
        await send(z, other!.id);
        expect(await store.markRead(x, u!.id, 2)).toBe(2);

        const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
        expect([...(await store.listCursors(u!.id))].sort(byId)).toEqual(
          [
            { id: x, lastSeq: 3, lastReadSeq: 2 },
            { id: y, lastSeq: 0, lastReadSeq: 0 },
          ].sort(byId),
        );
        expect(await store.listCursors(randomUUID())).toEqual([]);
        expect(await store.lastSeqs([x, y, z, randomUUID()])).toEqual(
          new Map([
            [x, 3],
            [y, 0],
            [z, 1],
          ]),
        );
        expect(await store.lastSeqs([])).toEqual(new Map());
      });

      it('recentMemberships lists memberships begun since a time, with the arrival seq as lastReadSeq', async () => {
        const [a, b, c] = await users(3);
        const old = await group([a!.id, b!.id], { createdAt: Date.now() - 120_000 });
        const fresh = await group([a!.id, b!.id]);
        await send(fresh, a!.id);
        const at = Date.now();
        expectOk(await one({ kind: 'member.join', conversationId: fresh, actorId: a!.id, at, userId: c!.id, role: 'member' }));
        const since = Date.now() - 60_000;
        const rows = await store.recentMemberships([b!.id, c!.id], since);
        const byKey = (x: { conversationId: string; userId: string }) => `${x.conversationId} ${x.userId}`;
        expect(rows.map(byKey).sort()).toEqual([`${fresh} ${b!.id}`, `${fresh} ${c!.id}`].sort());
        expect(rows.find((r) => r.userId === c!.id)!.lastReadSeq).toBe(2);
        expect(rows.find((r) => r.userId === b!.id)!.lastReadSeq).toBe(0);
        expect(rows.map(byKey)).not.toContain(`${old} ${b!.id}`);
        expect(await store.recentMemberships([], since)).toEqual([]);
      });

      it('markRead only grows, clamps to lastSeq, and returns null when nothing grew', async () => {
        const [a, b, outsider] = await users(3);
        const id = await group([a!.id, b!.id]);
        expect(await store.markRead(id, a!.id, 3)).toBeNull(); // lastSeq is 0
        for (let i = 0; i < 4; i++) await send(id, b!.id);

        expect(await store.markRead(id, a!.id, 2)).toBe(2);
        expect((await store.getMember(id, a!.id))!.lastReadSeq).toBe(2);
        expect(await store.markRead(id, a!.id, 2)).toBeNull();
        expect(await store.markRead(id, a!.id, 1)).toBeNull();
        expect((await store.getMember(id, a!.id))!.lastReadSeq).toBe(2);

        expect(await store.markRead(id, a!.id, 100)).toBe(4);
        expect((await store.getMember(id, a!.id))!.lastReadSeq).toBe(4);
        expect(await store.markRead(id, a!.id, 100)).toBeNull();

        // Other members are untouched; outsiders and unknown conversations get null.
        expect((await store.getMember(id, b!.id))!.lastReadSeq).toBe(0);
        expect(await store.markRead(id, outsider!.id, 3)).toBeNull();
        expect(await store.getMember(id, outsider!.id)).toBeNull();
        expect(await store.markRead(randomUUID(), a!.id, 3)).toBeNull();
      });
    });

    describe('health', () => {
      it('ping resolves', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });
  });
}
