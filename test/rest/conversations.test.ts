/** REST /v1/conversations: create (direct, group, channel), list, view, rename, members, join, leave, and their events. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { allEvents, EVENT_KEYS, expectError, getConv, groupWithRoles, keys, send, sent, sleep, SUMMARY_KEYS } from './util.ts';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(() => server.stop());

const create = (u: TestUser, body: unknown) => api(base, 'POST', '/v1/conversations', { token: u.token, body });
const NO_SUCH_ID = '01HZZZZZZZZZZZZZZZZZZZZZZZ';

function expectDetail(c: any) {
  expect(keys(c)).toEqual([...SUMMARY_KEYS, 'members'].sort());
  expect(typeof c.id).toBe('string');
  expect(Number.isInteger(c.updatedAt)).toBe(true);
  for (const m of c.members) {
    expect(keys(m)).toEqual(['joinedAt', 'lastReadSeq', 'role', 'userId']);
    expect(Number.isInteger(m.joinedAt)).toBe(true);
    expect(Number.isInteger(m.lastReadSeq)).toBe(true);
  }
}

const memberOf = (c: any, userId: string) => c.members.find((m: any) => m.userId === userId);

describe('POST /v1/conversations {kind: "direct"}', () => {
  it('201 the first time, then 200 with the same id from either side', async () => {
    const a = await register(base);
    const b = await register(base);
    const first = await create(a, { kind: 'direct', userId: b.id });
    expect(first.status).toBe(201);
    expectDetail(first.body);
    expect(first.body).toMatchObject({ kind: 'direct', public: false, lastSeq: 0, lastReadSeq: 0, unreadCount: 0, lastMessage: null });
    expect(first.body.members.map((m: any) => m.userId).sort()).toEqual([a.id, b.id].sort());

    const again = await create(a, { kind: 'direct', userId: b.id });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const other = await create(b, { kind: 'direct', userId: a.id });
    expect(other.status).toBe(200);
    expect(other.body.id).toBe(first.body.id);
    expect(other.body.members).toEqual(first.body.members);
    // answered as GET shows it
    expect(again.body).toEqual(await getConv(base, a, first.body.id));
  });

  it('concurrent opens of one pair yield one conversation', async () => {
    const a = await register(base);
    const b = await register(base);
    const rs = await Promise.all([
      ...Array.from({ length: 4 }, () => create(a, { kind: 'direct', userId: b.id })),
      ...Array.from({ length: 4 }, () => create(b, { kind: 'direct', userId: a.id })),
    ]);
    expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 200)).toHaveLength(7);
  });

  it('with yourself → 400; with an unknown user → 404; bad bodies → 400', async () => {
    const a = await register(base);
    expectError(await create(a, { kind: 'direct', userId: a.id }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'direct', userId: NO_SUCH_ID }), 404, 'not_found');
    expectError(await create(a, { kind: 'direct' }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'direct', userId: 7 }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'direct', userId: NO_SUCH_ID, title: 'x' }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'party', userId: NO_SUCH_ID }), 400, 'invalid_request');
    expectError(await create(a, {}), 400, 'invalid_request');
  });

  it('needs a token → 401', async () => {
    expectError(await api(base, 'POST', '/v1/conversations', { body: { kind: 'direct', userId: NO_SUCH_ID } }), 401, 'unauthorized');
  });
});

describe('POST /v1/conversations {kind: "group" | "channel"}', () => {
  it('a group: 201, creator owner, the others members, lastSeq 0 and no events', async () => {
    const a = await register(base);
    const b = await register(base);
    const c = await register(base);
    const r = await create(a, { kind: 'group', title: 'Weekend plans', memberIds: [b.id, c.id] });
    expect(r.status).toBe(201);
    expectDetail(r.body);
    expect(r.body).toMatchObject({
      kind: 'group',
      title: 'Weekend plans',
      public: false,
      lastSeq: 0,
      lastReadSeq: 0,
      unreadCount: 0,
      lastMessage: null,
    });
    expect(r.body.members).toHaveLength(3);
    expect(memberOf(r.body, a.id)).toMatchObject({ role: 'owner', lastReadSeq: 0 });
    expect(memberOf(r.body, b.id)).toMatchObject({ role: 'member', lastReadSeq: 0 });
    expect(memberOf(r.body, c.id)).toMatchObject({ role: 'member', lastReadSeq: 0 });
    expect(r.body).toEqual(await getConv(base, a, r.body.id));
    // the members can see it
    expect((await getConv(base, b, r.body.id)).id).toBe(r.body.id);
    const ev = await api(base, 'GET', `/v1/conversations/${r.body.id}/events`, { token: a.token });
    expect(ev.status).toBe(200);
    expect(ev.body).toEqual({ items: [], nextAfterSeq: null });
  });

  it('a group listing the creator or a member twice still has each member once', async () => {
    const a = await register(base);
    const b = await register(base);
    const r = await create(a, { kind: 'group', title: 'dupes', memberIds: [b.id, b.id, a.id] });
    expect(r.status).toBe(201);
    expect(r.body.members).toHaveLength(2);
    expect(memberOf(r.body, a.id).role).toBe('owner');
  });

  it('a group with an unknown member → 404, and bad bodies → 400', async () => {
    const a = await register(base);
    expectError(await create(a, { kind: 'group', title: 't', memberIds: [NO_SUCH_ID] }), 404, 'not_found');
    expectError(await create(a, { kind: 'group', title: '', memberIds: [] }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'group', title: '   ', memberIds: [] }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'group', memberIds: [] }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'group', title: 't', memberIds: 'nope' }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'group', title: 't', memberIds: [], public: true }), 400, 'invalid_request');
  });

  it('a public and a private channel: 201, creator owner, public as asked', async () => {
    const a = await register(base);
    for (const isPublic of [true, false]) {
      const r = await create(a, { kind: 'channel', title: `chan ${isPublic}`, public: isPublic });
      expect(r.status).toBe(201);
      expectDetail(r.body);
      expect(r.body).toMatchObject({ kind: 'channel', title: `chan ${isPublic}`, public: isPublic, lastSeq: 0, unreadCount: 0 });
      expect(r.body.members).toEqual([{ userId: a.id, role: 'owner', lastReadSeq: 0, joinedAt: expect.any(Number) }]);
    }
    expectError(await create(a, { kind: 'channel', title: 'no public' }), 400, 'invalid_request');
    expectError(await create(a, { kind: 'channel', title: 'x', public: 'yes' }), 400, 'invalid_request');
  });
});

describe('GET /v1/conversations', () => {
  it('lists the caller’s conversations, most recently active first, with the summary fields', async () => {
    const a = await register(base);
    const b = await register(base);
    const c1 = await group(base, a, [b], 'one');
    await sleep(5);
    const c2 = await group(base, a, [b], 'two');
    await sleep(5);
    const c3 = await group(base, a, [b], 'three');
    await sleep(5);
    const r0 = await api(base, 'GET', '/v1/conversations', { token: a.token });
    expect(r0.status).toBe(200);
    expect(r0.body.items.map((i: any) => i.id)).toEqual([c3, c2, c1]);
    expect(r0.body.nextCursor).toBeNull();

    const msg = await sent(base, b, c1, 'wake up one');
    await sleep(5);
    const r = await api(base, 'GET', '/v1/conversations', { token: a.token });
    expect(r.body.items.map((i: any) => i.id)).toEqual([c1, c3, c2]);
    const top = r.body.items[0];
    expect(keys(top)).toEqual(SUMMARY_KEYS);
    expect(top).toMatchObject({ id: c1, kind: 'group', title: 'one', public: false, lastSeq: 1, lastReadSeq: 0, unreadCount: 1 });
    expect(top.lastMessage).toEqual(msg);
    expect(top.updatedAt).toBeGreaterThanOrEqual(r.body.items[1].updatedAt);
    // the sender's own message is not unread for the sender
    const forB = await api(base, 'GET', '/v1/conversations', { token: b.token });
    expect(forB.body.items.find((i: any) => i.id === c1)).toMatchObject({ unreadCount: 0, lastSeq: 1 });
    // a non-message event also makes a conversation active
    expect((await api(base, 'PATCH', `/v1/conversations/${c2}`, { token: a.token, body: { title: 'two!' } })).status).toBe(200);
    const r2 = await api(base, 'GET', '/v1/conversations', { token: a.token });
    expect(r2.body.items.map((i: any) => i.id)).toEqual([c2, c1, c3]);
    // a stranger lists none of them
    const stranger = await register(base);
    const s = await api(base, 'GET', '/v1/conversations', { token: stranger.token });
    expect(s.body).toEqual({ items: [], nextCursor: null });
  });

  it('pages with limit and nextCursor, null at the end, without repeats', async () => {
    const a = await register(base);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(await group(base, a, [], `page ${i}`));
      await sleep(2);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const r = await api(base, 'GET', `/v1/conversations${qs}`, { token: a.token });
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.items.map((i: any) => i.id));
      cursor = r.body.nextCursor;
      if (cursor !== null) expect(typeof cursor).toBe('string');
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...made].reverse());
    // a limit of exactly the count ends with null
    const all = await api(base, 'GET', '/v1/conversations?limit=5', { token: a.token });
    expect(all.body.items).toHaveLength(5);
    expect(all.body.nextCursor).toBeNull();
  });

  it('pages without repeats or misses when many conversations share one updatedAt', async () => {
    const a = await register(base);
    const made = await Promise.all(Array.from({ length: 9 }, (_, i) => group(base, a, [], `tie ${i}`)));
    const full = await api(base, 'GET', '/v1/conversations?limit=200', { token: a.token });
    expect(full.body.items.map((i: any) => i.id).sort()).toEqual([...made].sort());
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const qs: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const r = await api(base, 'GET', `/v1/conversations${qs}`, { token: a.token });
      seen.push(...r.body.items.map((i: any) => i.id));
      cursor = r.body.nextCursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(full.body.items.map((i: any) => i.id));
  });

  it('bad limit or cursor → 400', async () => {
    const a = await register(base);
    for (const qs of ['limit=0', 'limit=201', 'limit=abc', 'limit=-3', 'cursor=%%%garbage', 'bogus=1']) {
      expectError(await api(base, 'GET', `/v1/conversations?${qs}`, { token: a.token }), 400, 'invalid_request');
    }
    expect((await api(base, 'GET', '/v1/conversations?limit=200', { token: a.token })).status).toBe(200);
  });
});

describe('GET /v1/conversations/:id', () => {
  it('answers the summary plus members [{userId, role, lastReadSeq, joinedAt}]', async () => {
    const a = await register(base);
    const b = await register(base);
    const id = await group(base, a, [b], 'detail');
    await sent(base, a, id, 'one');
    await sent(base, a, id, 'two');
    expect((await api(base, 'POST', `/v1/conversations/${id}/read`, { token: b.token, body: { seq: 1 } })).status).toBe(204);
    const c = await getConv(base, b, id);
    expectDetail(c);
    expect(c).toMatchObject({ id, kind: 'group', title: 'detail', lastSeq: 2, lastReadSeq: 1, unreadCount: 1 });
    expect(c.lastMessage.body).toBe('two');
    expect(memberOf(c, b.id)).toMatchObject({ role: 'member', lastReadSeq: 1 });
    expect(memberOf(c, a.id)).toMatchObject({ role: 'owner' });
    // the list item equals the detail minus members
    const list = await api(base, 'GET', '/v1/conversations', { token: b.token });
    const { members: _members, ...summary } = c;
    expect(list.body.items.find((i: any) => i.id === id)).toEqual(summary);
  });

  it('unknown id → 404', async () => {
    const a = await register(base);
    expectError(await api(base, 'GET', `/v1/conversations/${NO_SUCH_ID}`, { token: a.token }), 404, 'not_found');
  });
});

describe('a non-member gets 404, never 403, on every conversation route', () => {
  let owner: TestUser;
  let outsider: TestUser;
  let priv: string;
  let pubChannel: string;
  beforeAll(async () => {
    owner = await register(base);
    outsider = await register(base);
    priv = await group(base, owner, [], 'secret');
    await sent(base, owner, priv, 'secret message');
    pubChannel = (await create(owner, { kind: 'channel', title: 'open', public: true })).body.id;
    await sent(base, owner, pubChannel, 'public message');
  });

  const routes = (id: string): [string, string, unknown?][] => [
    ['GET', `/v1/conversations/${id}`],
    ['PATCH', `/v1/conversations/${id}`, { title: 'hijacked' }],
    ['POST', `/v1/conversations/${id}/members`, { userIds: [NO_SUCH_ID] }],
    ['DELETE', `/v1/conversations/${id}/members/${NO_SUCH_ID}`],
    ['POST', `/v1/conversations/${id}/messages`, { clientMsgId: 'x1', body: 'hello?' }],
    ['GET', `/v1/conversations/${id}/messages`],
    ['GET', `/v1/conversations/${id}/events`],
    ['POST', `/v1/conversations/${id}/read`, { seq: 1 }],
    ['PATCH', `/v1/conversations/${id}/messages/1`, { body: 'edited' }],
    ['DELETE', `/v1/conversations/${id}/messages/1`],
    ['PUT', `/v1/conversations/${id}/messages/1/reactions/${encodeURIComponent('👍')}`],
    ['DELETE', `/v1/conversations/${id}/messages/1/reactions/${encodeURIComponent('👍')}`],
  ];

  it('a private group', async () => {
    for (const [method, path, body] of routes(priv)) {
      const r = await api(base, method, path, { token: outsider.token, body });
      expect(`${method} ${path} → ${r.status}`).toBe(`${method} ${path} → 404`);
      expectError(r, 404, 'not_found');
    }
    // and nothing changed
    const c = await getConv(base, owner, priv);
    expect(c).toMatchObject({ title: 'secret', lastSeq: 1 });
    expect(c.lastMessage).toMatchObject({ body: 'secret message', deleted: false, reactions: {} });
  });

  it('a public channel the caller has not joined', async () => {
    for (const [method, path, body] of routes(pubChannel)) {
      const r = await api(base, method, path, { token: outsider.token, body });
      expect(`${method} ${path} → ${r.status}`).toBe(`${method} ${path} → 404`);
      expectError(r, 404, 'not_found');
    }
  });

  it('a conversation that does not exist answers the same', async () => {
    for (const [method, path, body] of routes(NO_SUCH_ID)) {
      const r = await api(base, method, path, { token: outsider.token, body });
      expect(`${method} ${path} → ${r.status}`).toBe(`${method} ${path} → 404`);
      expectError(r, 404, 'not_found');
    }
  });

  it('a member who left is a non-member again', async () => {
    const b = await register(base);
    const id = await group(base, owner, [b], 'left behind');
    expect((await api(base, 'DELETE', `/v1/conversations/${id}/members/${b.id}`, { token: b.token })).status).toBe(204);
    expectError(await api(base, 'GET', `/v1/conversations/${id}`, { token: b.token }), 404, 'not_found');
    expectError(await send(base, b, id, 'still here?'), 404, 'not_found');
  });
});

describe('PATCH /v1/conversations/:id', () => {
  it('owner and admin rename (200, the object as GET shows it); a member → 403; each rename is an event', async () => {
    const owner = await register(base);
    const admin = await register(base);
    const member = await register(base);
    const id = await groupWithRoles(server, [
      { user: owner, role: 'owner' },
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);

    const r1 = await api(base, 'PATCH', `/v1/conversations/${id}`, { token: owner.token, body: { title: '  By owner  ' } });
    expect(r1.status).toBe(200);
    expectDetail(r1.body);
    expect(r1.body.title).toBe('By owner');
    expect(r1.body.lastSeq).toBe(1);
    expect(r1.body).toEqual(await getConv(base, owner, id));

    const r2 = await api(base, 'PATCH', `/v1/conversations/${id}`, { token: admin.token, body: { title: 'By admin' } });
    expect(r2.status).toBe(200);
    expect(r2.body.title).toBe('By admin');
    expect(r2.body).toEqual(await getConv(base, admin, id));

    expectError(await api(base, 'PATCH', `/v1/conversations/${id}`, { token: member.token, body: { title: 'By member' } }), 403, 'forbidden');
    expect((await getConv(base, member, id)).title).toBe('By admin');

    const events = await allEvents(base, member, id);
    expect(events).toHaveLength(2);
    for (const e of events) expect(keys(e)).toEqual(EVENT_KEYS);
    expect(events[0]).toMatchObject({ conversationId: id, seq: 1, kind: 'conversation.updated', actorId: owner.id, data: { title: 'By owner' } });
    expect(events[1]).toMatchObject({ conversationId: id, seq: 2, kind: 'conversation.updated', actorId: admin.id, data: { title: 'By admin' } });
    expect(events[0].data).toEqual({ title: 'By owner' });
    expect(Number.isInteger(events[0].at)).toBe(true);
  });

  it('bad bodies → 400', async () => {
    const a = await register(base);
    const id = await group(base, a, []);
    for (const body of [{}, { title: '' }, { title: '  ' }, { title: 5 }, { title: 'ok', public: true }]) {
      expectError(await api(base, 'PATCH', `/v1/conversations/${id}`, { token: a.token, body }), 400, 'invalid_request');
    }
    expect((await getConv(base, a, id)).lastSeq).toBe(0);
  });
});

describe('POST /v1/conversations/:id/members', () => {
  it('owner and admin add members (204) as member.joined events; a plain member → 403', async () => {
    const owner = await register(base);
    const admin = await register(base);
    const member = await register(base);
    const n1 = await register(base);
    const n2 = await register(base);
    const n3 = await register(base);
    const id = await groupWithRoles(server, [
      { user: owner, role: 'owner' },
      { user: admin, role: 'admin' },
      { user: member, role: 'member' },
    ]);

    const r = await api(base, 'POST', `/v1/conversations/${id}/members`, { token: owner.token, body: { userIds: [n1.id, n2.id] } });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    const r2 = await api(base, 'POST', `/v1/conversations/${id}/members`, { token: admin.token, body: { userIds: [n3.id] } });
    expect(r2.status).toBe(204);
    const r3 = await api(base, 'POST', `/v1/conversations/${id}/members`, { token: member.token, body: { userIds: [(await register(base)).id] } });
    expectError(r3, 403, 'forbidden');

    const c = await getConv(base, n3, id);
    expect(c.members).toHaveLength(6);
    for (const u of [n1, n2, n3]) expect(memberOf(c, u.id).role).toBe('member');
    expect(c.lastSeq).toBe(3);

    const events = await allEvents(base, owner, id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events.every((e) => e.kind === 'member.joined')).toBe(true);
    const byUser = Object.fromEntries(events.map((e) => [e.data.userId, e]));
    expect(byUser[n1.id]).toMatchObject({ actorId: owner.id, data: { userId: n1.id, role: 'member' } });
    expect(byUser[n2.id]).toMatchObject({ actorId: owner.id, data: { userId: n2.id, role: 'member' } });
    expect(byUser[n3.id]).toMatchObject({ actorId: admin.id, data: { userId: n3.id, role: 'member' } });
    for (const e of events) expect(keys(e.data)).toEqual(['role', 'userId']);

    // the new member sees the conversation in the list
    const list = await api(base, 'GET', '/v1/conversations', { token: n1.token });
    expect(list.body.items.map((i: any) => i.id)).toContain(id);
  });

  it('adding someone already a member, or the same user twice, adds them once', async () => {
    const owner = await register(base);
    const b = await register(base);
    const c = await register(base);
    const id = await group(base, owner, [b]);
    const rs = await Promise.all([
      api(base, 'POST', `/v1/conversations/${id}/members`, { token: owner.token, body: { userIds: [b.id, c.id, c.id] } }),
      api(base, 'POST', `/v1/conversations/${id}/members`, { token: owner.token, body: { userIds: [c.id] } }),
    ]);
    expect(rs.map((r) => r.status)).toEqual([204, 204]);
    const events = await allEvents(base, owner, id);
    expect(events.map((e) => [e.kind, e.data.userId])).toEqual([['member.joined', c.id]]);
    expect((await getConv(base, owner, id)).members).toHaveLength(3);
  });

  it('unknown user → 404; bad bodies → 400; a direct conversation refuses members', async () => {
    const a = await register(base);
    const b = await register(base);
    const id = await group(base, a, []);
    expectError(await api(base, 'POST', `/v1/conversations/${id}/members`, { token: a.token, body: { userIds: [NO_SUCH_ID] } }), 404, 'not_found');
    for (const body of [{}, { userIds: [] }, { userIds: 'x' }, { userIds: [b.id], role: 'admin' }]) {
      expectError(await api(base, 'POST', `/v1/conversations/${id}/members`, { token: a.token, body }), 400, 'invalid_request');
    }
    expect((await getConv(base, a, id)).lastSeq).toBe(0);
    const dm = (await create(a, { kind: 'direct', userId: b.id })).body.id;
    const c = await register(base);
    const r = await api(base, 'POST', `/v1/conversations/${dm}/members`, { token: a.token, body: { userIds: [c.id] } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect((await getConv(base, a, dm)).members).toHaveLength(2);
  });
});

describe('POST /v1/conversations/:id/join', () => {
  it('joins a public channel (204), idempotently, as one member.joined event', async () => {
    const owner = await register(base);
    const joiner = await register(base);
    const id = (await create(owner, { kind: 'channel', title: 'lobby', public: true })).body.id;
    await sent(base, owner, id, 'welcome');

    const r = await api(base, 'POST', `/v1/conversations/${id}/join`, { token: joiner.token });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    const again = await api(base, 'POST', `/v1/conversations/${id}/join`, { token: joiner.token });
    expect(again.status).toBe(204);

    const c = await getConv(base, joiner, id);
    expect(memberOf(c, joiner.id)).toMatchObject({ role: 'member' });
    expect(c.lastSeq).toBe(2);
    const events = await allEvents(base, joiner, id);
    expect(events.map((e) => e.kind)).toEqual(['message.created', 'member.joined']);
    expect(events[1]).toMatchObject({ seq: 2, actorId: joiner.id, data: { userId: joiner.id, role: 'member' } });
    // the joiner can now post
    expect((await send(base, joiner, id, 'hi all')).status).toBe(201);
    // joining as an existing member (the owner) changes nothing
    expect((await api(base, 'POST', `/v1/conversations/${id}/join`, { token: owner.token })).status).toBe(204);
    expect((await getConv(base, owner, id)).lastSeq).toBe(3);
  });

  it('concurrent joins by one user are one join', async () => {
    const owner = await register(base);
    const joiner = await register(base);
    const id = (await create(owner, { kind: 'channel', title: 'rush', public: true })).body.id;
    const rs = await Promise.all(Array.from({ length: 5 }, () => api(base, 'POST', `/v1/conversations/${id}/join`, { token: joiner.token })));
    expect(rs.map((r) => r.status)).toEqual([204, 204, 204, 204, 204]);
    const events = await allEvents(base, owner, id);
    expect(events.map((e) => e.kind)).toEqual(['member.joined']);
    expect((await getConv(base, owner, id)).members).toHaveLength(2);
  });

  it('a JSON content type with an empty body is fine', async () => {
    const owner = await register(base);
    const joiner = await register(base);
    const id = (await create(owner, { kind: 'channel', title: 'lobby2', public: true })).body.id;
    const res = await fetch(`${base}/v1/conversations/${id}/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${joiner.token}`, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(204);
  });

  it('a private channel or a group the caller is not in → 404, and nothing is joined', async () => {
    const owner = await register(base);
    const outsider = await register(base);
    const privChannel = (await create(owner, { kind: 'channel', title: 'vip', public: false })).body.id;
    const grp = await group(base, owner, [], 'invite only');
    const dmPeer = await register(base);
    const dm = (await create(owner, { kind: 'direct', userId: dmPeer.id })).body.id;
    for (const id of [privChannel, grp, dm, NO_SUCH_ID]) {
      expectError(await api(base, 'POST', `/v1/conversations/${id}/join`, { token: outsider.token }), 404, 'not_found');
    }
    expect((await getConv(base, owner, privChannel)).members).toHaveLength(1);
    expect((await getConv(base, owner, grp)).members).toHaveLength(1);
    expect((await getConv(base, owner, dm)).members).toHaveLength(2);
  });
});

describe('DELETE /v1/conversations/:id/members/:userId', () => {
  it('the owner removes a member (204, member.left), a member leaves (204, member.left by themselves)', async () => {
    const owner = await register(base);
    const b = await register(base);
    const c = await register(base);
    const id = await group(base, owner, [b, c]);

    const r = await api(base, 'DELETE', `/v1/conversations/${id}/members/${b.id}`, { token: owner.token });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    const leave = await api(base, 'DELETE', `/v1/conversations/${id}/members/${c.id}`, { token: c.token });
    expect(leave.status).toBe(204);

    const detail = await getConv(base, owner, id);
    expect(detail.members.map((m: any) => m.userId)).toEqual([owner.id]);
    expect(detail.lastSeq).toBe(2);
    const events = await allEvents(base, owner, id);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ seq: 1, kind: 'member.left', actorId: owner.id, data: { userId: b.id, role: 'member' } });
    expect(events[1]).toMatchObject({ seq: 2, kind: 'member.left', actorId: c.id, data: { userId: c.id, role: 'member' } });
    for (const e of events) expect(keys(e.data)).toEqual(['role', 'userId']);

    expectError(await api(base, 'GET', `/v1/conversations/${id}`, { token: b.token }), 404, 'not_found');
    const listB = await api(base, 'GET', '/v1/conversations', { token: b.token });
    expect(listB.body.items.map((i: any) => i.id)).not.toContain(id);
  });

  it('a member cannot remove others (403); an admin cannot remove the owner (403) but can remove a member', async () => {
    const owner = await register(base);
    const admin = await register(base);
    const m1 = await register(base);
    const m2 = await register(base);
    const id = await groupWithRoles(server, [
      { user: owner, role: 'owner' },
      { user: admin, role: 'admin' },
      { user: m1, role: 'member' },
      { user: m2, role: 'member' },
    ]);
    expectError(await api(base, 'DELETE', `/v1/conversations/${id}/members/${m2.id}`, { token: m1.token }), 403, 'forbidden');
    expectError(await api(base, 'DELETE', `/v1/conversations/${id}/members/${owner.id}`, { token: m1.token }), 403, 'forbidden');
    expectError(await api(base, 'DELETE', `/v1/conversations/${id}/members/${owner.id}`, { token: admin.token }), 403, 'forbidden');
    expect((await getConv(base, owner, id)).members).toHaveLength(4);
    expect((await getConv(base, owner, id)).lastSeq).toBe(0);

    const r = await api(base, 'DELETE', `/v1/conversations/${id}/members/${m2.id}`, { token: admin.token });
    expect(r.status).toBe(204);
    const events = await allEvents(base, owner, id);
    expect(events).toEqual([
      { conversationId: id, seq: 1, kind: 'member.left', actorId: admin.id, at: expect.any(Number), data: { userId: m2.id, role: 'member' } },
    ]);
    // the owner removes the admin; the event carries the admin's role
    expect((await api(base, 'DELETE', `/v1/conversations/${id}/members/${admin.id}`, { token: owner.token })).status).toBe(204);
    const last = (await allEvents(base, owner, id)).at(-1);
    expect(last).toMatchObject({ seq: 2, kind: 'member.left', actorId: owner.id, data: { userId: admin.id, role: 'admin' } });
  });

  it('removing someone who is not a member → 404', async () => {
    const owner = await register(base);
    const stranger = await register(base);
    const id = await group(base, owner, []);
    expectError(await api(base, 'DELETE', `/v1/conversations/${id}/members/${stranger.id}`, { token: owner.token }), 404, 'not_found');
    expect((await getConv(base, owner, id)).lastSeq).toBe(0);
  });
});

describe('event log seq across member and conversation events', () => {
  it('member.joined, conversation.updated, messages and member.left share one gap-free seq', async () => {
    const owner = await register(base);
    const b = await register(base);
    const id = (await create(owner, { kind: 'channel', title: 'mixed', public: true })).body.id;
    await sent(base, owner, id, 'm1');
    expect((await api(base, 'POST', `/v1/conversations/${id}/join`, { token: b.token })).status).toBe(204);
    expect((await api(base, 'PATCH', `/v1/conversations/${id}`, { token: owner.token, body: { title: 'renamed' } })).status).toBe(200);
    await sent(base, b, id, 'm2');
    expect((await api(base, 'DELETE', `/v1/conversations/${id}/members/${b.id}`, { token: b.token })).status).toBe(204);
    const events = await allEvents(base, owner, id);
    expect(events.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'message.created'],
      [2, 'member.joined'],
      [3, 'conversation.updated'],
      [4, 'message.created'],
      [5, 'member.left'],
    ]);
    expect(events[2].data).toEqual({ title: 'renamed' });
    expect(events[3].data.seq).toBe(4);
    expect((await getConv(base, owner, id)).lastSeq).toBe(5);
  });
});
