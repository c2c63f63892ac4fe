/**
 * Token life against a node whose access tokens live 2 seconds: the client
 * refreshes ahead of expiry and keeps working for several lifetimes; a
 * refused token at `hello` (close 4001) gets one retry with a new token; a
 * refused refresh token ends the login.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyApiError, ParleyClient, type ConnectionStatus, type Tokens } from '../../client/index.ts';
import { api, register, until, type TestUser } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { fast, newClient, Recorder, sessionsOf } from './util.ts';

const TTL_S = 2;
let server: TestServer;
const clients: ParleyClient[] = [];
/** Users for the refused-token tests, registered first so their access tokens expire while the refresh test runs. */
let stale: TestUser[] = [];
beforeAll(async () => {
  server = await startTestServer({ ACCESS_TOKEN_TTL: TTL_S });
  stale = await Promise.all([1, 2, 3].map(() => register(server.url)));
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

/** A fetch that counts 401 answers: proactive refresh means there are none. */
function counting() {
  const counts = { unauthorized: 0 };
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (res.status === 401) counts.unauthorized++;
    return res;
  };
  return { counts, fetch: f };
}

/** `token`, once the server no longer takes it. */
async function expiredToken(token: string): Promise<string> {
  await until(async () => (await api(server.url, 'GET', '/v1/me', { token })).status === 401, 'the token to expire', (TTL_S + 3) * 1000);
  return token;
}

describe('token refresh', () => {
  it('refreshes before expiry and keeps working, over REST and through reconnects, for several lifetimes', async () => {
    const pairs: (Tokens | null)[] = [];
    const { counts, fetch } = counting();
    const client = await newClient(server.url, { onTokens: (t) => pairs.push(t), fetch });
    clients.push(client);
    const firstAccess = client.tokens!.accessToken;
    const conv = (await client.api.createConversation({ kind: 'group', title: 'tokens', memberIds: [] })).id;
    const seen = new Recorder(client);
    await client.connect();

    const started = Date.now();
    let round = 0;
    while (Date.now() - started < 3 * TTL_S * 1000) {
      round++;
      const known = pairs.length;
      await until(() => pairs.length > known, 'a refresh', TTL_S * 2000);
      // REST with the current token.
      expect((await client.api.me()).id).toBe(client.userId);
      // A new hello with the current token.
      const opens = seen.opens();
      for (const s of sessionsOf(server, client.userId!)) s.close(1001, 'going away');
      await until(() => seen.opens() > opens && client.state === 'open', 'the reconnect', 10_000);
      const m = await client.send(conv, `round ${round}`);
      await seen.reach(conv, m.seq);
    }
    expect(round).toBeGreaterThanOrEqual(3);
    expect(pairs.length).toBeGreaterThanOrEqual(round + 1);
    expect(pairs.every((p) => p !== null)).toBe(true);
    expect(new Set(pairs.map((p) => p!.refreshToken)).size).toBe(pairs.length);
    expect(counts.unauthorized).toBe(0);
    expect(seen.states.filter((s) => s === 'closed')).toEqual([]);
    // The test means something: the first token is long dead.
    expect((await api(server.url, 'GET', '/v1/me', { token: firstAccess })).status).toBe(401);
  });
});

describe('refused tokens', () => {
  it('a 4001 at hello is retried once, at once, with a refreshed token', async () => {
    const user = stale[0]!;
    const expired = await expiredToken(user.token);
    const pairs: (Tokens | null)[] = [];
    // Stored tokens without an expiry: the client cannot know this one is dead until the server says so.
    const client = new ParleyClient({ ...fast, baseUrl: server.url, tokens: { accessToken: expired, refreshToken: user.refreshToken }, onTokens: (t) => pairs.push(t) });
    clients.push(client);
    const statuses: ConnectionStatus[] = [];
    client.on('connection', (s) => statuses.push(s));
    const hello = await client.connect();
    expect(hello.userId).toBe(user.id);
    expect(statuses.map((s) => [s.state, s.code])).toEqual([
      ['connecting', undefined],
      ['connecting', 4001],
      ['connecting', undefined],
      ['open', undefined],
    ]);
    expect(pairs).toHaveLength(1);
    expect(client.tokens!.refreshToken).not.toBe(user.refreshToken);
  });

  it('a 401 over REST renews the token once and repeats the call', async () => {
    const user = stale[1]!;
    const expired = await expiredToken(user.token);
    const { counts, fetch } = counting();
    const client = new ParleyClient({ baseUrl: server.url, tokens: { accessToken: expired, refreshToken: user.refreshToken }, fetch });
    clients.push(client);
    const [a, b] = await Promise.all([client.api.me(), client.api.me()]);
    expect(a.id).toBe(user.id);
    expect(b.id).toBe(user.id);
    expect(counts.unauthorized).toBe(2);
    // Both 401s shared one refresh: a second use of the spent refresh token would have revoked the login.
    expect((await client.api.me()).id).toBe(user.id);
  });

  it('when the refresh token is refused too, the client stops: no reconnect loop, connect() rejects, the login ends', async () => {
    const user = stale[2]!;
    const expired = await expiredToken(user.token);
    const pairs: (Tokens | null)[] = [];
    const client = new ParleyClient({ ...fast, baseUrl: server.url, tokens: { accessToken: expired, refreshToken: 'revoked' }, onTokens: (t) => pairs.push(t) });
    clients.push(client);
    const statuses: ConnectionStatus[] = [];
    client.on('connection', (s) => statuses.push(s));
    const queued = client.send('some-conversation', 'never');
    const err = await client.connect().catch((e) => e);
    expect(err).toBeInstanceOf(ParleyApiError);
    expect(err).toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(queued).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toBe('closed');
    expect(statuses.at(-1)).toMatchObject({ state: 'closed', code: 4001 });
    expect(statuses.filter((s) => s.state === 'connecting')).toHaveLength(2);
    expect(pairs).toEqual([null]);
    expect(client.tokens).toBeNull();
  });
});
