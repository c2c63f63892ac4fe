/**
 * A resume whose replay passes the user's own departure: the events of the time
 * they were out stay hidden, and if they were re-added the conversation goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket } from './helpers/client.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const send = (conv: string, token: string, id: string) =>
  api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token, body: { clientMsgId: id, body: id } });

describe('resume across a leave and a re-join', () => {
  it('replays up to the departure, hides the time away, and goes on live after the re-join', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    await send(conv, alice.token, 'before'); // seq 1
    expect((await api(server.url, 'DELETE', `/v1/conversations/${conv}/members/${bob.id}`, { token: alice.token })).status).toBe(204); // 2
    await send(conv, alice.token, 'while-away'); // 3
    expect((await api(server.url, 'POST', `/v1/conversations/${conv}/members`, { token: alice.token, body: { userIds: [bob.id] } })).status).toBe(204); // 4
    await send(conv, alice.token, 'after'); // 5

    const { socket } = await Socket.connect(server.url, bob, [{ conversationId: conv, afterSeq: 0 }]);
    await socket.waitFor((f) => f.type === 'event' && f.seq === 5, 'the message after the re-join');
    expect(socket.events(conv).map((e) => e.seq)).toEqual([1, 2, 4, 5]);
    expect(JSON.stringify(socket.frames)).not.toContain('while-away');

    await send(conv, alice.token, 'live'); // 6
    await socket.waitFor((f) => f.type === 'event' && f.seq === 6, 'a live event after the replay');
    socket.close();
  });

  it('stops following a conversation the user left for good, even mid-replay', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    await send(conv, alice.token, 'a'); // 1
    await api(server.url, 'DELETE', `/v1/conversations/${conv}/members/${bob.id}`, { token: bob.token }); // 2
    await send(conv, alice.token, 'secret'); // 3

    // Bob is no longer a member: his resume entry for it is ignored and nothing of it arrives.
    const { socket, hello } = await Socket.connect(server.url, bob, [{ conversationId: conv, afterSeq: 0 }]);
    expect(hello.conversations).toEqual([]);
    await send(conv, alice.token, 'later'); // 4
    const { socket: probe } = await Socket.connect(server.url, alice);
    await send(conv, alice.token, 'marker'); // 5
    await probe.waitFor((f) => f.type === 'event' && f.seq === 5, 'the marker at a member');
    expect(socket.events(conv)).toEqual([]);
    socket.close();
    probe.close();
  });
});
