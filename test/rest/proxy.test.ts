/** TRUST_PROXY: behind a proxy, per-address limits key on the client's address, not the proxy's. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, register } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.stop())));

async function failLogin(s: TestServer, username: string, from: string) {
  return api(s.url, 'POST', '/v1/auth/login', { body: { username, password: 'wrong password' }, headers: { 'x-forwarded-for': from } });
}

describe('failed-login limit behind a proxy', () => {
  let trusted: TestServer;
  let direct: TestServer;
  beforeAll(async () => {
    trusted = await startTestServer({ TRUST_PROXY: true, LOGIN_RATE_LIMIT: 2 });
    direct = await startTestServer({ LOGIN_RATE_LIMIT: 2 });
    servers.push(trusted, direct);
  });

  it('with TRUST_PROXY, each forwarded client has its own allowance', async () => {
    const u = await register(trusted.url);
    expect((await failLogin(trusted, u.username, '203.0.113.1')).status).toBe(401);
    expect((await failLogin(trusted, u.username, '203.0.113.1')).status).toBe(401);
    expect((await failLogin(trusted, u.username, '203.0.113.1')).status).toBe(429);
    expect((await failLogin(trusted, u.username, '203.0.113.2')).status).toBe(401);
  });

  it('without it, X-Forwarded-For is ignored: a client cannot pick a fresh address per try', async () => {
    const u = await register(direct.url);
    expect((await failLogin(direct, u.username, '203.0.113.1')).status).toBe(401);
    expect((await failLogin(direct, u.username, '203.0.113.2')).status).toBe(401);
    expect((await failLogin(direct, u.username, '203.0.113.3')).status).toBe(429);
  });
});
