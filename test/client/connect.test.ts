/** The SDK against a real in-process node: hello, live events, REST calls, the store and the optimistic echo. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPending, ParleyApiError, ParleyClient, type Message } from '../../client/index.ts';
import { uniqueName, until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { fast, newClient, PASSWORD, Recorder } from './util.ts';

let server: TestServer;
const clients: ParleyClient[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

async function client(): Promise<ParleyClient> {
  const c = await newClient(server.url);
  clients.push(c);
  return c;
}

async function groupOf(owner: ParleyClient, members: ParleyClient[]): Promise<string> {
  const conv = await owner.api.createConversation({ kind: 'group', title: 'client tests', memberIds: members.map((m) => m.userId!) });
  return conv.id;
}

describe('connect and live events', () => {
  it('is importable as parley/client', async () => {
    const mod = await import('parley/client');
    expect(mod.ParleyClient).toBe(ParleyClient);
  });

  it('connect() completes hello; events of every conversation arrive in seq order, the sender’s own included', async () => {
    const alice = await client();
    const bob = await client();
    const conv = await groupOf(alice, [bob]);
    const seenByBob = new Recorder(bob);
    const seenByAlice = new Recorder(alice);
    const hello = await bob.connect();
    expect(hello.userId).toBe(bob.userId);
    expect(hello.conversations.map((c) => c.id)).toContain(conv);
    expect(bob.state).toBe('open');
    await alice.connect();

    const first = await alice.send(conv, 'hello bob');
    expect(first).toMatchObject({ conversationId: conv, seq: 1, senderId: alice.userId, body: 'hello bob', deleted: false });
    await alice.send(conv, 'second');
    await seenByBob.reach(conv, 2);
    await seenByAlice.reach(conv, 2);
    expect(seenByBob.seqs(conv)).toEqual([1, 2]);
    expect(seenByAlice.seqs(conv)).toEqual([1, 2]);
    expect(seenByBob.events[0]).toMatchObject({ kind: 'message.created', actorId: alice.userId, data: { body: 'hello bob' } });
    expect(seenByBob.states).toEqual(['connecting', 'open']);
  });

  it('a conversation created while connected is delivered from its first event', async () => {
    const alice = await client();
    const bob = await client();
    const seen = new Recorder(bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const conv = await groupOf(alice, [bob]);
    await alice.send(conv, 'new room');
    await seen.reach(conv, 1);
    expect(seen.seqs(conv)).toEqual([1]);
  });

  it('typing, receipts, presence and history go over the socket', async () => {
    const alice = await client();
    const bob = await client();
    const conv = await groupOf(alice, [bob]);
    const typing: unknown[] = [];
    const receipts: unknown[] = [];
    const presence: unknown[] = [];
    bob.on('typing', (t) => typing.push(t));
    bob.on('receipt', (r) => receipts.push(r));
    bob.on('presence', (p) => presence.push(p));
    await bob.connect();

    const [watched] = await bob.watch([alice.userId!]);
    expect(watched).toMatchObject({ userId: alice.userId, status: 'offline' });
    await alice.connect();
    await until(() => presence.length > 0, 'alice online');
    expect(presence[0]).toMatchObject({ userId: alice.userId, status: 'online' });

    await alice.typing(conv);
    await until(() => typing.length > 0, 'typing');
    expect(typing[0]).toEqual({ conversationId: conv, userId: alice.userId });

    const m = await alice.send(conv, 'read me');
    await alice.read(conv, m.seq);
    await until(() => receipts.length > 0, 'receipt');
    expect(receipts[0]).toEqual({ conversationId: conv, userId: alice.userId, seq: m.seq });
    expect(alice.conversation(conv).lastReadSeq).toBe(m.seq);

    const { events } = await bob.history(conv, { afterSeq: 0 });
    expect(events.map((e) => e.seq)).toEqual([1]);
    const { messages } = await bob.history(conv, { limit: 10 });
    expect(messages.map((x) => x.body)).toEqual(['read me']);
    await bob.unwatch([alice.userId!]);
  });

  it('an error reply rejects with a ParleyApiError', async () => {
    const alice = await client();
    const conv = await groupOf(alice, []);
    await alice.connect();
    const err = await alice.edit(conv, 99, 'nope').catch((e) => e);
    expect(err).toBeInstanceOf(ParleyApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
    const bad = await alice.react(conv, 1, 'no spaces', true).catch((e) => e);
    expect(bad).toMatchObject({ status: 400, code: 'invalid_request' });
  });
});

describe('REST', () => {
  it('covers every route of the protocol', async () => {
    const name = uniqueName('r');
    const alice = await ParleyClient.register(server.url, name, PASSWORD, { ...fast, displayName: 'Alice' });
    clients.push(alice);
    expect(alice.user).toMatchObject({ username: name, displayName: 'Alice' });
    const again = await ParleyClient.login(server.url, name.toUpperCase(), PASSWORD, fast);
    clients.push(again);
    expect(again.userId).toBe(alice.userId);
    const bob = await client();
    const carol = await client();
    const api = alice.api;

    expect(await api.health()).toEqual({ status: 'ok' });
    expect(await api.ready()).toEqual({ status: 'ready' });
    expect(await api.me()).toMatchObject({ id: alice.userId, username: name });
    expect(await api.updateMe({ displayName: 'Ada' })).toMatchObject({ displayName: 'Ada' });
    expect(await api.user(bob.userId!)).toMatchObject({ id: bob.userId });
    expect((await api.searchUsers(name.slice(0, 12), { limit: 5 })).items.map((u) => u.id)).toContain(alice.userId);

    const direct = await api.createConversation({ kind: 'direct', userId: bob.userId! });
    expect(direct).toMatchObject({ kind: 'direct', lastSeq: 0 });
    const group = await api.createConversation({ kind: 'group', title: 'g', memberIds: [bob.userId!] });
    const channel = await api.createConversation({ kind: 'channel', title: 'c', public: true });
    await carol.api.join(channel.id);
    await api.addMembers(group.id, [carol.userId!]);
    await api.removeMember(group.id, carol.userId!);
    expect(await api.updateConversation(group.id, { title: 'g2' })).toMatchObject({ title: 'g2' });
    const detail = await api.conversation(group.id);
    expect(detail.members.map((m) => m.userId).sort()).toEqual([alice.userId, bob.userId].sort());

    const m = await api.sendMessage(group.id, { clientMsgId: 'rest-1', body: 'hi' });
    expect(await api.sendMessage(group.id, { clientMsgId: 'rest-1', body: 'hi' })).toEqual(m);
    expect(await api.editMessage(group.id, m.seq, 'hi!')).toMatchObject({ body: 'hi!' });
    await api.addReaction(group.id, m.seq, '👍');
    expect((await api.messages(group.id)).items[0]!.reactions).toEqual({ '👍': [alice.userId] });
    await api.removeReaction(group.id, m.seq, '👍');
    await api.read(group.id, m.seq);
    await api.deleteMessage(group.id, m.seq);
    const page = await api.messages(group.id, { limit: 1 });
    expect(page).toMatchObject({ items: [{ seq: m.seq, deleted: true, body: '' }], nextBeforeSeq: null });
    const log = await api.events(group.id, { afterSeq: 0, limit: 100 });
    expect(log.items.map((e) => e.kind)).toEqual([
      'member.joined',
      'member.left',
      'conversation.updated',
      'message.created',
      'message.edited',
      'reaction.added',
      'reaction.removed',
      'message.deleted',
    ]);
    expect(log.nextAfterSeq).toBeNull();
    const list = await api.listConversations({ limit: 2 });
    expect(list.items).toHaveLength(2);
    expect(typeof list.nextCursor).toBe('string');
    expect((await api.listConversations({ cursor: list.nextCursor!, limit: 2 })).items.map((c) => c.id)).toEqual([direct.id]);

    await api.block(bob.userId!);
    const blocked = await bob.api.sendMessage(direct.id, { clientMsgId: 'x', body: 'x' }).catch((e) => e);
    expect(blocked).toMatchObject({ status: 403, code: 'forbidden' });
    await api.unblock(bob.userId!);

    // Refresh rotates; logout revokes the login's refresh tokens.
    const before = alice.tokens!;
    const rotated = await api.refresh(before.refreshToken);
    expect(rotated.refreshToken).not.toBe(before.refreshToken);
    await api.logout(rotated.refreshToken);
    expect(await api.refresh(rotated.refreshToken).catch((e) => e)).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('errors carry status, code, message and details', async () => {
    const alice = await client();
    const err = await alice.api.createConversation({ kind: 'group', title: '', memberIds: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(ParleyApiError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request', details: [{ path: 'title' }] });
    expect(err.message).toMatch(/title/);
    const missing = await alice.api.conversation('nope').catch((e) => e);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    const login = await ParleyClient.login(server.url, uniqueName('x'), 'wrong password').catch((e) => e);
    expect(login).toMatchObject({ status: 401, code: 'invalid_credentials' });
  });

  it('a 429 carries retryAfter', async () => {
    const limited = await startTestServer({ SEND_RATE_LIMIT: 1 });
    try {
      const alice = await newClient(limited.url);
      const conv = await groupOf(alice, []);
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((i) => alice.api.sendMessage(conv, { clientMsgId: `m${i}`, body: 'x' }).catch((e) => e)),
      );
      const refused = results.find((r): r is ParleyApiError => r instanceof ParleyApiError);
      expect(refused).toMatchObject({ status: 429, code: 'rate_limited' });
      expect(refused!.retryAfter).toBeGreaterThanOrEqual(1);
      alice.close();
    } finally {
      await limited.stop();
    }
  });
});

describe('the conversation store', () => {
  it('applies edits, deletions, reactions and title changes from the event stream, matching the server', async () => {
    const alice = await client();
    const bob = await client();
    const conv = await groupOf(alice, [bob]);
    const seen = new Recorder(bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const view = bob.conversation(conv);
    let changes = 0;
    view.onChange(() => changes++);

    const m1 = await alice.send(conv, 'one');
    const m2 = await alice.send(conv, 'two');
    const m3 = await alice.send(conv, 'three');
    await alice.edit(conv, m1.seq, 'one, edited');
    await bob.react(conv, m2.seq, '👍');
    await alice.react(conv, m2.seq, '👍');
    await alice.react(conv, m2.seq, '🎉');
    await bob.react(conv, m2.seq, '👍', false);
    await alice.react(conv, m2.seq, '🎉', false);
    await alice.delete(conv, m3.seq);
    await alice.api.updateConversation(conv, { title: 'renamed' });
    const last = (await alice.api.conversation(conv)).lastSeq;
    await seen.reach(conv, last);

    expect(view.lastSeq).toBe(last);
    expect(view.title).toBe('renamed');
    expect(view.pending()).toEqual([]);
    const shown = view.messages() as Message[];
    expect(shown.map((m) => m.seq)).toEqual([m1.seq, m2.seq, m3.seq]);
    expect(shown[0]).toMatchObject({ body: 'one, edited', editedAt: expect.any(Number) });
    expect(shown[1]!.reactions).toEqual({ '👍': [alice.userId] });
    expect(shown[2]).toMatchObject({ deleted: true, body: '' });
    // What the store built from events is what the server holds now.
    const server = (await bob.api.messages(conv)).items.reverse();
    expect(shown).toEqual(server);
    expect(changes).toBeGreaterThanOrEqual(last);
  });

  it('loadOlder merges history from before the connection with what the stream delivered', async () => {
    const alice = await client();
    const bob = await client();
    const conv = await groupOf(alice, [bob]);
    for (const body of ['a', 'b', 'c']) await alice.api.sendMessage(conv, { clientMsgId: body, body });
    const seen = new Recorder(bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const view = bob.conversation(conv);
    const d = await alice.send(conv, 'd');
    await seen.reach(conv, d.seq);
    await alice.edit(conv, 1, 'a2');
    await seen.reach(conv, d.seq + 1);
    expect(view.messages().map((m) => m.body)).toEqual(['d']);

    expect(await view.loadOlder(2)).toBe(2);
    expect(view.messages().map((m) => m.body)).toEqual(['b', 'c', 'd']);
    expect(view.hasOlder).toBe(true);
    expect(await view.loadOlder(2)).toBe(1);
    expect(view.hasOlder).toBe(false);
    expect(view.messages().map((m) => m.body)).toEqual(['a2', 'b', 'c', 'd']);
  });
});

describe('optimistic echo', () => {
  it('a sent message shows at once as pending and is replaced by the acknowledged one', async () => {
    const alice = await client();
    const conv = await groupOf(alice, []);
    await alice.connect();
    const earlier = await alice.send(conv, 'earlier');
    const view = alice.conversation(conv);
    const snapshots: (readonly unknown[])[] = [];
    view.onChange(() => snapshots.push(view.messages()));

    const sending = alice.send(conv, 'optimistic');
    const shown = view.messages();
    expect(shown).toHaveLength(2);
    expect(shown[0]).toEqual(earlier);
    const echo = shown[1]!;
    expect(isPending(echo)).toBe(true);
    expect(echo).toMatchObject({ pending: true, body: 'optimistic', senderId: alice.userId, conversationId: conv });

    const acked = await sending;
    expect(acked.clientMsgId).toBe((echo as { clientMsgId: string }).clientMsgId);
    const after = view.messages();
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ seq: acked.seq, body: 'optimistic', clientMsgId: acked.clientMsgId });
    expect(isPending(after[1]!)).toBe(false);
    expect(view.pending()).toEqual([]);
    // Never shown twice: at every step the message appears once, pending or acknowledged.
    for (const s of snapshots) {
      expect(s.filter((m) => (m as { clientMsgId: string }).clientMsgId === acked.clientMsgId)).toHaveLength(1);
    }
  });

  it('a send the server refuses is rejected and its echo removed', async () => {
    const alice = await client();
    const bob = await client();
    const conv = await groupOf(bob, []);
    await alice.connect();
    const view = alice.conversation(conv);
    const sending = alice.send(conv, 'not a member');
    expect(view.pending()).toHaveLength(1);
    await expect(sending).rejects.toMatchObject({ code: 'not_found' });
    expect(view.messages()).toEqual([]);
  });
});
