/** The `hello` handshake: what comes first, who is refused with 4001, subprotocols, the conversations list. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { group, register, until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { addMembers, connectUser, expectAlive, openSocket, range, restSend, seqsOf } from './util.ts';

const HELLO_TIMEOUT_MS = 300;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ HELLO_TIMEOUT_MS });
});
afterAll(() => server.stop());

describe('hello', () => {
  it('is answered with userId, sessionId, heartbeatMs and conversations', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    await restSend(server.url, alice, conv, 'one');
    await restSend(server.url, alice, conv, 'two');

    const s = await openSocket(server.url);
    s.send({ type: 'hello', id: 'h1', token: bob.token });
    const reply = await s.waitFor((f) => f.type === 'reply' && f.re === 'h1', 'hello reply');
    expect(reply.ok).toBe(true);
    expect(reply.data).toEqual({
      userId: bob.id,
      sessionId: expect.any(String),
      heartbeatMs: server.config.HEARTBEAT_MS,
      conversations: [{ id: conv, lastSeq: 2, lastReadSeq: 0 }],
    });
    expect(reply.data.sessionId.length).toBeGreaterThan(0);

    // Two connections get two distinct session ids; lastReadSeq reflects a read made since.
    expect((await s.request('read', { conversationId: conv, seq: 2 })).ok).toBe(true);
    const { socket: t, hello: second } = await connectUser(server.url, bob);
    expect(second.sessionId).not.toBe(reply.data.sessionId);
    expect(second.conversations).toEqual([{ id: conv, lastSeq: 2, lastReadSeq: 2 }]);
    s.close();
    t.close();
  });

  it('the hello reply comes first, before the resumed events', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    for (let i = 0; i < 5; i++) await restSend(server.url, alice, conv, `m${i}`);
    const { socket, hello } = await connectUser(server.url, bob, [{ conversationId: conv, afterSeq: 1 }]);
    expect(hello.conversations).toEqual([{ id: conv, lastSeq: 5, lastReadSeq: 0 }]);
    await until(() => seqsOf(socket, conv).length === 4, 'resumed events');
    expect(socket.frames[0]).toMatchObject({ type: 'reply', ok: true });
    expect(socket.frames.slice(1).map((f) => [f.type, f.seq])).toEqual(range(2, 5).map((n) => ['event', n]));
    socket.close();
  });

  it('frames sent right behind hello, before its reply, are answered after it', async () => {
    const alice = await register(server.url);
    const s = await openSocket(server.url);
    s.send({ type: 'hello', id: 'h', token: alice.token });
    s.send({ type: 'ping', id: 'p' });
    await s.waitFor((f) => f.type === 'reply' && f.re === 'p', 'ping reply');
    expect(s.frames.map((f) => f.re)).toEqual(['h', 'p']);
    expect(s.frames.every((f) => f.ok)).toBe(true);
    s.close();
  });

  it('no hello within HELLO_TIMEOUT_MS: closed with 4001', async () => {
    const s = await openSocket(server.url);
    const opened = Date.now();
    expect(await s.waitClose(3_000)).toBe(4001);
    // Not before the timeout (a little slack for timer granularity).
    expect(Date.now() - opened).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 20);
  });

  it('a hello in time is not closed by the hello timer', async () => {
    const alice = await register(server.url);
    const { socket } = await connectUser(server.url, alice);
    // The timeout is the behaviour under test: wait past it.
    await new Promise((r) => setTimeout(r, HELLO_TIMEOUT_MS * 2));
    await expectAlive(socket);
    socket.close();
  });

  it('a bad token: closed with 4001', async () => {
    const s = await openSocket(server.url);
    s.send({ type: 'hello', id: 'h', token: 'not-a-token' });
    expect(await s.waitClose()).toBe(4001);
    expect(s.frames.some((f) => f.type === 'reply' && f.ok === true)).toBe(false);
  });

  it('a forged token (valid shape, wrong signature): closed with 4001', async () => {
    const alice = await register(server.url);
    const [h, p] = alice.token.split('.');
    const s = await openSocket(server.url);
    s.send({ type: 'hello', id: 'h', token: `${h}.${p}.${'A'.repeat(43)}` });
    expect(await s.waitClose()).toBe(4001);
  });

  it('a first frame other than hello: closed with 4001', async () => {
    const s = await openSocket(server.url);
    s.send({ type: 'ping', id: 'p' });
    expect(await s.waitClose()).toBe(4001);
    expect(s.frames.some((f) => f.type === 'reply' && f.ok === true)).toBe(false);
  });

  it('a first frame `send` (a real action) is not executed and closes with 4001', async () => {
    const alice = await register(server.url);
    const conv = await group(server.url, alice, []);
    const s = await openSocket(server.url);
    s.send({ type: 'send', id: 's', conversationId: conv, clientMsgId: 'x', body: 'sneaky' });
    expect(await s.waitClose()).toBe(4001);
    const { hello } = await connectUser(server.url, alice);
    expect(hello.conversations).toEqual([{ id: conv, lastSeq: 0, lastReadSeq: 0 }]);
  });

  it('a hello with a valid token but a malformed field is an error reply, not a 4001 close', async () => {
    // "A bad field in a well-formed frame is an error reply, not a close"; 4001 would tell the
    // client its token is bad, which it is not.
    const alice = await register(server.url);
    const s = await openSocket(server.url);
    const bad = await s.request('hello', { token: alice.token, resume: [{ conversationId: 'x', afterSeq: 'zero' }] });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(s.closeCode).toBeUndefined();
    const good = await s.request('hello', { token: alice.token });
    expect(good).toMatchObject({ ok: true, data: { userId: alice.id } });
    await expectAlive(s);
    s.close();
  });

  it('a second hello gets an error reply and the connection stays open', async () => {
    const alice = await register(server.url);
    const { socket } = await connectUser(server.url, alice);
    const r = await socket.request('hello', { token: alice.token });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    await expectAlive(socket);
    socket.close();
  });

  it('selects subprotocol parley.v1.json', async () => {
    const s = await openSocket(server.url, { protocols: ['parley.v1.msgpack', 'parley.v1.json'] });
    // msgpack is optional; when offered with json the server must pick one it speaks. This client reads JSON only.
    expect(['parley.v1.json', 'parley.v1.msgpack']).toContain(s.ws.protocol);
    s.close();
    const t = await openSocket(server.url, { protocols: 'parley.v1.json' });
    expect(t.ws.protocol).toBe('parley.v1.json');
    const alice = await register(server.url);
    expect((await t.request('hello', { token: alice.token })).ok).toBe(true);
    t.close();
  });

  it('a client that offers no subprotocol is served JSON', async () => {
    const alice = await register(server.url);
    const s = await openSocket(server.url, { protocols: [] });
    expect(s.ws.protocol).toBe('');
    const r = await s.request('hello', { token: alice.token });
    expect(r).toMatchObject({ type: 'reply', ok: true, data: { userId: alice.id } });
    await expectAlive(s);
    s.close();
  });

  it('conversations includes one the user was added to while away', async () => {
    const alice = await register(server.url);
    const bob = await register(server.url);
    const carol = await register(server.url);
    const first = await connectUser(server.url, bob);
    expect(first.hello.conversations).toEqual([]);
    first.socket.close();
    await first.socket.waitClose();

    const conv = await group(server.url, alice, [carol]);
    await restSend(server.url, alice, conv, 'before bob');
    await addMembers(server.url, alice, conv, [bob]);
    const other = await group(server.url, alice, [bob], 'created with bob');

    const { socket, hello } = await connectUser(server.url, bob);
    const byId = new Map(hello.conversations.map((c: any) => [c.id, c]));
    expect(byId.size).toBe(2);
    expect(byId.get(conv)).toEqual({ id: conv, lastSeq: 2, lastReadSeq: expect.any(Number) });
    expect(byId.get(other)).toEqual({ id: other, lastSeq: 0, lastReadSeq: 0 });
    socket.close();
  });
});

describe('expired token', () => {
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ ACCESS_TOKEN_TTL: 1 });
  });
  afterAll(() => short.stop());

  it('hello with an expired access token: closed with 4001', async () => {
    const alice = await register(short.url);
    // Fresh, the token works.
    const ok = await connectUser(short.url, alice);
    ok.socket.close();
    // The expiry is the behaviour under test: JWT `exp` has one-second resolution.
    await new Promise((r) => setTimeout(r, 2_100));
    const s = await openSocket(short.url);
    s.send({ type: 'hello', id: 'h', token: alice.token });
    expect(await s.waitClose()).toBe(4001);
    expect(s.frames.some((f) => f.type === 'reply' && f.ok === true)).toBe(false);
  });
});
