/** Presence: watch replies, online/offline pushes to watchers only, the grace period, and the watch limit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register, until, type Socket } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connectUser, expectAlive, RawWs } from './util.ts';

const GRACE = 50;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ PRESENCE_GRACE_MS: GRACE });
});
afterAll(() => server.stop());

const presenceOf = (s: Socket, userId: string) => s.frames.filter((f) => f.type === 'presence' && f.userId === userId);

describe('watch and presence frames', () => {
  it('offline → online → offline, with lastSeenAt, within the grace period', async () => {
    const [watcher, target] = await Promise.all([register(server.url), register(server.url)]);
    const w = (await connectUser(server.url, watcher)).socket;

    const r = await w.request('watch', { userIds: [target.id] });
    expect(r.ok).toBe(true);
    expect(r.data.presence).toHaveLength(1);
    expect(r.data.presence[0]).toMatchObject({ userId: target.id, status: 'offline' });
    expect(r.data.presence[0].lastSeenAt === null || typeof r.data.presence[0].lastSeenAt === 'number').toBe(true);

    const beforeConnect = Date.now();
    const t = (await connectUser(server.url, target)).socket;
    const online = await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'online', 'online');
    expect(online).toEqual({ type: 'presence', userId: target.id, status: 'online', lastSeenAt: expect.any(Number) });
    expect(online.lastSeenAt).toBeGreaterThanOrEqual(beforeConnect - 1_000);

    // Now a watch reply says online.
    const again = (await connectUser(server.url, watcher)).socket;
    expect((await again.request('watch', { userIds: [target.id] })).data.presence[0]).toMatchObject({ userId: target.id, status: 'online' });

    const closedAt = Date.now();
    t.close();
    const offline = await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'offline', 'offline', 5_000);
    const arrived = Date.now();
    expect(offline).toEqual({ type: 'presence', userId: target.id, status: 'offline', lastSeenAt: expect.any(Number) });
    expect(arrived - closedAt).toBeLessThan(GRACE + 1_000);
    expect(offline.lastSeenAt).toBeGreaterThanOrEqual(closedAt - 50);
    expect(offline.lastSeenAt).toBeLessThanOrEqual(arrived);
    expect(presenceOf(w, target.id).map((f) => f.status)).toEqual(['online', 'offline']);

    // The watch reply now carries the same lastSeenAt.
    await again.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'offline', 'offline on the second watcher');
    const later = (await connectUser(server.url, watcher)).socket;
    expect((await later.request('watch', { userIds: [target.id] })).data.presence[0]).toEqual({
      userId: target.id,
      status: 'offline',
      lastSeenAt: offline.lastSeenAt,
    });
    for (const s of [w, again, later]) s.close();
  });

  it('a killed connection (no close handshake) also goes offline', async () => {
    const [watcher, target] = await Promise.all([register(server.url), register(server.url)]);
    const w = (await connectUser(server.url, watcher)).socket;
    const t = (await connectUser(server.url, target)).socket;
    expect((await w.request('watch', { userIds: [target.id] })).data.presence[0].status).toBe('online');
    t.kill();
    await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'offline', 'offline after kill', 5_000);
    w.close();
  });

  it('a user with two connections stays online until both close', async () => {
    const [watcher, target] = await Promise.all([register(server.url), register(server.url)]);
    const w = (await connectUser(server.url, watcher)).socket;
    expect((await w.request('watch', { userIds: [target.id] })).data.presence[0].status).toBe('offline');
    const t1 = (await connectUser(server.url, target)).socket;
    await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'online', 'online');
    const t2 = (await connectUser(server.url, target)).socket;
    t1.close();
    await t1.waitClose();
    // The grace period is the behaviour under test: wait well past it.
    await new Promise((r) => setTimeout(r, GRACE + 400));
    await expectAlive(w);
    expect(presenceOf(w, target.id).map((f) => f.status)).toEqual(['online']);
    const fresh = (await connectUser(server.url, watcher)).socket;
    expect((await fresh.request('watch', { userIds: [target.id] })).data.presence[0].status).toBe('online');

    t2.close();
    await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'offline', 'offline', 5_000);
    expect(presenceOf(w, target.id).map((f) => f.status)).toEqual(['online', 'offline']);
    w.close();
    fresh.close();
  });

  it('a quick reconnect within the grace period does not flicker offline', async () => {
    const slowGrace = await startTestServer({ PRESENCE_GRACE_MS: 500 });
    try {
      const [wu, tu] = await Promise.all([register(slowGrace.url), register(slowGrace.url)]);
      const w = (await connectUser(slowGrace.url, wu)).socket;
      const t1 = (await connectUser(slowGrace.url, tu)).socket;
      expect((await w.request('watch', { userIds: [tu.id] })).data.presence[0].status).toBe('online');
      t1.kill();
      const t2 = (await connectUser(slowGrace.url, tu)).socket;
      // Past the grace period of the first connection.
      await new Promise((r) => setTimeout(r, 800));
      await expectAlive(w);
      expect(presenceOf(w, tu.id)).toEqual([]);
      t2.close();
      await w.waitFor((f) => f.type === 'presence' && f.userId === tu.id && f.status === 'offline', 'offline', 5_000);
      w.close();
    } finally {
      await slowGrace.stop();
    }
  });

  it('connections that drop during the handshake do not leave the user online', async () => {
    const [watcher, target] = await Promise.all([register(server.url), register(server.url)]);
    const w = (await connectUser(server.url, watcher)).socket;
    expect((await w.request('watch', { userIds: [target.id] })).data.presence[0].status).toBe('offline');
    // hello and the end of the connection in one TCP write: the server meets the close while
    // still working on the hello.
    for (let i = 0; i < 5; i++) {
      const raw = await RawWs.open(server.port);
      raw.endWithText(JSON.stringify({ type: 'hello', id: 'h', token: target.token }));
      await until(() => raw.closed, 'the connection gone');
    }
    await until(
      async () => (await w.request('watch', { userIds: [target.id] })).data.presence[0].status === 'offline' || undefined,
      'the target to be offline again',
      3_000,
    );
    const pushed = presenceOf(w, target.id);
    if (pushed.length > 0) expect(pushed.at(-1).status).toBe('offline');
    await until(() => ![...server.gateway.sessions].some((x) => x.userId === target.id), 'no session left for the target');
    w.close();
  });

  it('only watched users are pushed: never-watched and unwatched users are not', async () => {
    const [w1u, w2u, stranger, dropped] = await Promise.all([register(server.url), register(server.url), register(server.url), register(server.url)]);
    const w1 = (await connectUser(server.url, w1u)).socket;
    const w2 = (await connectUser(server.url, w2u)).socket; // the control: watches both
    await w1.request('watch', { userIds: [dropped.id] });
    expect((await w1.request('unwatch', { userIds: [dropped.id] })).ok).toBe(true);
    await w2.request('watch', { userIds: [stranger.id, dropped.id] });

    for (const u of [stranger, dropped]) {
      const s = (await connectUser(server.url, u)).socket;
      await w2.waitFor((f) => f.type === 'presence' && f.userId === u.id && f.status === 'online', 'control online');
      s.close();
      await w2.waitFor((f) => f.type === 'presence' && f.userId === u.id && f.status === 'offline', 'control offline');
    }
    await expectAlive(w1);
    expect(w1.frames.filter((f) => f.type === 'presence')).toEqual([]);
    w1.close();
    w2.close();
  });

  it('presence goes only to the connection that watches, not to the watcher’s other connections', async () => {
    const [watcher, target] = await Promise.all([register(server.url), register(server.url)]);
    const watching = (await connectUser(server.url, watcher)).socket;
    const other = (await connectUser(server.url, watcher)).socket;
    await watching.request('watch', { userIds: [target.id] });
    const t = (await connectUser(server.url, target)).socket;
    await watching.waitFor((f) => f.type === 'presence' && f.userId === target.id, 'presence');
    await expectAlive(other);
    expect(other.frames.filter((f) => f.type === 'presence')).toEqual([]);
    for (const s of [watching, other, t]) s.close();
  });

  it('watch answers for several users at once, in the order asked, and ignores repeats', async () => {
    const [watcher, on, off] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const s = (await connectUser(server.url, on)).socket;
    const w = (await connectUser(server.url, watcher)).socket;
    const r = await w.request('watch', { userIds: [off.id, on.id] });
    expect(r.data.presence.map((p: any) => [p.userId, p.status])).toEqual([
      [off.id, 'offline'],
      [on.id, 'online'],
    ]);
    // Watching again is harmless and still answered.
    const r2 = await w.request('watch', { userIds: [on.id] });
    expect(r2.data.presence).toEqual([{ userId: on.id, status: 'online', lastSeenAt: expect.any(Number) }]);
    s.close();
    await w.waitFor((f) => f.type === 'presence' && f.userId === on.id && f.status === 'offline', 'offline');
    await expectAlive(w);
    // One watcher connection, watched twice: one push.
    expect(presenceOf(w, on.id)).toHaveLength(1);
    w.close();
  });
});

describe('the watch limit', () => {
  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

  it('more than 1,000 in one frame → error reply, connection open', async () => {
    const u = await register(server.url);
    const s = (await connectUser(server.url, u)).socket;
    const r = await s.request('watch', { userIds: ids('one', 1_001) });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(s);
    s.close();
  });

  it('more than 1,000 in all, across frames → error reply; up to 1,000 is fine', async () => {
    const u = await register(server.url);
    const s = (await connectUser(server.url, u)).socket;
    const first = await s.request('watch', { userIds: ids('a', 600) });
    expect(first.ok).toBe(true);
    expect(first.data.presence).toHaveLength(600);
    const over = await s.request('watch', { userIds: ids('b', 401) });
    expect(over).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(s);
    // Repeats do not count twice, and the refused frame added nothing: 400 more fit exactly.
    const fits = await s.request('watch', { userIds: [...ids('a', 10), ...ids('b', 400)] });
    expect(fits.ok).toBe(true);
    const full = await s.request('watch', { userIds: ['one-too-many'] });
    expect(full).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    // Unwatching frees room.
    expect((await s.request('unwatch', { userIds: ids('a', 5) })).ok).toBe(true);
    expect((await s.request('watch', { userIds: ['now-fits'] })).ok).toBe(true);
    s.close();
  });
});
