/** REST /v1/auth: register, login, refresh with rotation and reuse detection, logout, token expiry, login rate limit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, register, uniqueName } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { alignTo, expectError, keys, sleep, USER_KEYS } from './util.ts';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(() => server.stop());

const reg = (body: unknown) => api(base, 'POST', '/v1/auth/register', { body });
const login = (username: string, password: string) => api(base, 'POST', '/v1/auth/login', { body: { username, password } });
const refresh = (refreshToken: string) => api(base, 'POST', '/v1/auth/refresh', { body: { refreshToken } });
const me = (token: string) => api(base, 'GET', '/v1/me', { token });

/** A fresh name of exactly `len` characters, unique in this file. */
let n = 0;
const nameOf = (len: number) => {
  const tag = `${(++n).toString(36)}x${Math.random().toString(36).slice(2, 10)}`;
  return (tag + 'abcdefghijklmnopqrstuvwxyzabcdefgh').slice(0, len);
};

function expectAuthResult(body: any, username: string) {
  expect(keys(body)).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'user']);
  expect(keys(body.user)).toEqual(USER_KEYS);
  expect(body.user.username).toBe(username);
  expect(typeof body.user.id).toBe('string');
  expect(body.user.id.length).toBeGreaterThan(0);
  expect(typeof body.user.displayName).toBe('string');
  expect(Number.isInteger(body.user.createdAt)).toBe(true);
  expect(Math.abs(body.user.createdAt - Date.now())).toBeLessThan(60_000);
  expect(typeof body.accessToken).toBe('string');
  expect(body.accessToken.length).toBeGreaterThan(0);
  expect(typeof body.refreshToken).toBe('string');
  expect(body.refreshToken.length).toBeGreaterThan(0);
  expect(body.refreshToken).not.toBe(body.accessToken);
  expect(Number.isInteger(body.expiresIn)).toBe(true);
}

describe('POST /v1/auth/register', () => {
  it('answers 201 {user, accessToken, refreshToken, expiresIn} and the access token works', async () => {
    const username = uniqueName('reg');
    const r = await reg({ username, password: 'correct horse', displayName: 'Reggie' });
    expect(r.status).toBe(201);
    expectAuthResult(r.body, username);
    expect(r.body.user.displayName).toBe('Reggie');
    expect(r.body.expiresIn).toBe(900); // the default ACCESS_TOKEN_TTL
    const m = await me(r.body.accessToken);
    expect(m.status).toBe(200);
    expect(m.body).toEqual(r.body.user);
  });

  it('stores the username as given (case kept)', async () => {
    const username = `MiXeD.${nameOf(10)}-Case_Z`;
    const r = await reg({ username, password: 'correct horse' });
    expect(r.status).toBe(201);
    expect(r.body.user.username).toBe(username);
    expect((await me(r.body.accessToken)).body.username).toBe(username);
  });

  it('stores the password as an scrypt hash, never the password', async () => {
    const username = uniqueName('hash');
    const r = await reg({ username, password: 'correct horse battery' });
    expect(r.status).toBe(201);
    const rec = await server.chat.store.getUserByUsername(username);
    expect(rec).not.toBeNull();
    expect(rec!.passwordHash.startsWith('scrypt$')).toBe(true);
    expect(rec!.passwordHash).not.toContain('correct horse battery');
    // and the hash is not in any answer
    expect(JSON.stringify(r.body)).not.toContain('scrypt$');
  });

  it('accepts usernames of 3 and 32 characters and every allowed character', async () => {
    for (const username of [nameOf(3), nameOf(32), `a.b-c_D9${nameOf(6)}`]) {
      const r = await reg({ username, password: 'correct horse' });
      expect(r.status, username).toBe(201);
      expect(r.body.user.username).toBe(username);
    }
  });

  it.each([
    ['2 characters', 'ab'],
    ['33 characters', 'a'.repeat(33)],
    ['empty', ''],
    ['a space', 'bad name'],
    ['an @', 'bad@name'],
    ['a non-ASCII letter', 'héllo_there'],
    ['a slash', 'bad/name'],
    ['a plus', 'bad+name'],
  ])('refuses a username with %s → 400 invalid_request', async (_what, username) => {
    const r = await reg({ username, password: 'correct horse' });
    expectError(r, 400, 'invalid_request');
  });

  it('refuses a username taken ignoring case → 409 conflict', async () => {
    const username = `Taken_${nameOf(8)}`;
    expect((await reg({ username, password: 'correct horse' })).status).toBe(201);
    expectError(await reg({ username, password: 'correct horse' }), 409, 'conflict');
    expectError(await reg({ username: username.toUpperCase(), password: 'correct horse' }), 409, 'conflict');
    expectError(await reg({ username: username.toLowerCase(), password: 'other password' }), 409, 'conflict');
  });

  it('accepts passwords of 8 and 256 characters', async () => {
    for (const password of ['12345678', 'p'.repeat(256)]) {
      const username = uniqueName('pw');
      const r = await reg({ username, password });
      expect(r.status, `length ${password.length}`).toBe(201);
      expect((await login(username, password)).status).toBe(200);
    }
  });

  it.each([
    ['7 characters', '1234567'],
    ['257 characters', 'p'.repeat(257)],
    ['empty', ''],
  ])('refuses a password of %s → 400 invalid_request', async (_what, password) => {
    expectError(await reg({ username: uniqueName('pw'), password }), 400, 'invalid_request');
  });

  it.each([
    ['an unknown field', { username: 'will_be_set', password: 'correct horse', admin: true }],
    ['no password', { username: 'will_be_set' }],
    ['no username', { password: 'correct horse' }],
    ['a number for username', { username: 12345, password: 'correct horse' }],
    ['a number for password', { username: 'will_be_set', password: 12345678 }],
  ])('refuses a body with %s → 400 invalid_request', async (_what, body: any) => {
    if (body.username === 'will_be_set') body.username = uniqueName('bad');
    const r = await reg(body);
    expectError(r, 400, 'invalid_request');
    // nothing was created
    if (typeof body.username === 'string') expect(await server.chat.store.getUserByUsername(body.username)).toBeNull();
  });

  it('refuses an array or a string as the body → 400 invalid_request', async () => {
    expectError(await reg([]), 400, 'invalid_request');
    expectError(await reg('"just a string"'), 400, 'invalid_request');
  });
});

describe('POST /v1/auth/login', () => {
  it('answers 200 with the same shape for the right password, and a working new token', async () => {
    const u = await register(base);
    const r = await login(u.username, u.password);
    expect(r.status).toBe(200);
    expectAuthResult(r.body, u.username);
    expect(r.body.user.id).toBe(u.id);
    expect(r.body.refreshToken).not.toBe(u.refreshToken);
    const m = await me(r.body.accessToken);
    expect(m.status).toBe(200);
    expect(m.body.id).toBe(u.id);
  });

  it('answers 401 invalid_credentials alike for a wrong password and an unknown user', async () => {
    const u = await register(base);
    const wrong = await login(u.username, 'not the password');
    const unknown = await login(uniqueName('ghost'), 'not the password');
    expectError(wrong, 401, 'invalid_credentials');
    expectError(unknown, 401, 'invalid_credentials');
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.headers.get('retry-after')).toBeNull();
  });

  it('refuses unknown fields and missing fields → 400 invalid_request', async () => {
    const u = await register(base);
    expectError(
      await api(base, 'POST', '/v1/auth/login', { body: { username: u.username, password: u.password, remember: true } }),
      400,
      'invalid_request',
    );
    expectError(await api(base, 'POST', '/v1/auth/login', { body: { username: u.username } }), 400, 'invalid_request');
    expectError(await api(base, 'POST', '/v1/auth/login', { body: { username: 1, password: 2 } }), 400, 'invalid_request');
  });
});

describe('POST /v1/auth/refresh', () => {
  it('answers 200 with a new pair (both tokens new); the new access token works', async () => {
    await alignTo(20, 400); // issue and refresh within one wall-clock second
    const u = await register(base);
    const r = await refresh(u.refreshToken);
    expect(r.status).toBe(200);
    expectAuthResult(r.body, u.username);
    expect(r.body.user.id).toBe(u.id);
    expect(r.body.refreshToken).not.toBe(u.refreshToken);
    expect(r.body.accessToken).not.toBe(u.token);
    expect((await me(r.body.accessToken)).status).toBe(200);
    // the new refresh token rotates again
    const r2 = await refresh(r.body.refreshToken);
    expect(r2.status).toBe(200);
    expect(r2.body.refreshToken).not.toBe(r.body.refreshToken);
  });

  it('a rotated token presented again → 401, and it revokes every token of that login', async () => {
    const u = await register(base);
    const l = await login(u.username, u.password);
    const r0 = l.body.refreshToken as string;
    const r1 = (await refresh(r0)).body.refreshToken as string;
    const r2 = (await refresh(r1)).body.refreshToken as string;
    expect(typeof r2).toBe('string');

    expectError(await refresh(r0), 401, 'unauthorized'); // reuse
    expectError(await refresh(r2), 401, 'unauthorized'); // the newest of that login is gone too
    expectError(await refresh(r1), 401, 'unauthorized');

    // another login of the same user is untouched
    const other = await refresh(u.refreshToken);
    expect(other.status).toBe(200);
  });

  it('refuses an unknown token → 401, and a bad body → 400', async () => {
    expectError(await refresh('not-a-real-refresh-token'), 401, 'unauthorized');
    expectError(await api(base, 'POST', '/v1/auth/refresh', { body: {} }), 400, 'invalid_request');
    expectError(await api(base, 'POST', '/v1/auth/refresh', { body: { refreshToken: '' } }), 400, 'invalid_request');
    expectError(
      await api(base, 'POST', '/v1/auth/refresh', { body: { refreshToken: 'x', extra: 1 } }),
      400,
      'invalid_request',
    );
  });
});

describe('POST /v1/auth/logout', () => {
  it('answers 204; that refresh token is then refused (401)', async () => {
    const u = await register(base);
    const r = await api(base, 'POST', '/v1/auth/logout', { body: { refreshToken: u.refreshToken } });
    expect(r.status).toBe(204);
    expect(r.body).toBeUndefined();
    expectError(await refresh(u.refreshToken), 401, 'unauthorized');
  });

  it("revokes every refresh token of that login, not just the one presented", async () => {
    const u = await register(base);
    const r1 = (await refresh(u.refreshToken)).body.refreshToken as string;
    const other = await login(u.username, u.password);
    expect((await api(base, 'POST', '/v1/auth/logout', { body: { refreshToken: r1 } })).status).toBe(204);
    expectError(await refresh(r1), 401, 'unauthorized');
    expectError(await refresh(u.refreshToken), 401, 'unauthorized');
    // a different login of the same user survives
    expect((await refresh(other.body.refreshToken)).status).toBe(200);
  });

  it('refuses a body without refreshToken → 400', async () => {
    expectError(await api(base, 'POST', '/v1/auth/logout', { body: {} }), 400, 'invalid_request');
  });
});

describe('access tokens on protected routes', () => {
  it('no token → 401 unauthorized', async () => {
    expectError(await api(base, 'GET', '/v1/me'), 401, 'unauthorized');
  });

  it('garbage, tampered, empty or non-Bearer token → 401 unauthorized', async () => {
    const u = await register(base);
    const [h, p, s] = u.token.split('.');
    const tampered = `${h}.${p}.${s!.slice(0, -4)}${s!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    // a payload claiming another subject, with the original signature
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'someone' })).toString('base64url');
    for (const token of ['garbage', 'a.b.c', tampered, `${h}.${forgedPayload}.${s}`]) {
      expectError(await me(token), 401, 'unauthorized');
    }
    expectError(await api(base, 'GET', '/v1/me', { headers: { authorization: 'Bearer ' } }), 401, 'unauthorized');
    expectError(await api(base, 'GET', '/v1/me', { headers: { authorization: `Basic ${u.token}` } }), 401, 'unauthorized');
    expectError(await api(base, 'GET', '/v1/me', { headers: { authorization: u.token } }), 401, 'unauthorized');
    // the real one works
    expect((await me(u.token)).status).toBe(200);
  });

  it('a refresh token is not an access token → 401', async () => {
    const u = await register(base);
    expectError(await me(u.refreshToken), 401, 'unauthorized');
  });
});

describe('with ACCESS_TOKEN_TTL 1 and LOGIN_RATE_LIMIT 3', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ ACCESS_TOKEN_TTL: 1, LOGIN_RATE_LIMIT: 3 });
  });
  afterAll(() => limited.stop());

  it('expiresIn is 1; the access token works, then is refused once expired; refresh still works', async () => {
    const username = uniqueName('ttl');
    const r = await api(limited.url, 'POST', '/v1/auth/register', { body: { username, password: 'correct horse' } });
    expect(r.status).toBe(201);
    expect(r.body.expiresIn).toBe(1);
    // issue a token just after a whole second, so second-granular expiry cannot cut it short here
    await alignTo(20, 200);
    const fresh = await api(limited.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: r.body.refreshToken } });
    expect(fresh.status).toBe(200);
    expect(fresh.body.expiresIn).toBe(1);
    expect((await api(limited.url, 'GET', '/v1/me', { token: fresh.body.accessToken })).status).toBe(200);
    await sleep(2_100);
    expectError(await api(limited.url, 'GET', '/v1/me', { token: fresh.body.accessToken }), 401, 'unauthorized');
    expectError(await api(limited.url, 'GET', '/v1/me', { token: r.body.accessToken }), 401, 'unauthorized');
    // the login itself lives on
    const again = await api(limited.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: fresh.body.refreshToken } });
    expect(again.status).toBe(200);
  });

  it('an access token lives at least expiresIn seconds, also when issued late in a second', async () => {
    const u = await register(limited.url);
    await alignTo(880, 920);
    const issuedAt = Date.now();
    const r = await api(limited.url, 'POST', '/v1/auth/refresh', { body: { refreshToken: u.refreshToken } });
    expect(r.status).toBe(200);
    expect(r.body.expiresIn).toBe(1);
    // past the next whole second, but well within expiresIn of issuing
    await sleep(Math.max(0, issuedAt + 250 - Date.now()));
    const used = await api(limited.url, 'GET', '/v1/me', { token: r.body.accessToken });
    expect(Date.now() - issuedAt).toBeLessThan(900);
    expect(used.status).toBe(200);
  });

  it('the 4th failed login from one address → 429 rate_limited with Retry-After', async () => {
    const u = await register(limited.url);
    // successful logins do not count
    for (let i = 0; i < 4; i++) {
      expect((await api(limited.url, 'POST', '/v1/auth/login', { body: { username: u.username, password: u.password } })).status).toBe(200);
    }
    const bad = () => api(limited.url, 'POST', '/v1/auth/login', { body: { username: u.username, password: 'wrong password' } });
    for (let i = 0; i < 3; i++) expectError(await bad(), 401, 'invalid_credentials');
    const r = await bad();
    expectError(r, 429, 'rate_limited');
    const retry = r.headers.get('retry-after');
    expect(retry).toMatch(/^[1-9]\d*$/);
    expect(Number(retry)).toBeLessThanOrEqual(60);
    // unknown users count against the same address too
    expectError(
      await api(limited.url, 'POST', '/v1/auth/login', { body: { username: uniqueName('ghost'), password: 'whatever1' } }),
      429,
      'rate_limited',
    );
  });
});
