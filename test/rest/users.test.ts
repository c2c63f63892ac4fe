/** REST /v1/me and /v1/users: profiles, prefix search, blocks and what a block stops. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, register, uniqueName, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { expectError, keys, send, USER_KEYS } from './util.ts';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(() => server.stop());

const patchMe = (u: TestUser, body: unknown) => api(base, 'PATCH', '/v1/me', { token: u.token, body });

describe('GET /v1/me', () => {
  it('answers {id, username, displayName, createdAt} and nothing else', async () => {
    const u = await register(base);
    const r = await api(base, 'GET', '/v1/me', { token: u.token });
    expect(r.status).toBe(200);
    expect(keys(r.body)).toEqual(USER_KEYS);
    expect(r.body.id).toBe(u.id);
    expect(r.body.username).toBe(u.username);
    expect(typeof r.body.displayName).toBe('string');
    expect(Number.isInteger(r.body.createdAt)).toBe(true);
  });
});

describe('PATCH /v1/me', () => {
  it('sets displayName, trimmed, and answers the user as GET shows it', async () => {
    const u = await register(base);
    const r = await patchMe(u, { displayName: '  Alice Liddell \n' });
    expect(r.status).toBe(200);
    expect(keys(r.body)).toEqual(USER_KEYS);
    expect(r.body.displayName).toBe('Alice Liddell');
    expect(r.body.id).toBe(u.id);
    expect(r.body.username).toBe(u.username);
    const got = await api(base, 'GET', '/v1/me', { token: u.token });
    expect(got.body).toEqual(r.body);
    const other = await register(base);
    expect((await api(base, 'GET', `/v1/users/${u.id}`, { token: other.token })).body.displayName).toBe('Alice Liddell');
  });

  it('keeps non-ASCII display names exactly', async () => {
    const u = await register(base);
    const name = 'Zoë 🦊 e\u0301';
    const r = await patchMe(u, { displayName: name });
    expect(r.status).toBe(200);
    expect(r.body.displayName).toBe(name);
  });

  it.each([
    ['empty', { displayName: '' }],
    ['only whitespace', { displayName: '   \t ' }],
    ['a number', { displayName: 42 }],
    ['null', { displayName: null }],
    ['missing', {}],
    ['an unknown field', { displayName: 'ok', username: 'hijack' }],
  ])('refuses displayName %s → 400 invalid_request and changes nothing', async (_what, body) => {
    const u = await register(base);
    const before = (await api(base, 'GET', '/v1/me', { token: u.token })).body;
    expectError(await patchMe(u, body), 400, 'invalid_request');
    expect((await api(base, 'GET', '/v1/me', { token: u.token })).body).toEqual(before);
  });

  it('needs a token → 401', async () => {
    expectError(await api(base, 'PATCH', '/v1/me', { body: { displayName: 'x' } }), 401, 'unauthorized');
  });
});

describe('GET /v1/users/:id', () => {
  it('answers the public profile of another user', async () => {
    const a = await register(base);
    const b = await register(base);
    const r = await api(base, 'GET', `/v1/users/${b.id}`, { token: a.token });
    expect(r.status).toBe(200);
    expect(keys(r.body)).toEqual(USER_KEYS);
    expect(r.body).toMatchObject({ id: b.id, username: b.username });
  });

  it('unknown id → 404 not_found', async () => {
    const a = await register(base);
    expectError(await api(base, 'GET', '/v1/users/01HZZZZZZZZZZZZZZZZZZZZZZZ', { token: a.token }), 404, 'not_found');
  });

  it('needs a token → 401', async () => {
    const a = await register(base);
    expectError(await api(base, 'GET', `/v1/users/${a.id}`), 401, 'unauthorized');
  });
});

describe('GET /v1/users?q=', () => {
  const tag = `s${Math.random().toString(36).slice(2, 8)}`;
  let searcher: TestUser;
  let byName1: TestUser;
  let byName2: TestUser;
  let byDisplay: TestUser;
  let infix: TestUser;
  beforeAll(async () => {
    searcher = await register(base);
    byName1 = await register(base, `${tag}_alpha`);
    byName2 = await register(base, `${tag.toUpperCase()}_Beta`);
    byDisplay = await register(base, uniqueName('zz'));
    expect((await patchMe(byDisplay, { displayName: `${tag.toUpperCase()} Display` })).status).toBe(200);
    infix = await register(base, `x${tag}_infix`);
  });

  const search = (qs: string) => api(base, 'GET', `/v1/users?${qs}`, { token: searcher.token });
  const ids = (r: { body: any }) => (r.body.items as any[]).map((u) => u.id).sort();

  it('finds users by username prefix and displayName prefix, ignoring case, and only by prefix', async () => {
    const expected = [byName1.id, byName2.id, byDisplay.id].sort();
    const lower = await search(`q=${tag}`);
    expect(lower.status).toBe(200);
    expect(ids(lower)).toEqual(expected);
    expect(ids(await search(`q=${tag.toUpperCase()}`))).toEqual(expected);
    expect(ids(lower)).not.toContain(infix.id);
    for (const u of lower.body.items) {
      expect(keys(u)).toEqual(USER_KEYS);
    }
    // a longer prefix narrows the result
    expect(ids(await search(`q=${encodeURIComponent(`${tag}_al`)}`))).toEqual([byName1.id]);
    expect(ids(await search(`q=${encodeURIComponent(`${tag} disp`)}`))).toEqual([byDisplay.id]);
    // nothing matches
    const none = await search(`q=${tag}_nobody`);
    expect(none.status).toBe(200);
    expect(none.body.items).toEqual([]);
  });

  it('honours limit', async () => {
    const r = await search(`q=${tag}&limit=2`);
    expect(r.status).toBe(200);
    expect(r.body.items).toHaveLength(2);
    const one = await search(`q=${tag}&limit=1`);
    expect(one.body.items).toHaveLength(1);
  });

  it('missing or empty q → 400; bad limit → 400; unknown parameter → 400', async () => {
    expectError(await search(''), 400, 'invalid_request');
    expectError(await search('q='), 400, 'invalid_request');
    expectError(await search(`q=${tag}&limit=0`), 400, 'invalid_request');
    expectError(await search(`q=${tag}&limit=abc`), 400, 'invalid_request');
    expectError(await search(`q=${tag}&limit=-1`), 400, 'invalid_request');
    expectError(await search(`q=${tag}&bogus=1`), 400, 'invalid_request');
  });

  it('needs a token → 401', async () => {
    expectError(await api(base, 'GET', `/v1/users?q=${tag}`), 401, 'unauthorized');
  });
});

describe('blocks', () => {
  const direct = (from: TestUser, to: TestUser) =>
    api(base, 'POST', '/v1/conversations', { token: from.token, body: { kind: 'direct', userId: to.id } });
  const block = (by: TestUser, who: string) => api(base, 'POST', `/v1/users/${who}/block`, { token: by.token });
  const unblock = (by: TestUser, who: string) => api(base, 'DELETE', `/v1/users/${who}/block`, { token: by.token });

  it('block and unblock answer 204, idempotently', async () => {
    const a = await register(base);
    const b = await register(base);
    for (const r of [await block(a, b.id), await block(a, b.id), await unblock(a, b.id), await unblock(a, b.id)]) {
      expect(r.status).toBe(204);
      expect(r.body).toBeUndefined();
    }
  });

  it('blocking yourself → 400; an unknown user → 404; no token → 401', async () => {
    const a = await register(base);
    expectError(await block(a, a.id), 400, 'invalid_request');
    expectError(await block(a, '01HZZZZZZZZZZZZZZZZZZZZZZZ'), 404, 'not_found');
    expectError(await api(base, 'POST', `/v1/users/${a.id}/block`), 401, 'unauthorized');
    expectError(await api(base, 'DELETE', `/v1/users/${a.id}/block`), 401, 'unauthorized');
  });

  it('a block stops opening a direct conversation, either way, until unblocked', async () => {
    const a = await register(base);
    const b = await register(base);
    expect((await block(a, b.id)).status).toBe(204);
    expectError(await direct(b, a), 403, 'forbidden'); // the blocked user
    expectError(await direct(a, b), 403, 'forbidden'); // the blocker
    expect((await unblock(a, b.id)).status).toBe(204);
    const r = await direct(b, a);
    expect(r.status).toBe(201);
    expect(r.body.kind).toBe('direct');
  });

  it('a block stops sending into an existing direct conversation, either way, until unblocked', async () => {
    const a = await register(base);
    const b = await register(base);
    const conv = (await direct(a, b)).body.id as string;
    expect((await send(base, a, conv, 'before')).status).toBe(201);
    expect((await send(base, b, conv, 'before too')).status).toBe(201);

    expect((await block(b, a.id)).status).toBe(204);
    expectError(await send(base, a, conv, 'blocked one'), 403, 'forbidden');
    expectError(await send(base, b, conv, 'blocker'), 403, 'forbidden');
    // nothing was appended
    const detail = await api(base, 'GET', `/v1/conversations/${conv}`, { token: a.token });
    expect(detail.body.lastSeq).toBe(2);
    // the existing pair is not re-opened while blocked either
    expectError(await direct(a, b), 403, 'forbidden');

    expect((await unblock(b, a.id)).status).toBe(204);
    expect((await send(base, a, conv, 'after')).status).toBe(201);
    expect((await send(base, b, conv, 'after too')).status).toBe(201);
    const again = await direct(a, b);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(conv);
  });
});
