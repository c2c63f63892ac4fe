/** REST messages, reactions, history, the event log and read state; the send rate limit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { allEvents, cid, EVENT_KEYS, expectError, getConv, groupWithRoles, keys, MESSAGE_KEYS, send, sent } from './util.ts';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(() => server.stop());

const post = (u: TestUser, conv: string, body: unknown) =>
  api(base, 'POST', `/v1/conversations/${conv}/messages`, { token: u.token, body });
const history = (u: TestUser, conv: string, qs = '') => api(base, 'GET', `/v1/conversations/${conv}/messages${qs}`, { token: u.token });
const events = (u: TestUser, conv: string, qs = '') => api(base, 'GET', `/v1/conversations/${conv}/events${qs}`, { token: u.token });
const edit = (u: TestUser, conv: string, seq: number | string, body: unknown) =>
  api(base, 'PATCH', `/v1/conversations/${conv}/messages/${seq}`, { token: u.token, body });
const del = (u: TestUser, conv: string, seq: number | string) => api(base, 'DELETE', `/v1/conversations/${conv}/messages/${seq}`, { token: u.token });
const react = (u: TestUser, conv: string, seq: number, emoji: string, on: boolean) =>
  api(base, on ? 'PUT' : 'DELETE', `/v1/conversations/${conv}/messages/${seq}/reactions/${encodeURIComponent(emoji)}`, { token: u.token });
const read = (u: TestUser, conv: string, body: unknown) => api(base, 'POST', `/v1/conversations/${conv}/read`, { token: u.token, body });

/** A's and B's group, fresh for each test that wants one. */
async function pair() {
  const a = await register(base);
  const b = await register(base);
  const conv = await group(base, a, [b]);
  return { a, b, conv };
}

async function messageAt(u: TestUser, conv: string, seq: number) {
  const r = await history(u, conv, `?beforeSeq=${seq + 1}&limit=1`);
  expect(r.status).toBe(200);
  const m = r.body.items[0];
  expect(m?.seq).toBe(seq);
  return m;
}

describe('POST /v1/conversations/:id/messages', () => {
  it('201 {message} with every field of the message shape', async () => {
    const { a, conv } = await pair();
    const before = Date.now();
    const r = await post(a, conv, { clientMsgId: 'first-one', body: 'hello world' });
    expect(r.status).toBe(201);
    expect(keys(r.body)).toEqual(['message']);
    const m = r.body.message;
    expect(keys(m)).toEqual(MESSAGE_KEYS);
    expect(m).toEqual({
      id: expect.any(String),
      conversationId: conv,
      seq: 1,
      senderId: a.id,
      clientMsgId: 'first-one',
      body: 'hello world',
      replyToSeq: null,
      attachments: [],
      reactions: {},
      createdAt: expect.any(Number),
      editedAt: null,
      deleted: false,
    });
    expect(m.createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(m.createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    // the event that created it has the same seq and carries the message
    const ev = await events(a, conv);
    expect(ev.body.items).toHaveLength(1);
    expect(keys(ev.body.items[0])).toEqual(EVENT_KEYS);
    expect(ev.body.items[0]).toEqual({ conversationId: conv, seq: 1, kind: 'message.created', actorId: a.id, at: expect.any(Number), data: m });
    expect((await getConv(base, a, conv)).lastSeq).toBe(1);
    // ids are distinct per message
    const m2 = await sent(base, a, conv, 'second');
    expect(m2.id).not.toBe(m.id);
    expect(m2.seq).toBe(2);
  });

  it('stores the body trimmed and otherwise exactly as sent (no Unicode normalization)', async () => {
    const { a, b, conv } = await pair();
    const inner = 'Cafe\u0301 caf\u00e9 \u212B \uFB01 👩🏽‍💻 🇳🇿\n  indented  \t tab\r\nline ‮rtl‬ ｆｕｌｌ';
    const r = await post(a, conv, { clientMsgId: cid(), body: `  \n\t${inner} \n\t ` });
    expect(r.status).toBe(201);
    expect(r.body.message.body).toBe(inner);
    expect(r.body.message.body.normalize('NFC')).not.toBe(inner); // really was not normalized
    expect((await messageAt(b, conv, 1)).body).toBe(inner);
    expect((await events(b, conv)).body.items[0].data.body).toBe(inner);
  });

  it.each([
    ['empty', ''],
    ['only whitespace', ' \n\t\r  '],
  ])('an %s body → 400 and nothing is created', async (_what, body) => {
    const { a, conv } = await pair();
    expectError(await post(a, conv, { clientMsgId: cid(), body }), 400, 'invalid_request');
    expect((await getConv(base, a, conv)).lastSeq).toBe(0);
  });

  it('accepts exactly 16,384 bytes of UTF-8 and refuses 16,385, for 1-, 2-, 3- and 4-byte characters', async () => {
    const { a, conv } = await pair();
    const exact = [
      'a'.repeat(16_384),
      'é'.repeat(8_192), // 2 bytes each
      '€'.repeat(5_461) + 'a', // 3 × 5461 + 1
      '😀'.repeat(4_096), // 4 bytes each
      'x' + '😀'.repeat(4_095) + 'é' + 'a', // 1 + 16380 + 2 + 1
    ];
    for (const body of exact) {
      expect(Buffer.byteLength(body, 'utf8')).toBe(16_384);
      const r = await post(a, conv, { clientMsgId: cid(), body: `  ${body}\n` }); // surrounding whitespace does not count
      expect(r.status, `${[...body].length} characters`).toBe(201);
      expect(r.body.message.body).toBe(body);
    }
    const over = ['a'.repeat(16_385), 'é'.repeat(8_192) + 'a', '€'.repeat(5_462), '😀'.repeat(4_096) + 'a', '😀'.repeat(4_097)];
    for (const body of over) {
      expect(Buffer.byteLength(body, 'utf8')).toBeGreaterThan(16_384);
      expectError(await post(a, conv, { clientMsgId: cid(), body }), 400, 'invalid_request');
    }
    expect((await getConv(base, a, conv)).lastSeq).toBe(exact.length);
  });

  it('clientMsgId must be 1–64 characters', async () => {
    const { a, conv } = await pair();
    expect((await post(a, conv, { clientMsgId: 'x', body: 'one char' })).status).toBe(201);
    expect((await post(a, conv, { clientMsgId: 'k'.repeat(64), body: '64 chars' })).status).toBe(201);
    expectError(await post(a, conv, { clientMsgId: '', body: 'empty id' }), 400, 'invalid_request');
    expectError(await post(a, conv, { clientMsgId: 'k'.repeat(65), body: '65 chars' }), 400, 'invalid_request');
    expect((await getConv(base, a, conv)).lastSeq).toBe(2);
  });

  it.each([
    ['no clientMsgId', { body: 'x' }],
    ['no body', { clientMsgId: 'x' }],
    ['a numeric body', { clientMsgId: 'x', body: 5 }],
    ['a numeric clientMsgId', { clientMsgId: 5, body: 'x' }],
    ['an unknown field', { clientMsgId: 'x', body: 'x', sticker: 'cat' }],
    ['replyToSeq 0', { clientMsgId: 'x', body: 'x', replyToSeq: 0 }],
    ['replyToSeq as a string', { clientMsgId: 'x', body: 'x', replyToSeq: '1' }],
    ['attachments not a list', { clientMsgId: 'x', body: 'x', attachments: 'file' }],
  ])('a body with %s → 400', async (_what, body) => {
    const { a, conv } = await pair();
    expectError(await post(a, conv, body), 400, 'invalid_request');
    expect((await getConv(base, a, conv)).lastSeq).toBe(0);
  });

  it('the same clientMsgId again → 200 with the original message, and nothing new', async () => {
    const { a, b, conv } = await pair();
    const first = await post(a, conv, { clientMsgId: 'dup-1', body: 'original' });
    expect(first.status).toBe(201);
    const again = await post(a, conv, { clientMsgId: 'dup-1', body: 'a different body' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await getConv(base, a, conv)).lastSeq).toBe(1);
    expect((await events(a, conv)).body.items).toHaveLength(1);
    // the same clientMsgId from another sender is another message
    const other = await post(b, conv, { clientMsgId: 'dup-1', body: 'mine' });
    expect(other.status).toBe(201);
    expect(other.body.message.seq).toBe(2);
    // and in another conversation too
    const conv2 = await group(base, a, []);
    expect((await post(a, conv2, { clientMsgId: 'dup-1', body: 'elsewhere' })).status).toBe(201);
  });

  it('the original is answered as it stands now (edited), still 200', async () => {
    const { a, conv } = await pair();
    const first = await post(a, conv, { clientMsgId: 'dup-2', body: 'v1' });
    expect((await edit(a, conv, 1, { body: 'v2' })).status).toBe(200);
    const again = await post(a, conv, { clientMsgId: 'dup-2', body: 'v1' });
    expect(again.status).toBe(200);
    expect(again.body.message.id).toBe(first.body.message.id);
    expect(again.body.message.seq).toBe(1);
    expect((await getConv(base, a, conv)).lastSeq).toBe(2);
  });

  it('10 concurrent sends with one clientMsgId create exactly one message', async () => {
    const { a, conv } = await pair();
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => post(a, conv, { clientMsgId: 'race', body: `attempt ${i}` })));
    expect(rs.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(rs.map((r) => r.body.message.id));
    expect(ids.size).toBe(1);
    expect(new Set(rs.map((r) => r.body.message.seq))).toEqual(new Set([1]));
    expect((await getConv(base, a, conv)).lastSeq).toBe(1);
    expect((await history(a, conv)).body.items).toHaveLength(1);
    expect((await events(a, conv)).body.items).toHaveLength(1);
  });

  it('ids sort by creation time', async () => {
    const { a, conv } = await pair();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await sent(base, a, conv, `order ${i}`)).id);
    expect([...ids].sort()).toEqual(ids);
    const later = await register(base);
    expect(later.id > a.id).toBe(true);
    const conv2 = await group(base, a, []);
    expect(conv2 > conv).toBe(true);
  });

  it('concurrent sends from several members get distinct, gap-free seqs', async () => {
    const { a, b, conv } = await pair();
    const rs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(i % 2 ? a : b, conv, { clientMsgId: `par-${i}`, body: `parallel ${i}` })),
    );
    expect(rs.every((r) => r.status === 201)).toBe(true);
    expect(rs.map((r) => r.body.message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const log = await allEvents(base, a, conv);
    expect(log.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const r of rs) expect(log[r.body.message.seq - 1].data).toEqual(r.body.message);
  });

  it('replyToSeq names an existing message; a seq with no message → 400', async () => {
    const { a, b, conv } = await pair();
    await sent(base, a, conv, 'question?');
    const reply = await post(b, conv, { clientMsgId: cid(), body: 'answer', replyToSeq: 1 });
    expect(reply.status).toBe(201);
    expect(reply.body.message.replyToSeq).toBe(1);
    const nullReply = await post(b, conv, { clientMsgId: cid(), body: 'no reply', replyToSeq: null });
    expect(nullReply.status).toBe(201);
    expect(nullReply.body.message.replyToSeq).toBeNull();

    expectError(await post(b, conv, { clientMsgId: cid(), body: 'to nothing', replyToSeq: 999 }), 400, 'invalid_request');
    // a seq that is an event but not a message
    expect((await react(a, conv, 1, '👍', true)).status).toBe(204);
    const seqOfReaction = (await getConv(base, a, conv)).lastSeq;
    expectError(await post(b, conv, { clientMsgId: cid(), body: 'to a reaction', replyToSeq: seqOfReaction }), 400, 'invalid_request');
    expect((await getConv(base, a, conv)).lastSeq).toBe(seqOfReaction);
  });

  it('an empty attachments list is fine', async () => {
    const { a, conv } = await pair();
    const r = await post(a, conv, { clientMsgId: cid(), body: 'no files', attachments: [] });
    expect(r.status).toBe(201);
    expect(r.body.message.attachments).toEqual([]);
  });
});

describe('PATCH /v1/conversations/:id/messages/:seq', () => {
  it('the sender edits: 200, the message with editedAt set; a message.edited event', async () => {
    const { a, b, conv } = await pair();
    const m = await sent(base, a, conv, 'tpyo');
    const r = await edit(a, conv, 1, { body: '  typo  ' });
    expect(r.status).toBe(200);
    expect(keys(r.body)).toEqual(MESSAGE_KEYS);
    expect(r.body).toMatchObject({ id: m.id, seq: 1, body: 'typo', senderId: a.id, clientMsgId: m.clientMsgId, deleted: false, createdAt: m.createdAt });
    expect(Number.isInteger(r.body.editedAt)).toBe(true);
    expect(r.body.editedAt).toBeGreaterThanOrEqual(m.createdAt);
    expect(await messageAt(b, conv, 1)).toEqual(r.body);
    // an edit may be as long as a send
    const long = await edit(a, conv, 1, { body: '😀'.repeat(4_096) });
    expect(long.status).toBe(200);
    expect(long.body.body).toBe('😀'.repeat(4_096));
    expect((await edit(a, conv, 1, { body: 'typo' })).status).toBe(200);

    const log = await allEvents(base, b, conv);
    expect(log).toHaveLength(4);
    expect(log[1]).toEqual({
      conversationId: conv,
      seq: 2,
      kind: 'message.edited',
      actorId: a.id,
      at: expect.any(Number),
      data: { seq: 1, body: 'typo', editedAt: r.body.editedAt },
    });
  });

  it('someone else → 403; unknown seq → 404; bad bodies → 400; nothing changes', async () => {
    const { a, b, conv } = await pair();
    await sent(base, a, conv, 'mine');
    expectError(await edit(b, conv, 1, { body: 'yours now' }), 403, 'forbidden');
    expectError(await edit(a, conv, 99, { body: 'nothing there' }), 404, 'not_found');
    for (const body of [{}, { body: '' }, { body: '   ' }, { body: 1 }, { body: 'x', clientMsgId: 'y' }, { body: 'x'.repeat(16_385) }]) {
      expectError(await edit(a, conv, 1, body), 400, 'invalid_request');
    }
    const m = await messageAt(a, conv, 1);
    expect(m).toMatchObject({ body: 'mine', editedAt: null });
    expect((await getConv(base, a, conv)).lastSeq).toBe(1);
  });

  it('an owner or admin cannot edit someone else’s message either (403)', async () => {
    const owner = await register(base);
    const admin = await register(base);
    const member = await register(base);
    const conv = await groupWithRoles(server, [
      { user: owner, role: 'owner' },
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);
    await sent(base, member, conv, 'my words');
    expectError(await edit(owner, conv, 1, { body: 'owner words' }), 403, 'forbidden');
    expectError(await edit(admin, conv, 1, { body: 'admin words' }), 403, 'forbidden');
  });
});

describe('DELETE /v1/conversations/:id/messages/:seq', () => {
  it('the sender deletes (204); the message keeps its seq with deleted:true and body "" everywhere', async () => {
    const { a, b, conv } = await pair();
    await sent(base, a, conv, 'secret plans');
    expect((await edit(a, conv, 1, { body: 'edited secret plans' })).status).toBe(200);
    await sent(base, b, conv, 'after');
    const r = await del(a, conv, 1);
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();

    const items = (await history(b, conv)).body.items;
    expect(items.map((m: any) => m.seq)).toEqual([3, 1]);
    const gone = items[1];
    expect(keys(gone)).toEqual(MESSAGE_KEYS);
    expect(gone).toMatchObject({ seq: 1, deleted: true, body: '', senderId: a.id });

    const log = await allEvents(base, b, conv);
    expect(log.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'message.created'],
      [2, 'message.edited'],
      [3, 'message.created'],
      [4, 'message.deleted'],
    ]);
    expect(log[0].data.body).toBe('');
    expect(log[0].data.seq).toBe(1);
    expect(log[1].data.body).toBe(''); // the text is erased everywhere, the edit included
    expect(log[3]).toMatchObject({ actorId: a.id, data: { seq: 1 } });
    expect(log[3].data).toEqual({ seq: 1 });
    expect(JSON.stringify(log)).not.toContain('secret plans');
    expect(JSON.stringify(await getConv(base, b, conv))).not.toContain('secret plans');
    // a deleted message can be neither edited nor reacted to, and is not the last message
    expect((await edit(a, conv, 1, { body: 'resurrect' })).status).toBe(404);
    expect((await react(b, conv, 1, '👍', true)).status).toBe(404);
    expect((await getConv(base, b, conv)).lastMessage.seq).toBe(3);
  });

  it('the owner and an admin delete others’ messages (204); another member → 403', async () => {
    const owner = await register(base);
    const admin = await register(base);
    const m1 = await register(base);
    const m2 = await register(base);
    const conv = await groupWithRoles(server, [
      { user: owner, role: 'owner' },
      { user: admin, role: 'admin' },
      { user: m1, role: 'member' },
      { user: m2, role: 'member' },
    ]);
    await sent(base, m1, conv, 'one');
    await sent(base, m1, conv, 'two');
    await sent(base, m1, conv, 'three');
    expectError(await del(m2, conv, 3), 403, 'forbidden');
    expect((await messageAt(m1, conv, 3)).deleted).toBe(false);
    expect((await del(owner, conv, 1)).status).toBe(204);
    expect((await del(admin, conv, 2)).status).toBe(204);
    expect((await messageAt(m1, conv, 1)).deleted).toBe(true);
    expect((await messageAt(m1, conv, 2)).deleted).toBe(true);
    const log = await allEvents(base, m1, conv);
    expect(log.slice(3).map((e) => [e.kind, e.actorId, e.data.seq])).toEqual([
      ['message.deleted', owner.id, 1],
      ['message.deleted', admin.id, 2],
    ]);
  });

  it('unknown seq → 404', async () => {
    const { a, conv } = await pair();
    expectError(await del(a, conv, 7), 404, 'not_found');
  });
});

describe('reactions', () => {
  it('PUT and DELETE answer 204, idempotently, as reactions {emoji: [userId]} and one event per change', async () => {
    const { a, b, conv } = await pair();
    await sent(base, a, conv, 'react to me');
    const r = await react(a, conv, 1, '👍', true);
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    expect((await react(a, conv, 1, '👍', true)).status).toBe(204); // again: no change
    expect((await getConv(base, a, conv)).lastSeq).toBe(2);
    expect((await react(b, conv, 1, '👍', true)).status).toBe(204);
    expect((await react(b, conv, 1, ':party:', true)).status).toBe(204);
    expect((await messageAt(a, conv, 1)).reactions).toEqual({ '👍': [a.id, b.id], ':party:': [b.id] });

    expect((await react(a, conv, 1, '👍', false)).status).toBe(204);
    expect((await react(a, conv, 1, '👍', false)).status).toBe(204); // again: no change
    expect((await react(a, conv, 1, '🎉', false)).status).toBe(204); // never added: no change
    expect((await messageAt(a, conv, 1)).reactions).toEqual({ '👍': [b.id], ':party:': [b.id] });

    const log = await allEvents(base, a, conv);
    expect(log.map((e) => [e.seq, e.kind, e.actorId])).toEqual([
      [1, 'message.created', a.id],
      [2, 'reaction.added', a.id],
      [3, 'reaction.added', b.id],
      [4, 'reaction.added', b.id],
      [5, 'reaction.removed', a.id],
    ]);
    expect(log[1].data).toEqual({ seq: 1, emoji: '👍', userId: a.id });
    expect(log[3].data).toEqual({ seq: 1, emoji: ':party:', userId: b.id });
    expect(log[4].data).toEqual({ seq: 1, emoji: '👍', userId: a.id });

    // removing the last one of an emoji drops the key
    expect((await react(b, conv, 1, ':party:', false)).status).toBe(204);
    expect((await messageAt(a, conv, 1)).reactions).toEqual({ '👍': [b.id] });
  });

  it('concurrent identical PUTs add the reaction once', async () => {
    const { a, conv } = await pair();
    await sent(base, a, conv, 'popular');
    const rs = await Promise.all(Array.from({ length: 6 }, () => react(a, conv, 1, '🔥', true)));
    expect(rs.map((r) => r.status)).toEqual([204, 204, 204, 204, 204, 204]);
    expect((await getConv(base, a, conv)).lastSeq).toBe(2);
    expect((await messageAt(a, conv, 1)).reactions).toEqual({ '🔥': [a.id] });
  });

  it('unknown message → 404; a bad emoji → 400', async () => {
    const { a, conv } = await pair();
    await sent(base, a, conv, 'x');
    expectError(await react(a, conv, 5, '👍', true), 404, 'not_found');
    expectError(await react(a, conv, 1, 'two words', true), 400, 'invalid_request');
    expectError(await react(a, conv, 1, 'x'.repeat(65), true), 400, 'invalid_request');
    expect((await getConv(base, a, conv)).lastSeq).toBe(1);
  });
});

describe('GET /v1/conversations/:id/messages', () => {
  let a: TestUser;
  let conv: string;
  beforeAll(async () => {
    ({ a, conv } = await pair());
    for (let i = 1; i <= 7; i++) await sent(base, a, conv, `m${i}`);
  });

  it('newest first, paged by beforeSeq and limit, nextBeforeSeq null at the end', async () => {
    const p1 = await history(a, conv, '?limit=3');
    expect(p1.status).toBe(200);
    expect(keys(p1.body)).toEqual(['items', 'nextBeforeSeq']);
    expect(p1.body.items.map((m: any) => m.seq)).toEqual([7, 6, 5]);
    expect(p1.body.items.map((m: any) => m.body)).toEqual(['m7', 'm6', 'm5']);
    for (const m of p1.body.items) expect(keys(m)).toEqual(MESSAGE_KEYS);
    expect(p1.body.nextBeforeSeq).toBe(5);
    const p2 = await history(a, conv, `?beforeSeq=${p1.body.nextBeforeSeq}&limit=3`);
    expect(p2.body.items.map((m: any) => m.seq)).toEqual([4, 3, 2]);
    expect(p2.body.nextBeforeSeq).toBe(2);
    const p3 = await history(a, conv, `?beforeSeq=${p2.body.nextBeforeSeq}&limit=3`);
    expect(p3.body.items.map((m: any) => m.seq)).toEqual([1]);
    expect(p3.body.nextBeforeSeq).toBeNull();
    // exactly the rest: null
    const exact = await history(a, conv, '?beforeSeq=4&limit=3');
    expect(exact.body.items.map((m: any) => m.seq)).toEqual([3, 2, 1]);
    expect(exact.body.nextBeforeSeq).toBeNull();
    // all at once
    const all = await history(a, conv);
    expect(all.body.items.map((m: any) => m.seq)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(all.body.nextBeforeSeq).toBeNull();
  });

  it('holds only messages, not other events', async () => {
    const { a: x, conv: c } = await pair();
    await sent(base, x, c, 'one');
    expect((await react(x, c, 1, '👍', true)).status).toBe(204);
    expect((await api(base, 'PATCH', `/v1/conversations/${c}`, { token: x.token, body: { title: 'zzz' } })).status).toBe(200);
    await sent(base, x, c, 'two');
    const r = await history(x, c);
    expect(r.body.items.map((m: any) => [m.seq, m.body])).toEqual([
      [4, 'two'],
      [1, 'one'],
    ]);
    expect(r.body.items[1].reactions).toEqual({ '👍': [x.id] });
  });

  it('limit defaults to 50 and may be at most 200', async () => {
    const { a: x, conv: c } = await pair();
    for (let i = 0; i < 52; i++) await sent(base, x, c, `n${i}`);
    const d = await history(x, c);
    expect(d.body.items).toHaveLength(50);
    expect(d.body.items[0].seq).toBe(52);
    expect(d.body.nextBeforeSeq).toBe(3);
    expect((await history(x, c, '?limit=200')).body.items).toHaveLength(52);
    expectError(await history(x, c, '?limit=201'), 400, 'invalid_request');
  });

  it('bad parameters → 400', async () => {
    for (const qs of ['?limit=0', '?limit=abc', '?limit=-1', '?beforeSeq=x', '?beforeSeq=0', '?beforeSeq=1.5', '?after=3']) {
      expectError(await history(a, conv, qs), 400, 'invalid_request');
    }
  });
});

describe('GET /v1/conversations/:id/events', () => {
  it('the log in seq order, paged by afterSeq and limit, nextAfterSeq null at the end', async () => {
    const { a, b, conv } = await pair();
    for (let i = 1; i <= 5; i++) await sent(base, i % 2 ? a : b, conv, `e${i}`);
    const p1 = await events(a, conv, '?limit=2');
    expect(p1.status).toBe(200);
    expect(keys(p1.body)).toEqual(['items', 'nextAfterSeq']);
    expect(p1.body.items.map((e: any) => e.seq)).toEqual([1, 2]);
    expect(p1.body.nextAfterSeq).toBe(2);
    const p2 = await events(a, conv, `?afterSeq=${p1.body.nextAfterSeq}&limit=2`);
    expect(p2.body.items.map((e: any) => e.seq)).toEqual([3, 4]);
    expect(p2.body.nextAfterSeq).toBe(4);
    const p3 = await events(a, conv, `?afterSeq=${p2.body.nextAfterSeq}&limit=2`);
    expect(p3.body.items.map((e: any) => e.seq)).toEqual([5]);
    expect(p3.body.nextAfterSeq).toBeNull();
    const exact = await events(a, conv, '?afterSeq=3&limit=2');
    expect(exact.body.items.map((e: any) => e.seq)).toEqual([4, 5]);
    expect(exact.body.nextAfterSeq).toBeNull();
    const past = await events(a, conv, '?afterSeq=5');
    expect(past.body).toEqual({ items: [], nextAfterSeq: null });
    const all = await events(b, conv);
    expect(all.body.items.map((e: any) => e.data.body)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(all.body.items.map((e: any) => e.actorId)).toEqual([a.id, b.id, a.id, b.id, a.id]);
  });

  it('limit defaults to 100 and may be at most 1,000', async () => {
    const { a, conv } = await pair();
    await Promise.all(Array.from({ length: 105 }, (_, i) => post(a, conv, { clientMsgId: `bulk-${i}`, body: `b${i}` })));
    const d = await events(a, conv);
    expect(d.body.items).toHaveLength(100);
    expect(d.body.items.map((e: any) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(d.body.nextAfterSeq).toBe(100);
    expect((await events(a, conv, '?limit=1000')).body.items).toHaveLength(105);
    expectError(await events(a, conv, '?limit=1001'), 400, 'invalid_request');
  });

  it('bad parameters → 400', async () => {
    const { a, conv } = await pair();
    for (const qs of ['?limit=0', '?limit=x', '?afterSeq=-1', '?afterSeq=abc', '?afterSeq=1.5', '?beforeSeq=3']) {
      expectError(await events(a, conv, qs), 400, 'invalid_request');
    }
  });
});

describe('POST /v1/conversations/:id/read and unreadCount', () => {
  it('204; lastReadSeq only grows; unreadCount counts only others’ live messages after it', async () => {
    const { a, b, conv } = await pair();
    for (let i = 1; i <= 4; i++) await sent(base, b, conv, `from b ${i}`); // seqs 1–4
    await sent(base, a, conv, 'from a'); // seq 5 — a's own, never unread for a
    await sent(base, b, conv, 'from b 5'); // seq 6

    let c = await getConv(base, a, conv);
    expect(c).toMatchObject({ lastSeq: 6, lastReadSeq: 0, unreadCount: 5 });
    expect((await getConv(base, b, conv)).unreadCount).toBe(1);

    const r = await read(a, conv, { seq: 3 });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    c = await getConv(base, a, conv);
    expect(c).toMatchObject({ lastReadSeq: 3, unreadCount: 2 }); // seqs 4 and 6
    expect(c.members.find((m: any) => m.userId === a.id).lastReadSeq).toBe(3);

    expect((await read(a, conv, { seq: 1 })).status).toBe(204); // smaller: ignored
    expect((await getConv(base, a, conv)).lastReadSeq).toBe(3);
    expect((await read(a, conv, { seq: 0 })).status).toBe(204);
    expect((await getConv(base, a, conv)).lastReadSeq).toBe(3);

    // a deleted message is not unread
    expect((await del(b, conv, 4)).status).toBe(204);
    expect((await getConv(base, a, conv)).unreadCount).toBe(1);
    // non-message events are not unread either
    expect((await react(b, conv, 6, '👀', true)).status).toBe(204);
    expect((await getConv(base, a, conv)).unreadCount).toBe(1);

    expect((await read(a, conv, { seq: 6 })).status).toBe(204);
    c = await getConv(base, a, conv);
    expect(c).toMatchObject({ lastReadSeq: 6, unreadCount: 0 });
    const item = (await api(base, 'GET', '/v1/conversations', { token: a.token })).body.items.find((i: any) => i.id === conv);
    expect(item).toMatchObject({ lastReadSeq: 6, unreadCount: 0 });
    // read state is per member
    expect((await getConv(base, b, conv)).lastReadSeq).toBe(0);
  });

  it('bad bodies → 400', async () => {
    const { a, conv } = await pair();
    for (const body of [{}, { seq: -1 }, { seq: '3' }, { seq: 1.5 }, { seq: 1, extra: true }]) {
      expectError(await read(a, conv, body), 400, 'invalid_request');
    }
  });
});

describe('with SEND_RATE_LIMIT 2 (bursts of 4)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ SEND_RATE_LIMIT: 2 });
  });
  afterAll(() => limited.stop());

  it('a quick burst of sends gets 429 rate_limited with Retry-After', async () => {
    const a = await register(limited.url);
    const conv = await group(limited.url, a, []);
    const statuses: number[] = [];
    let limitedRes: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await send(limited.url, a, conv, `burst ${i}`);
      statuses.push(r.status);
      if (r.status === 429) limitedRes ??= r;
    }
    expect(statuses.slice(0, 4)).toEqual([201, 201, 201, 201]);
    expect(statuses).toContain(429);
    expectError(limitedRes!, 429, 'rate_limited');
    expect(limitedRes!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    // refused sends were not stored
    const ok = statuses.filter((s) => s === 201).length;
    const detail = await api(limited.url, 'GET', `/v1/conversations/${conv}`, { token: a.token });
    expect(detail.body.lastSeq).toBe(ok);
    // another user has their own budget
    const b = await register(limited.url);
    const conv2 = await group(limited.url, b, []);
    expect((await send(limited.url, b, conv2, 'my turn')).status).toBe(201);
  });
});
