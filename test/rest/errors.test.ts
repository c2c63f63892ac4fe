/** The error table across routes, request limits, origins, and the operational endpoints. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { expectError, getConv, sent } from './util.ts';

let server: TestServer;
let base: string;
let owner: TestUser;
let other: TestUser;
let conv: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  owner = await register(base);
  other = await register(base);
  conv = await group(base, owner, [other], 'errors');
  await sent(base, owner, conv, 'first');
});
afterAll(() => server.stop());

const NO_SUCH_ID = '01HZZZZZZZZZZZZZZZZZZZZZZZ';
const thumbs = encodeURIComponent('👍');

/** Every authenticated REST route, with a body that would be valid. */
const authedRoutes = (): [string, string, unknown?][] => [
  ['GET', '/v1/me'],
  ['PATCH', '/v1/me', { displayName: 'x' }],
  ['GET', '/v1/users?q=a'],
  ['GET', `/v1/users/${other.id}`],
  ['POST', `/v1/users/${other.id}/block`],
  ['DELETE', `/v1/users/${other.id}/block`],
  ['POST', '/v1/conversations', { kind: 'group', title: 't', memberIds: [] }],
  ['GET', '/v1/conversations'],
  ['GET', `/v1/conversations/${conv}`],
  ['PATCH', `/v1/conversations/${conv}`, { title: 'x' }],
  ['POST', `/v1/conversations/${conv}/members`, { userIds: [other.id] }],
  ['POST', `/v1/conversations/${conv}/join`],
  ['DELETE', `/v1/conversations/${conv}/members/${other.id}`],
  ['POST', `/v1/conversations/${conv}/messages`, { clientMsgId: 'z', body: 'x' }],
  ['GET', `/v1/conversations/${conv}/messages`],
  ['PATCH', `/v1/conversations/${conv}/messages/1`, { body: 'x' }],
  ['DELETE', `/v1/conversations/${conv}/messages/1`],
  ['PUT', `/v1/conversations/${conv}/messages/1/reactions/${thumbs}`],
  ['DELETE', `/v1/conversations/${conv}/messages/1/reactions/${thumbs}`],
  ['GET', `/v1/conversations/${conv}/events`],
  ['POST', `/v1/conversations/${conv}/read`, { seq: 1 }],
];

describe('401 unauthorized', () => {
  it('every authenticated route refuses a request without a token, and one with a bad token', async () => {
    for (const [method, path, body] of authedRoutes()) {
      const none = await api(base, method, path, { body });
      expect(`${method} ${path} → ${none.status}`).toBe(`${method} ${path} → 401`);
      expectError(none, 401, 'unauthorized');
      const bad = await api(base, method, path, { body, token: 'not.a.token' });
      expectError(bad, 401, 'unauthorized');
    }
    // nothing happened
    const c = await getConv(base, owner, conv);
    expect(c).toMatchObject({ title: 'errors', lastSeq: 1 });
    expect(c.members).toHaveLength(2);
  });
});

describe('400 invalid_request', () => {
  it('malformed JSON', async () => {
    for (const payload of ['{bad json', '{"username": "x",}', "{'a': 1}", '{"a": 1']) {
      expectError(await api(base, 'POST', '/v1/auth/login', { body: payload }), 400, 'invalid_request');
      expectError(await api(base, 'POST', `/v1/conversations/${conv}/messages`, { token: owner.token, body: payload }), 400, 'invalid_request');
    }
    expect((await getConv(base, owner, conv)).lastSeq).toBe(1);
  });

  it('a JSON body that is not an object', async () => {
    for (const payload of ['[]', '"text"', '42', 'null', 'true']) {
      expectError(await api(base, 'POST', '/v1/conversations', { token: owner.token, body: payload }), 400, 'invalid_request');
    }
  });

  it('a body that is not JSON', async () => {
    const r = await api(base, 'POST', '/v1/auth/login', {
      body: 'username=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body.error.code).toBe('invalid_request');
  });

  it('an unknown field on every REST body', async () => {
    const extra = { unexpected: 1 };
    const routes: [string, string, Record<string, unknown>, string?][] = [
      ['POST', '/v1/auth/register', { username: 'unknown_field_user', password: 'correct horse' }],
      ['POST', '/v1/auth/login', { username: owner.username, password: owner.password }],
      ['POST', '/v1/auth/refresh', { refreshToken: owner.refreshToken }],
      ['POST', '/v1/auth/logout', { refreshToken: owner.refreshToken }],
      ['PATCH', '/v1/me', { displayName: 'x' }, owner.token],
      ['POST', `/v1/users/${other.id}/block`, {}, owner.token],
      ['POST', '/v1/conversations', { kind: 'group', title: 't', memberIds: [] }, owner.token],
      ['POST', '/v1/conversations', { kind: 'direct', userId: other.id }, owner.token],
      ['POST', '/v1/conversations', { kind: 'channel', title: 't', public: true }, owner.token],
      ['PATCH', `/v1/conversations/${conv}`, { title: 'x' }, owner.token],
      ['POST', `/v1/conversations/${conv}/members`, { userIds: [other.id] }, owner.token],
      ['POST', `/v1/conversations/${conv}/join`, {}, owner.token],
      ['POST', `/v1/conversations/${conv}/messages`, { clientMsgId: 'uf', body: 'x' }, owner.token],
      ['PATCH', `/v1/conversations/${conv}/messages/1`, { body: 'x' }, owner.token],
      ['PUT', `/v1/conversations/${conv}/messages/1/reactions/${thumbs}`, {}, owner.token],
      ['POST', `/v1/conversations/${conv}/read`, { seq: 1 }, owner.token],
    ];
    for (const [method, path, body, token] of routes) {
      const r = await api(base, method, path, { token, body: { ...body, ...extra } });
      expect(`${method} ${path} → ${r.status}`).toBe(`${method} ${path} → 400`);
      expectError(r, 400, 'invalid_request');
    }
    // nothing was done by any of them
    const c = await getConv(base, owner, conv);
    expect(c).toMatchObject({ title: 'errors', lastSeq: 1, lastReadSeq: 0 });
    expect(c.lastMessage).toMatchObject({ body: 'first', reactions: {} });
    expect(await server.chat.store.getUserByUsername('unknown_field_user')).toBeNull();
    expect((await api(base, 'POST', '/v1/auth/refresh', { body: { refreshToken: owner.refreshToken } })).status).toBe(200);
  });

  it('unknown query parameters', async () => {
    expectError(await api(base, 'GET', `/v1/conversations/${conv}/messages?sort=asc`, { token: owner.token }), 400, 'invalid_request');
    expectError(await api(base, 'GET', '/v1/conversations?page=2', { token: owner.token }), 400, 'invalid_request');
  });

  it('a seq path parameter that is not a positive integer', async () => {
    for (const seq of ['abc', '1.5', '-1', '0', '1e2', '99999999999999999999', '%20']) {
      for (const [method, path, body] of [
        ['PATCH', `/v1/conversations/${conv}/messages/${seq}`, { body: 'x' }],
        ['DELETE', `/v1/conversations/${conv}/messages/${seq}`, undefined],
        ['PUT', `/v1/conversations/${conv}/messages/${seq}/reactions/${thumbs}`, undefined],
        ['DELETE', `/v1/conversations/${conv}/messages/${seq}/reactions/${thumbs}`, undefined],
      ] as const) {
        const r = await api(base, method, path, { token: owner.token, body });
        expect(`${method} ${path} → ${r.status}`).toBe(`${method} ${path} → 400`);
        expectError(r, 400, 'invalid_request');
      }
    }
    expect((await getConv(base, owner, conv)).lastSeq).toBe(1);
  });

  it('error.details, when present, lists the fields', async () => {
    const r = await api(base, 'POST', `/v1/conversations/${conv}/messages`, { token: owner.token, body: { clientMsgId: '', body: '' } });
    expectError(r, 400, 'invalid_request');
    if (r.body.error.details !== undefined) {
      expect(Array.isArray(r.body.error.details)).toBe(true);
      const text = JSON.stringify(r.body.error.details);
      expect(text).toContain('clientMsgId');
      expect(text).toContain('body');
    }
  });
});

describe('404 not_found', () => {
  it('an unknown route answers the error body, with or without a token', async () => {
    for (const [method, path] of [
      ['GET', '/v1/nope'],
      ['GET', '/nope'],
      ['POST', '/v1/me'],
      ['GET', '/v2/me'],
      ['DELETE', '/v1/conversations'],
    ]) {
      expectError(await api(base, method!, path!), 404, 'not_found');
      expectError(await api(base, method!, path!, { token: owner.token }), 404, 'not_found');
    }
  });

  it('unknown things', async () => {
    expectError(await api(base, 'GET', `/v1/users/${NO_SUCH_ID}`, { token: owner.token }), 404, 'not_found');
    expectError(await api(base, 'GET', `/v1/conversations/${NO_SUCH_ID}`, { token: owner.token }), 404, 'not_found');
    expectError(await api(base, 'PATCH', `/v1/conversations/${conv}/messages/42`, { token: owner.token, body: { body: 'x' } }), 404, 'not_found');
  });
});

describe('403, 409', () => {
  it('403 forbidden: a member without the right role', async () => {
    expectError(await api(base, 'PATCH', `/v1/conversations/${conv}`, { token: other.token, body: { title: 'mine' } }), 403, 'forbidden');
  });

  it('409 conflict: a username that is taken', async () => {
    expectError(
      await api(base, 'POST', '/v1/auth/register', { body: { username: owner.username.toUpperCase(), password: 'correct horse' } }),
      409,
      'conflict',
    );
  });
});

describe('500 internal', () => {
  it('carries no stack trace and no detail of the failure', async () => {
    const users = server.chat.users;
    const original = users.get;
    users.get = async () => {
      const err = new Error('kaboom: secret detail at /srv/parley/src/chat/users.ts:17');
      throw err;
    };
    try {
      const r = await api(base, 'GET', '/v1/me', { token: owner.token });
      expectError(r, 500, 'internal');
      const text = JSON.stringify(r.body);
      expect(text).not.toContain('kaboom');
      expect(text).not.toContain('users.ts');
      expect(text).not.toMatch(/\bat \S+ \(/);
      expect(r.body.error.details).toBeUndefined();
    } finally {
      users.get = original;
    }
    expect((await api(base, 'GET', '/v1/me', { token: owner.token })).status).toBe(200);
  });
});

describe('413 payload_too_large with MAX_BODY_BYTES 2048', () => {
  let small: TestServer;
  let u: TestUser;
  let c: string;
  beforeAll(async () => {
    small = await startTestServer({ MAX_BODY_BYTES: 2048 });
    u = await register(small.url);
    c = await group(small.url, u, []);
  });
  afterAll(() => small.stop());

  it('a body over the limit → 413, on public and authenticated routes; under it is fine', async () => {
    const big = 'x'.repeat(3000);
    expectError(await api(small.url, 'POST', '/v1/auth/login', { body: { username: u.username, password: big } }), 413, 'payload_too_large');
    expectError(
      await api(small.url, 'POST', `/v1/conversations/${c}/messages`, { token: u.token, body: { clientMsgId: 'big', body: big } }),
      413,
      'payload_too_large',
    );
    const ok = await api(small.url, 'POST', `/v1/conversations/${c}/messages`, {
      token: u.token,
      body: { clientMsgId: 'small', body: 'x'.repeat(1500) },
    });
    expect(ok.status).toBe(201);
    const detail = await api(small.url, 'GET', `/v1/conversations/${c}`, { token: u.token });
    expect(detail.body.lastSeq).toBe(1);
  });

  it('counts bytes, not characters', async () => {
    // 600 four-byte characters: 2,400 bytes of UTF-8 in 1,200 UTF-16 units
    const r = await api(small.url, 'POST', `/v1/conversations/${c}/messages`, {
      token: u.token,
      body: { clientMsgId: 'emoji', body: '😀'.repeat(600) },
    });
    expectError(r, 413, 'payload_too_large');
  });
});

describe('ALLOWED_ORIGINS https://app.example', () => {
  let strict: TestServer;
  let u: TestUser;
  beforeAll(async () => {
    strict = await startTestServer({ ALLOWED_ORIGINS: ['https://app.example'] });
    u = await register(strict.url);
  });
  afterAll(() => strict.stop());

  it('a request from another origin → 403 forbidden', async () => {
    for (const origin of ['https://evil.example', 'http://app.example', 'https://app.example.evil.com', 'null']) {
      expectError(await api(strict.url, 'GET', '/v1/me', { token: u.token, headers: { origin } }), 403, 'forbidden');
    }
    expectError(
      await api(strict.url, 'POST', '/v1/auth/login', { body: { username: u.username, password: u.password }, headers: { origin: 'https://evil.example' } }),
      403,
      'forbidden',
    );
  });

  it('the allowed origin is served, with Access-Control-Allow-Origin echoed', async () => {
    const r = await api(strict.url, 'GET', '/v1/me', { token: u.token, headers: { origin: 'https://app.example' } });
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(u.id);
    expect(r.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('a preflight from the allowed origin succeeds for the methods and headers the API uses', async () => {
    const res = await fetch(`${strict.url}/v1/me`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-methods')).toMatch(/PATCH/);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(/authorization/);
  });

  it('a request without Origin is served', async () => {
    const r = await api(strict.url, 'GET', '/v1/me', { token: u.token });
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(u.id);
  });
});

describe('operations', () => {
  it('/healthz 200', async () => {
    const r = await api(base, 'GET', '/healthz');
    expect(r.status).toBe(200);
  });

  it('/readyz 200 when storage and bus answer', async () => {
    const r = await api(base, 'GET', '/readyz');
    expect(r.status).toBe(200);
  });

  it('/readyz 503 when storage does not answer, and 200 again when it does', async () => {
    const store = server.chat.store;
    const original = store.ping;
    store.ping = async () => {
      throw new Error('database is gone');
    };
    try {
      const r = await api(base, 'GET', '/readyz');
      expect(r.status).toBe(503);
      expect(JSON.stringify(r.body ?? '')).not.toContain('database is gone');
      // the process is still alive
      expect((await api(base, 'GET', '/healthz')).status).toBe(200);
    } finally {
      store.ping = original;
    }
    expect((await api(base, 'GET', '/readyz')).status).toBe(200);
  });

  it('/metrics is Prometheus text with the node’s metrics', async () => {
    // some traffic: sends, and a socket that receives the events
    const { socket } = await Socket.connect(base, other);
    try {
      for (let i = 0; i < 3; i++) await sent(base, owner, conv, `metric ${i}`);
      await socket.waitFor((f) => f.type === 'event' && f.data?.body === 'metric 2', 'the last event');
      const r = await api(base, 'GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = r.body as string;
      expect(typeof text).toBe('string');
      for (const name of ['parley_connections', 'parley_events_appended_total', 'parley_deliveries_total', 'parley_send_ack_seconds']) {
        expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      }
      expect(text).toMatch(/^# TYPE \S*event_?loop_lag\S* /im);
      const value = (metric: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${metric} `));
        return line === undefined ? NaN : Number(line.split(' ')[1]);
      };
      expect(value('parley_connections')).toBeGreaterThanOrEqual(1);
      expect(value('parley_events_appended_total')).toBeGreaterThanOrEqual(4);
      expect(value('parley_deliveries_total')).toBeGreaterThanOrEqual(3);
      expect(value('parley_send_ack_seconds_count')).toBeGreaterThanOrEqual(4);
    } finally {
      socket.close();
    }
  });
});

describe('text every store can keep', () => {
  it('refuses NUL characters and unpaired surrogates with invalid_request', async () => {
    const srv = await startTestServer();
    try {
      const a = await register(srv.url);
      const conv = await group(srv.url, a, []);
      for (const body of ['nul \u0000 inside', 'lone \ud800 surrogate']) {
        const r = await api(srv.url, 'POST', `/v1/conversations/${conv}/messages`, { token: a.token, body: { clientMsgId: body, body } });
        expect(r.status).toBe(400);
        expect(r.body.error.code).toBe('invalid_request');
      }
      const ok = await api(srv.url, 'POST', `/v1/conversations/${conv}/messages`, { token: a.token, body: { clientMsgId: 'ok', body: 'a pair is fine: 😀' } });
      expect(ok.status).toBe(201);
    } finally {
      await srv.stop();
    }
  });
});

describe('no answer about conversations the caller is not in', () => {
  it('a non-member sending with attachments or a reply gets 404, as for a conversation that does not exist', async () => {
    const srv = await startTestServer();
    try {
      const owner = await register(srv.url);
      const outsider = await register(srv.url);
      const conv = await group(srv.url, owner, []);
      for (const extra of [{ attachments: ['f1'] }, { replyToSeq: 1 }, {}]) {
        const r = await api(srv.url, 'POST', `/v1/conversations/${conv}/messages`, {
          token: outsider.token,
          body: { clientMsgId: 'probe', body: 'probe', ...extra },
        });
        expect(r.status, JSON.stringify(extra)).toBe(404);
        expect(r.body.error.code).toBe('not_found');
      }
    } finally {
      await srv.stop();
    }
  });
});
