/**
 * Gap-free delivery does not trust the bus: events committed but never
 * published (a lost pub/sub message) still reach every connection, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mutation } from '../src/store/store.ts';
import { api, group, register, Socket } from './helpers/client.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const unpublished = (conversationId: string, actorId: string, n: number): Mutation => ({
  kind: 'message.create',
  conversationId,
  actorId,
  at: Date.now(),
  message: { id: `lost-${conversationId}-${n}`, clientMsgId: `lost-${n}`, body: `lost ${n}`, replyToSeq: null, attachments: [] },
});

describe('events the bus lost', () => {
  it('a hole is filled from the store as soon as a later event arrives', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    const { socket } = await Socket.connect(server.url, bob);
    // Straight into the store: committed, never published.
    await server.chat.store.applyBatch([unpublished(conv, alice.id, 1), unpublished(conv, alice.id, 2)]);
    await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'seen', body: 'seen' } });
    await socket.waitFor((f) => f.type === 'event' && f.seq === 3, 'the published event');
    expect(socket.events(conv).map((e) => e.seq)).toEqual([1, 2, 3]);
    socket.close();
  });

  it('with nothing after it, the periodic store check delivers it', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    const { socket } = await Socket.connect(server.url, bob);
    await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'first', body: 'first' } });
    await socket.waitFor((f) => f.type === 'event' && f.seq === 1, 'the first event');
    await server.chat.store.applyBatch([unpublished(conv, alice.id, 1)]);
    await socket.waitFor((f) => f.type === 'event' && f.seq === 2, 'the unpublished event', 10_000);
    expect(socket.events(conv).map((e) => e.seq)).toEqual([1, 2]);
    socket.close();
  });

  it('a lost membership notice: the session starts following the conversation within seconds', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const { socket } = await Socket.connect(server.url, bob);
    // Created straight in the store: nobody is told over the bus.
    const conv = `quiet-${Date.now()}`;
    await server.chat.store.createConversation({
      id: conv,
      kind: 'group',
      title: 'told nobody',
      public: false,
      createdAt: Date.now(),
      directKey: null,
      members: [
        { userId: alice.id, role: 'owner' },
        { userId: bob.id, role: 'member' },
      ],
    });
    await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'm1', body: 'hello?' } });
    await socket.waitFor((f) => f.type === 'event' && f.conversationId === conv && f.seq === 1, 'the event of the unannounced conversation', 15_000);
    await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'm2', body: 'live now' } });
    await socket.waitFor((f) => f.type === 'event' && f.conversationId === conv && f.seq === 2, 'the next one, live');
    expect(socket.events(conv).map((e) => e.seq)).toEqual([1, 2]);
    socket.close();
  });
});
