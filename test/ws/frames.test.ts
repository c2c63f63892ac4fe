/** Every client frame and its reply, the server frames they cause, error replies and protocol closes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, until, type Socket, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { addMembers, connectUser, expectAlive, range, removeMember, repliesTo, seqsOf, waitSeq } from './util.ts';

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser; // never a member of `conv`
let conv: string;
let a: Socket;
let a2: Socket; // alice's second connection
let b: Socket;
let c: Socket;

beforeAll(async () => {
  server = await startTestServer();
  [alice, bob, carol] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
  conv = await group(server.url, alice, [bob]);
  a = (await connectUser(server.url, alice)).socket;
  a2 = (await connectUser(server.url, alice)).socket;
  b = (await connectUser(server.url, bob)).socket;
  c = (await connectUser(server.url, carol)).socket;
});
afterAll(() => server.stop());

/** Asserts `re` was answered exactly once, after a later round trip had time to bring a duplicate. */
async function expectOneReply(s: Socket, re: string): Promise<void> {
  await expectAlive(s);
  expect(repliesTo(s, re)).toHaveLength(1);
}

async function send(s: Socket, body: string, clientMsgId = `c-${Math.random()}`) {
  const r = await s.request('send', { conversationId: conv, clientMsgId, body });
  expect(r.ok).toBe(true);
  return r;
}

describe('client frames and their replies', () => {
  it('send → {message}, answered once with re = id; the event reaches every member, the sender included', async () => {
    a.send({ type: 'send', id: 'send-1', conversationId: conv, clientMsgId: 'cm-1', body: '  hello bob  ' });
    const r = await a.waitFor((f) => f.re === 'send-1', 'send reply');
    expect(r).toMatchObject({ type: 'reply', re: 'send-1', ok: true });
    expect(Object.keys(r.data)).toEqual(['message']);
    const m = r.data.message;
    expect(m).toMatchObject({
      conversationId: conv,
      senderId: alice.id,
      clientMsgId: 'cm-1',
      body: 'hello bob',
      replyToSeq: null,
      attachments: [],
      reactions: {},
      editedAt: null,
      deleted: false,
    });
    expect(typeof m.id).toBe('string');
    expect(typeof m.seq).toBe('number');
    expect(typeof m.createdAt).toBe('number');
    await expectOneReply(a, 'send-1');
    for (const s of [a, a2, b]) {
      const ev = await waitSeq(s, conv, m.seq);
      expect(ev).toEqual({ type: 'event', conversationId: conv, seq: m.seq, kind: 'message.created', actorId: alice.id, at: expect.any(Number), data: m });
    }
  });

  it('send is idempotent: the same clientMsgId returns the same message and creates no event', async () => {
    const first = (await send(a, 'once', 'dup-1')).data.message;
    const again = await a.request('send', { conversationId: conv, clientMsgId: 'dup-1', body: 'once' });
    expect(again.ok).toBe(true);
    expect(again.data.message).toEqual(first);
    // Even with another body, from another connection of the same sender.
    const third = await a2.request('send', { conversationId: conv, clientMsgId: 'dup-1', body: 'different' });
    expect(third.data.message).toEqual(first);
    // The next message takes the very next seq: the repeats consumed none.
    const next = (await send(a, 'after dup')).data.message;
    expect(next.seq).toBe(first.seq + 1);
    await waitSeq(b, conv, next.seq);
    expect(b.events(conv).filter((e) => e.kind === 'message.created' && e.data.clientMsgId === 'dup-1')).toHaveLength(1);
    expect(seqsOf(b, conv)).toEqual(range(1, next.seq));
  });

  it('idempotency is shared with REST: the same clientMsgId over REST returns the WebSocket-sent message', async () => {
    const m = (await send(a, 'sent over ws', 'shared-1')).data.message;
    const r = await api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'shared-1', body: 'sent over ws' } });
    expect(r.status).toBe(200);
    expect(r.body.message).toEqual(m);
    // Another sender may use the same clientMsgId: it is theirs, a new message.
    const other = await b.request('send', { conversationId: conv, clientMsgId: 'shared-1', body: 'mine' });
    expect(other.ok).toBe(true);
    expect(other.data.message.seq).toBe(m.seq + 1);
    expect(other.data.message.senderId).toBe(bob.id);
  });

  it('send with replyToSeq naming no message → invalid_request', async () => {
    const r = await a.request('send', { conversationId: conv, clientMsgId: 'bad-reply', body: 'x', replyToSeq: 999_999 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(a);
  });

  it('send into a direct conversation with a user who blocked the sender → forbidden', async () => {
    const [x, y] = await Promise.all([register(server.url), register(server.url)]);
    const d = await api(server.url, 'POST', '/v1/conversations', { token: x.token, body: { kind: 'direct', userId: y.id } });
    expect(d.status).toBe(201);
    expect((await api(server.url, 'POST', `/v1/users/${x.id}/block`, { token: y.token })).status).toBe(204);
    const { socket } = await connectUser(server.url, x);
    const r = await socket.request('send', { conversationId: d.body.id, clientMsgId: 'blocked', body: 'hello?' });
    expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    await expectAlive(socket);
    socket.close();
  });

  it('send with replyToSeq', async () => {
    const target = (await send(a, 'question')).data.message;
    const r = await b.request('send', { conversationId: conv, clientMsgId: 'reply-1', body: 'answer', replyToSeq: target.seq });
    expect(r.ok).toBe(true);
    expect(r.data.message.replyToSeq).toBe(target.seq);
  });

  it('edit → {event} message.edited, seen by every member', async () => {
    const m = (await send(a, 'typo')).data.message;
    const r = await a.request('edit', { conversationId: conv, seq: m.seq, body: 'fixed' });
    expect(r.ok).toBe(true);
    expect(Object.keys(r.data)).toEqual(['event']);
    expect(r.data.event).toMatchObject({
      conversationId: conv,
      seq: m.seq + 1,
      kind: 'message.edited',
      actorId: alice.id,
      data: { seq: m.seq, body: 'fixed', editedAt: expect.any(Number) },
    });
    await expectOneReply(a, r.re);
    for (const s of [a, a2, b]) expect(await waitSeq(s, conv, m.seq + 1)).toEqual({ type: 'event', ...r.data.event });
  });

  it('edit by someone other than the sender → forbidden', async () => {
    const m = (await send(a, 'mine')).data.message;
    const r = await b.request('edit', { conversationId: conv, seq: m.seq, body: 'yours now' });
    expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('edit or delete a message that does not exist → not_found', async () => {
    expect(await a.request('edit', { conversationId: conv, seq: 999_999, body: 'x' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await a.request('delete', { conversationId: conv, seq: 999_999 })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('delete → {event} message.deleted; the text is erased from history', async () => {
    const m = (await send(a, 'secret text')).data.message;
    const r = await a.request('delete', { conversationId: conv, seq: m.seq });
    expect(r.ok).toBe(true);
    expect(r.data.event).toMatchObject({ conversationId: conv, seq: m.seq + 1, kind: 'message.deleted', actorId: alice.id, data: { seq: m.seq } });
    await expectOneReply(a, r.re);
    for (const s of [a, a2, b]) expect(await waitSeq(s, conv, m.seq + 1)).toEqual({ type: 'event', ...r.data.event });

    const hist = await b.request('history', { conversationId: conv, afterSeq: m.seq - 1, limit: 1 });
    expect(hist.data.events).toHaveLength(1);
    expect(hist.data.events[0]).toMatchObject({ seq: m.seq, kind: 'message.created' });
    expect(hist.data.events[0].data.body).toBe('');
    const msgs = await b.request('history', { conversationId: conv, beforeSeq: m.seq + 1, limit: 1 });
    expect(msgs.data.messages[0]).toMatchObject({ seq: m.seq, deleted: true, body: '' });
  });

  it('delete by a plain member of someone else’s message → forbidden; by the owner → ok', async () => {
    const byAlice = (await send(a, 'alice wrote this')).data.message;
    expect(await b.request('delete', { conversationId: conv, seq: byAlice.seq })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const byBob = (await send(b, 'bob wrote this')).data.message;
    const r = await a.request('delete', { conversationId: conv, seq: byBob.seq });
    expect(r.data.event).toMatchObject({ kind: 'message.deleted', actorId: alice.id, data: { seq: byBob.seq } });
    await waitSeq(b, conv, r.data.event.seq);
  });

  it('react → {event} when it changes something, {} when it does not', async () => {
    const m = (await send(a, 'react to me')).data.message;
    const on = await b.request('react', { conversationId: conv, seq: m.seq, emoji: '👍', on: true });
    expect(on.ok).toBe(true);
    expect(on.data.event).toMatchObject({ kind: 'reaction.added', actorId: bob.id, data: { seq: m.seq, emoji: '👍', userId: bob.id } });
    const onAgain = await b.request('react', { conversationId: conv, seq: m.seq, emoji: '👍', on: true });
    expect(onAgain).toMatchObject({ ok: true, data: {} });
    expect(onAgain.data).toEqual({});
    const off = await b.request('react', { conversationId: conv, seq: m.seq, emoji: '👍', on: false });
    expect(off.data.event).toMatchObject({ kind: 'reaction.removed', actorId: bob.id, data: { seq: m.seq, emoji: '👍', userId: bob.id } });
    expect(off.data.event.seq).toBe(on.data.event.seq + 1);
    const offAgain = await b.request('react', { conversationId: conv, seq: m.seq, emoji: '👍', on: false });
    expect(offAgain.data).toEqual({});
    for (const s of [a, a2, b]) {
      expect(await waitSeq(s, conv, off.data.event.seq)).toEqual({ type: 'event', ...off.data.event });
      expect(s.events(conv).find((e) => e.seq === on.data.event.seq)).toEqual({ type: 'event', ...on.data.event });
    }
    // The no-op reactions consumed no seq.
    const next = (await send(a, 'after reactions')).data.message;
    expect(next.seq).toBe(off.data.event.seq + 1);
  });

  it('read → {}; the other members get a receipt, only when lastReadSeq grows', async () => {
    const m1 = (await send(a, 'read me 1')).data.message;
    const m2 = (await send(a, 'read me 2')).data.message;
    const isBobReceipt = (f: any) => f.type === 'receipt' && f.conversationId === conv && f.userId === bob.id;
    const r1 = await b.request('read', { conversationId: conv, seq: m1.seq });
    expect(r1).toMatchObject({ ok: true, data: {} });
    expect(r1.data).toEqual({});
    expect(await a.waitFor(isBobReceipt, 'receipt')).toEqual({ type: 'receipt', conversationId: conv, userId: bob.id, seq: m1.seq });
    // A smaller seq changes nothing: answered {}, no receipt.
    expect((await b.request('read', { conversationId: conv, seq: 1 })).data).toEqual({});
    const r2 = await b.request('read', { conversationId: conv, seq: m2.seq });
    expect(r2.data).toEqual({});
    await a.waitFor((f) => isBobReceipt(f) && f.seq === m2.seq, 'second receipt');
    await a2.waitFor((f) => isBobReceipt(f) && f.seq === m2.seq, 'second receipt on a2');
    await expectAlive(a);
    expect(a.frames.filter(isBobReceipt).map((f) => f.seq)).toEqual([m1.seq, m2.seq]);
    const detail = await api(server.url, 'GET', `/v1/conversations/${conv}`, { token: bob.token });
    expect(detail.body.lastReadSeq).toBe(m2.seq);
  });

  it('typing → {}; the other members get typing, the typist’s own sockets do not', async () => {
    const r = await a.request('typing', { conversationId: conv });
    expect(r).toMatchObject({ ok: true, data: {} });
    expect(r.data).toEqual({});
    expect(await b.waitFor((f) => f.type === 'typing', 'typing')).toEqual({ type: 'typing', conversationId: conv, userId: alice.id });
    await expectAlive(a);
    await expectAlive(a2);
    expect(a.frames.filter((f) => f.type === 'typing' && f.userId === alice.id)).toEqual([]);
    expect(a2.frames.filter((f) => f.type === 'typing' && f.userId === alice.id)).toEqual([]);
    expect(c.frames.filter((f) => f.type === 'typing')).toEqual([]);
  });

  it('watch → {presence}; unwatch → {}', async () => {
    const w = await c.request('watch', { userIds: [alice.id] });
    expect(w.ok).toBe(true);
    expect(w.data).toEqual({ presence: [{ userId: alice.id, status: 'online', lastSeenAt: expect.any(Number) }] });
    const u = await c.request('unwatch', { userIds: [alice.id] });
    expect(u).toMatchObject({ ok: true, data: {} });
    expect(u.data).toEqual({});
  });

  it('history with afterSeq → {events} in seq order; with beforeSeq → {messages} newest first', async () => {
    const total = seqsOf(a, conv).at(-1)!;
    const ev = await b.request('history', { conversationId: conv, afterSeq: 0, limit: 3 });
    expect(Object.keys(ev.data)).toEqual(['events']);
    expect(ev.data.events.map((e: any) => e.seq)).toEqual([1, 2, 3]);
    expect(ev.data.events[0]).toMatchObject({ conversationId: conv, kind: 'message.created', actorId: alice.id });
    const all = await b.request('history', { conversationId: conv, afterSeq: 0, limit: 1000 });
    expect(all.data.events.map((e: any) => e.seq)).toEqual(range(1, total));
    // The live event frames match the log (apart from message text erased by a delete since).
    expect(all.data.events.map((e: any) => [e.seq, e.kind, e.actorId])).toEqual(b.events(conv).map((e) => [e.seq, e.kind, e.actorId]));

    const msgs = await b.request('history', { conversationId: conv, beforeSeq: 4 });
    expect(Object.keys(msgs.data)).toEqual(['messages']);
    const seqs = msgs.data.messages.map((m: any) => m.seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs).toEqual([...seqs].sort((x: number, y: number) => y - x));
    expect(seqs.every((s: number) => s < 4)).toBe(true);
    expect(msgs.data.messages[0]).toMatchObject({ conversationId: conv, senderId: expect.any(String), reactions: expect.any(Object) });
    const limited = await b.request('history', { conversationId: conv, beforeSeq: total + 1, limit: 2 });
    expect(limited.data.messages).toHaveLength(2);
  });

  it('an id longer than 64 characters → invalid_request, echoed in re, connection open', async () => {
    const id = 'i'.repeat(65);
    a.send({ type: 'ping', id });
    const r = await a.waitFor((f) => f.type === 'reply' && typeof f.re === 'string' && f.re.startsWith('iiii'), 'reply to the long id');
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(a);
  });

  it('ping → {}', async () => {
    const r = await b.request('ping');
    expect(r).toEqual({ type: 'reply', re: r.re, ok: true, data: {} });
    await expectOneReply(b, r.re);
  });

  it('a frame without id gets no reply; every frame with an id gets exactly one', async () => {
    const { socket } = await connectUser(server.url, bob);
    socket.send({ type: 'ping' });
    socket.send({ type: 'typing', conversationId: conv });
    socket.send({ type: 'send', conversationId: conv, clientMsgId: 'no-id-send', body: 'no id' });
    socket.send({ type: 'ping', id: 'last' });
    await socket.waitFor((f) => f.re === 'last', 'last reply');
    // The id-less send still happened.
    const sent = await socket.waitFor((f) => f.type === 'event' && f.data?.clientMsgId === 'no-id-send', 'id-less send event');
    await expectAlive(socket);
    const replies = socket.frames.filter((f) => f.type === 'reply');
    expect(replies.map((f) => f.re)).toEqual(['r1', 'last', 'r2']); // hello, the last ping, expectAlive
    expect(sent.actorId).toBe(bob.id);
    socket.close();
  });
});

describe('a non-member', () => {
  it('gets not_found for every frame about the conversation', async () => {
    const frames: [string, Record<string, unknown>][] = [
      ['send', { conversationId: conv, clientMsgId: 'x', body: 'let me in' }],
      ['edit', { conversationId: conv, seq: 1, body: 'x' }],
      ['delete', { conversationId: conv, seq: 1 }],
      ['react', { conversationId: conv, seq: 1, emoji: '👀', on: true }],
      ['read', { conversationId: conv, seq: 1 }],
      ['typing', { conversationId: conv }],
      ['history', { conversationId: conv, afterSeq: 0 }],
      ['history', { conversationId: conv, beforeSeq: 5 }],
    ];
    for (const [type, fields] of frames) {
      const r = await c.request(type, fields);
      expect(r, `${type} ${JSON.stringify(fields)}`).toMatchObject({ type: 'reply', ok: false, error: { code: 'not_found', message: expect.any(String) } });
    }
    await expectAlive(c);
    expect(c.events(conv)).toEqual([]);
  });

  it('a conversation that does not exist is not_found too', async () => {
    const r = await a.request('send', { conversationId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', clientMsgId: 'x', body: 'void' });
    expect(r).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});

describe('bad fields in a well-formed frame', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['send', { clientMsgId: 'x', body: 'no conversation' }],
    ['send', { conversationId: 'CONV', clientMsgId: 'x' }], // body missing
    ['send', { conversationId: 'CONV', clientMsgId: 'x', body: '   ' }], // empty after trimming
    ['send', { conversationId: 'CONV', clientMsgId: 'x', body: 'a'.repeat(16_385) }], // over 16,384 bytes
    ['send', { conversationId: 'CONV', clientMsgId: '', body: 'empty clientMsgId' }],
    ['send', { conversationId: 'CONV', clientMsgId: 'x'.repeat(65), body: 'long clientMsgId' }],
    ['send', { conversationId: 'CONV', clientMsgId: 'x', body: 'hi', extra: 1 }], // unknown field
    ['send', { conversationId: 'CONV', clientMsgId: 'x', body: 42 }],
    ['edit', { conversationId: 'CONV', seq: '1', body: 'seq as a string' }],
    ['edit', { conversationId: 'CONV', seq: 1.5, body: 'fractional seq' }],
    ['delete', { conversationId: 'CONV', seq: 0 }],
    ['react', { conversationId: 'CONV', seq: 1, emoji: '👍' }], // on missing
    ['react', { conversationId: 'CONV', seq: 1, emoji: 'two words', on: true }],
    ['read', { conversationId: 'CONV', seq: -1 }],
    ['typing', {}],
    ['watch', { userIds: [] }],
    ['watch', { userIds: 'not-an-array' }],
    ['unwatch', {}],
    ['history', { conversationId: 'CONV', afterSeq: 'zero' }],
    ['history', { conversationId: 'CONV', afterSeq: 0, beforeSeq: 5 }],
    ['history', { conversationId: 'CONV', beforeSeq: 5, limit: 0 }],
    ['ping', { extra: true }],
  ];

  it.each(bad.map(([type, fields]) => ({ type, fields, name: `${type} ${JSON.stringify(fields).slice(0, 80)}` })))(
    '$name → invalid_request, connection stays open',
    async ({ type, fields }) => {
      const withConv = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v === 'CONV' ? conv : v]));
      const r = await a.request(type, withConv);
      expect(r).toMatchObject({ type: 'reply', ok: false, error: { code: 'invalid_request', message: expect.any(String) } });
      await expectAlive(a);
    },
  );

  it('none of them created an event', async () => {
    const before = await api(server.url, 'GET', `/v1/conversations/${conv}`, { token: alice.token });
    await expectAlive(a);
    expect(seqsOf(a, conv).at(-1)).toBe(before.body.lastSeq);
    expect(a.events(conv).some((e) => e.kind === 'message.created' && (e.data.body === 'hi' || e.data.clientMsgId === ''))).toBe(false);
  });
});

describe('protocol errors close the connection', () => {
  const cases: [string, string, number][] = [
    ['non-JSON text', 'this is not json', 4002],
    ['truncated JSON', '{"type":"ping",', 4002],
    ['a JSON array', JSON.stringify([{ type: 'ping', id: 'x' }]), 4002],
    ['a JSON string', JSON.stringify('ping'), 4002],
    ['a JSON number', '42', 4002],
    ['JSON null', 'null', 4002],
    ['an object without type', JSON.stringify({ id: 'x' }), 4002],
    ['an unknown type', JSON.stringify({ type: 'shout', id: 'x' }), 4002],
    ['a non-string type', JSON.stringify({ type: 7, id: 'x' }), 4002],
  ];
  it.each(cases.map(([name, text, code]) => ({ name, text, code })))('$name → close $code', async ({ text, code }) => {
    const { socket } = await connectUser(server.url, bob);
    socket.send(text);
    expect(await socket.waitClose()).toBe(code);
  });

  it('a frame over 64 KiB → close 1009', async () => {
    const { socket } = await connectUser(server.url, bob);
    socket.send(JSON.stringify({ type: 'ping', id: 'big', pad: 'x'.repeat(70 * 1024) }));
    expect(await socket.waitClose()).toBe(1009);
    expect(repliesTo(socket, 'big')).toEqual([]);
  });

  const frameOf = (bytes: number, id: string) => {
    const head = JSON.stringify({ type: 'ping', id, pad: '' });
    const text = head.replace('"pad":""', `"pad":"${'x'.repeat(bytes - Buffer.byteLength(head))}"`);
    expect(Buffer.byteLength(text)).toBe(bytes);
    return text;
  };

  it('a frame of exactly 64 KiB is read (and refused for its fields, not closed); one byte more → 1009', async () => {
    const { socket } = await connectUser(server.url, bob);
    socket.send(frameOf(64 * 1024, 'at-limit'));
    const r = await socket.waitFor((f) => f.re === 'at-limit', 'reply to the 64 KiB frame');
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(socket);
    socket.send(frameOf(64 * 1024 + 1, 'over-limit'));
    expect(await socket.waitClose()).toBe(1009);
    expect(repliesTo(socket, 'over-limit')).toEqual([]);
  });

  it('a binary frame on parley.v1.json → close 4002', async () => {
    const { socket } = await connectUser(server.url, bob);
    socket.ws.send(Buffer.from(JSON.stringify({ type: 'ping', id: 'bin' })), { binary: true });
    expect(await socket.waitClose()).toBe(4002);
    expect(repliesTo(socket, 'bin')).toEqual([]);
  });
});

describe('events of every kind reach every member, the actor included', () => {
  it('message.created, edited, reaction added/removed, deleted, conversation.updated, member.joined, member.left', async () => {
    const [owner, member, newcomer] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const g = await group(server.url, owner, [member]);
    const o = (await connectUser(server.url, owner)).socket;
    const m = (await connectUser(server.url, member)).socket;
    const n = (await connectUser(server.url, newcomer)).socket;

    const sent = await o.request('send', { conversationId: g, clientMsgId: 'k1', body: 'all kinds' });
    expect(sent.ok).toBe(true);
    expect((await o.request('edit', { conversationId: g, seq: 1, body: 'all kinds, edited' })).ok).toBe(true);
    expect((await m.request('react', { conversationId: g, seq: 1, emoji: '🎉', on: true })).ok).toBe(true);
    expect((await m.request('react', { conversationId: g, seq: 1, emoji: '🎉', on: false })).ok).toBe(true);
    expect((await o.request('delete', { conversationId: g, seq: 1 })).ok).toBe(true);
    const patched = await api(server.url, 'PATCH', `/v1/conversations/${g}`, { token: owner.token, body: { title: 'renamed' } });
    expect(patched.status).toBe(200);
    await addMembers(server.url, owner, g, [newcomer]);
    await removeMember(server.url, owner, g, newcomer);

    const expected = [
      [1, 'message.created', owner.id],
      [2, 'message.edited', owner.id],
      [3, 'reaction.added', member.id],
      [4, 'reaction.removed', member.id],
      [5, 'message.deleted', owner.id],
      [6, 'conversation.updated', owner.id],
      [7, 'member.joined', owner.id],
      [8, 'member.left', owner.id],
    ];
    const log = (await api(server.url, 'GET', `/v1/conversations/${g}/events?afterSeq=0`, { token: owner.token })).body.items;
    expect(log.map((e: any) => [e.seq, e.kind, e.actorId])).toEqual(expected);
    for (const s of [o, m]) {
      await waitSeq(s, g, 8);
      const got = s.events(g);
      expect(got.map((e) => [e.seq, e.kind, e.actorId])).toEqual(expected);
      // Every frame is the logged event, flat, except the message's text (created, edited) which the delete erased from the log since.
      for (const e of got.slice(2)) expect(e).toEqual({ type: 'event', ...log[e.seq - 1] });
      expect(got[0]!.data).toMatchObject({ seq: 1, body: 'all kinds', senderId: owner.id });
      expect(got[1]!.data).toEqual({ seq: 1, body: 'all kinds, edited', editedAt: expect.any(Number) });
      expect(got[5]!.data).toEqual({ title: 'renamed' });
      expect(got[6]!.data).toEqual({ userId: newcomer.id, role: 'member' });
      expect(got[7]!.data).toEqual({ userId: newcomer.id, role: 'member' });
    }
    // The newcomer, connected throughout, saw its own joining and leaving and nothing else of it.
    await waitSeq(n, g, 8);
    expect(seqsOf(n, g)).toEqual([7, 8]);
    for (const s of [o, m, n]) s.close();
  });
});

describe('another connection of the same user', () => {
  it('receives the events that user causes', async () => {
    const r = await a.request('send', { conversationId: conv, clientMsgId: 'multi', body: 'to my other tab' });
    const ev = await waitSeq(a2, conv, r.data.message.seq);
    expect(ev.data.id).toBe(r.data.message.id);
    await until(() => seqsOf(a2, conv).length === seqsOf(a, conv).length, 'a2 caught up');
    expect(seqsOf(a2, conv)).toEqual(seqsOf(a, conv));
  });
});
