/** Limits: the slow consumer (4009), the send rate limit (rate_limited, then 4008), and allowed origins. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { group, register, until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connectUser, counterValue, expectAlive, lastSeen, lastSeqOf, openSocket, range, seqsOf, seedMessages, waitSeq } from './util.ts';

const SEND_BUFFER_LIMIT = 16_384;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    SEND_BUFFER_LIMIT,
    SEND_RATE_LIMIT: 1,
    ALLOWED_ORIGINS: ['https://good.example'],
  });
});
afterAll(() => server.stop());

describe('a connection that cannot keep up', () => {
  it('is closed with 4009 when its unsent buffer passes SEND_BUFFER_LIMIT; a reading one is not; the client resumes', async () => {
    const [writer, slow, fast] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const conv = await group(server.url, writer, [slow, fast]);
    const s = (await connectUser(server.url, slow)).socket;
    const f = (await connectUser(server.url, fast)).socket;
    const before = await counterValue(server.metrics.slowClosures);

    // Stop reading: the kernel buffers fill, then the server's own buffer grows.
    (s.ws as any)._socket.pause();
    const body = 'x'.repeat(16_000);
    let seeded = 0;
    // Small batches, each waited for by the reading member, so only the paused one falls behind.
    while ((await counterValue(server.metrics.slowClosures)) === before && seeded < 4_000) {
      await seedMessages(server, conv, writer, 25, body);
      seeded += 25;
      await waitSeq(f, conv, seeded);
    }
    expect(await counterValue(server.metrics.slowClosures)).toBe(before + 1);
    await until(() => ![...server.gateway.sessions].some((x) => x.userId === slow.id), 'the slow session is gone');

    // The reading member kept up and is still connected.
    await waitSeq(f, conv, seeded, 20_000);
    await expectAlive(f);
    expect(seqsOf(f, conv)).toEqual(range(1, seeded));

    // Reading again, the slow client finds the close code at the end of what was queued.
    (s.ws as any)._socket.resume();
    expect(await s.waitClose(20_000)).toBe(4009);
    const saw = lastSeen(s, conv);
    expect(seqsOf(s, conv)).toEqual(range(1, saw));
    expect(saw).toBeLessThan(seeded);

    // It resumes from where it got to: in order, no gaps (a gap frame when more than 1,000 were missed).
    const r = (await connectUser(server.url, slow, [{ conversationId: conv, afterSeq: saw }])).socket;
    const lastSeq = await lastSeqOf(server.url, writer, conv);
    await until(
      () => lastSeen(r, conv) === lastSeq || r.frames.some((x) => x.type === 'gap'),
      'resumed to the end or to a gap',
      20_000,
    );
    const replayed = seqsOf(r, conv);
    expect(replayed).toEqual(range(saw + 1, saw + replayed.length));
    const gap = r.frames.find((x) => x.type === 'gap');
    if (lastSeq - saw > 1_000) {
      expect(replayed).toHaveLength(1_000);
      expect(gap).toEqual({ type: 'gap', conversationId: conv, afterSeq: saw + 1_000, throughSeq: lastSeq });
    } else {
      expect(replayed.at(-1)).toBe(lastSeq);
      expect(gap).toBeUndefined();
    }
    for (const x of [f, r]) x.close();
  });
});

describe('send rate limit', () => {
  it('sends beyond the burst get an error reply rate_limited; the connection stays open', async () => {
    const u = await register(server.url);
    const conv = await group(server.url, u, []);
    const { socket } = await connectUser(server.url, u);
    // SEND_RATE_LIMIT 1: bursts of 2.
    const replies = await Promise.all(
      Array.from({ length: 4 }, (_, i) => socket.request('send', { conversationId: conv, clientMsgId: `burst${i}`, body: `b${i}` })),
    );
    expect(replies.filter((r) => r.ok)).toHaveLength(2);
    const limited = replies.filter((r) => !r.ok);
    expect(limited).toHaveLength(2);
    for (const r of limited) expect(r.error).toMatchObject({ code: 'rate_limited', message: expect.any(String) });
    await expectAlive(socket);
    // Nothing was committed for the refused frames.
    expect(await lastSeqOf(server.url, u, conv)).toBe(2);
    // Other frames are not counted as sends.
    for (let i = 0; i < 5; i++) await expectAlive(socket);
    // The bucket refills at the configured rate (the wait is the behaviour under test).
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await socket.request('send', { conversationId: conv, clientMsgId: 'later', body: 'later' })).ok).toBe(true);
    socket.close();
  });

  it('flooding on after being rate limited → close 4008', async () => {
    const u = await register(server.url);
    const conv = await group(server.url, u, []);
    const { socket } = await connectUser(server.url, u);
    for (let i = 0; i < 2; i++) {
      expect((await socket.request('send', { conversationId: conv, clientMsgId: `ok${i}`, body: 'fine' })).ok).toBe(true);
    }
    for (let i = 0; i < 40; i++) socket.send({ type: 'send', id: `f${i}`, conversationId: conv, clientMsgId: `flood${i}`, body: 'flood' });
    expect(await socket.waitClose()).toBe(4008);
    const replies = socket.frames.filter((f) => f.type === 'reply' && String(f.re).startsWith('f'));
    expect(replies.length).toBeGreaterThan(0);
    for (const r of replies) expect(r).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(await lastSeqOf(server.url, u, conv)).toBe(2);
  });

  it('the limit is per user, not per connection', async () => {
    const u = await register(server.url);
    const conv = await group(server.url, u, []);
    const s1 = (await connectUser(server.url, u)).socket;
    const s2 = (await connectUser(server.url, u)).socket;
    const replies = await Promise.all([
      s1.request('send', { conversationId: conv, clientMsgId: 'p1', body: '1' }),
      s2.request('send', { conversationId: conv, clientMsgId: 'p2', body: '2' }),
      s1.request('send', { conversationId: conv, clientMsgId: 'p3', body: '3' }),
      s2.request('send', { conversationId: conv, clientMsgId: 'p4', body: '4' }),
    ]);
    expect(replies.filter((r) => r.ok)).toHaveLength(2);
    expect(replies.filter((r) => !r.ok && r.error.code === 'rate_limited')).toHaveLength(2);
    s1.close();
    s2.close();
  });
});

describe('ALLOWED_ORIGINS', () => {
  it('an upgrade from a disallowed Origin is refused with 403', async () => {
    await expect(openSocket(server.url, { origin: 'https://evil.example' })).rejects.toThrow(/upgrade refused: 403/);
    await expect(openSocket(server.url, { headers: { Origin: 'null' } })).rejects.toThrow(/upgrade refused: 403/);
  });

  it('an allowed Origin is accepted', async () => {
    const u = await register(server.url);
    const s = await openSocket(server.url, { origin: 'https://good.example' });
    expect((await s.request('hello', { token: u.token })).ok).toBe(true);
    s.close();
  });

  it('no Origin (a non-browser client) is accepted', async () => {
    const u = await register(server.url);
    const s = await openSocket(server.url);
    expect((await s.request('hello', { token: u.token })).ok).toBe(true);
    s.close();
  });
});
