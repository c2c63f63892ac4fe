import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket } from './helpers/client.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe('walk-through', () => {
  it('register, create a group, send over REST, receive over WebSocket', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    const { socket, hello } = await Socket.connect(server.url, bob);
    expect(hello.conversations).toEqual([{ id: conv, lastSeq: 0, lastReadSeq: 0 }]);
    const sent = await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, {
      token: alice.token,
      body: { clientMsgId: 'c1', body: 'hi bob' },
    });
    expect(sent.status).toBe(201);
    const ev = await socket.waitFor((f) => f.type === 'event', 'event');
    expect(ev).toMatchObject({ conversationId: conv, seq: 1, kind: 'message.created', actorId: alice.id });
    expect(ev.data.body).toBe('hi bob');
    socket.close();
  });
});
