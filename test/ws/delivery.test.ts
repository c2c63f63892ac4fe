/** The delivery guarantee on one node: in order, no gaps, no duplicates; resume, the 1,000-event cap and gap; membership changes live. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, until, type Socket } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { addMembers, connectUser, expectAlive, lastSeen, lastSeqOf, range, removeMember, restSend, seedMessages, seqsOf, waitSeq } from './util.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe('many senders, one group', () => {
  it('20 users each send 10 messages concurrently: every connection gets seqs 1..200 exactly once, in order', async () => {
    const USERS = 20;
    const PER_USER = 10;
    const users = await Promise.all(Array.from({ length: USERS }, () => register(server.url)));
    const conv = await group(server.url, users[0]!, users.slice(1));
    const sockets = await Promise.all(users.map(async (u) => (await connectUser(server.url, u)).socket));

    const replies = await Promise.all(
      sockets.flatMap((s, i) =>
        Array.from({ length: PER_USER }, (_, k) => s.request('send', { conversationId: conv, clientMsgId: `u${i}-m${k}`, body: `from ${i}: ${k}` })),
      ),
    );
    const total = USERS * PER_USER;
    expect(replies.every((r) => r.ok)).toBe(true);
    expect(replies.map((r) => r.data.message.seq).sort((x, y) => x - y)).toEqual(range(1, total));

    await Promise.all(sockets.map((s) => waitSeq(s, conv, total)));
    await Promise.all(sockets.map((s) => expectAlive(s)));
    const bySeq = new Map(replies.map((r) => [r.data.message.seq, r.data.message]));
    for (const s of sockets) {
      expect(seqsOf(s, conv)).toEqual(range(1, total));
      for (const e of s.events(conv)) expect(e.data).toEqual(bySeq.get(e.seq));
    }
    // Each sender's own messages arrive in the order that sender sent them.
    const first = sockets[0]!.events(conv);
    for (let i = 0; i < USERS; i++) {
      const mine = first.filter((e) => e.actorId === users[i]!.id).map((e) => (e.data as { clientMsgId: string }).clientMsgId);
      expect(mine).toEqual(Array.from({ length: PER_USER }, (_, k) => `u${i}-m${k}`));
    }
    for (const s of sockets) s.close();
  });
});

describe('drop and resume', () => {
  it('a client that drops while others keep sending resumes with exactly the missed events, then live ones', async () => {
    const [a, b, c] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b, c]);
    const sa = (await connectUser(server.url, a)).socket;
    const sb = (await connectUser(server.url, b)).socket;
    const c1 = (await connectUser(server.url, c)).socket;

    let acked = 0;
    let stop = false;
    const sender = async (s: Socket, name: string) => {
      for (let i = 0; !stop; i++) {
        const r = await s.request('send', { conversationId: conv, clientMsgId: `${name}${i}`, body: `${name} ${i}` });
        if (!r.ok) throw new Error(`send failed: ${JSON.stringify(r)}`);
        acked++;
      }
    };
    const sending = Promise.all([sender(sa, 'a'), sender(sb, 'b')]);

    await until(() => seqsOf(c1, conv).length >= 20, 'c1 saw 20 events');
    c1.kill();
    const seen = lastSeen(c1, conv);
    expect(seqsOf(c1, conv)).toEqual(range(1, seen));
    await until(() => acked >= seen + 20, 'more sent while c was away');

    const { socket: c2, hello } = await connectUser(server.url, c, [{ conversationId: conv, afterSeq: seen }]);
    expect(hello.conversations).toHaveLength(1);
    expect(hello.conversations[0].lastSeq).toBeGreaterThan(seen);
    // Keep sending a while after the resume, so replay and live traffic overlap.
    const atResume = acked;
    await until(() => acked >= atResume + 30, 'more sent after the resume');
    stop = true;
    await sending;
    const total = await lastSeqOf(server.url, a, conv);
    expect(total).toBe(acked);
    await waitSeq(c2, conv, total);
    await expectAlive(c2);
    expect(seqsOf(c2, conv)).toEqual(range(seen + 1, total));
    expect(c2.frames.filter((f) => f.type === 'gap')).toEqual([]);
    expect(c2.frames[0]).toMatchObject({ type: 'reply', ok: true });
    // The live members got everything exactly once too.
    for (const s of [sa, sb]) {
      await waitSeq(s, conv, total);
      expect(seqsOf(s, conv)).toEqual(range(1, total));
    }

    // Live after the replay.
    const more = await restSend(server.url, a, conv, 'live after resume');
    await waitSeq(c2, conv, more.seq);
    expect(seqsOf(c2, conv)).toEqual(range(seen + 1, more.seq));
    for (const s of [sa, sb, c2]) s.close();
  });

  it('resume from afterSeq 0 replays everything; resume at lastSeq replays nothing', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    for (let i = 0; i < 5; i++) await restSend(server.url, a, conv, `m${i}`);
    const full = (await connectUser(server.url, b, [{ conversationId: conv, afterSeq: 0 }])).socket;
    await waitSeq(full, conv, 5);
    const none = (await connectUser(server.url, b, [{ conversationId: conv, afterSeq: 5 }])).socket;
    await expectAlive(none);
    expect(none.events(conv)).toEqual([]);
    const live = await restSend(server.url, a, conv, 'six');
    await waitSeq(none, conv, live.seq);
    await waitSeq(full, conv, live.seq);
    expect(seqsOf(none, conv)).toEqual([6]);
    expect(seqsOf(full, conv)).toEqual(range(1, 6));
    full.close();
    none.close();
  });

  it('resume entries for a conversation the user is not in are ignored (nothing leaks)', async () => {
    const [a, b, outsider] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    await restSend(server.url, a, conv, 'private');
    const { socket, hello } = await connectUser(server.url, outsider, [{ conversationId: conv, afterSeq: 0 }]);
    expect(hello.conversations).toEqual([]);
    await restSend(server.url, a, conv, 'still private');
    await expectAlive(socket);
    expect(socket.frames.filter((f) => f.type !== 'reply')).toEqual([]);
    socket.close();
  });

  it('resume from an afterSeq past the end loses no live event', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    for (let i = 0; i < 3; i++) await restSend(server.url, a, conv, `m${i}`);
    const { socket } = await connectUser(server.url, b, [{ conversationId: conv, afterSeq: 50 }]);
    const live = await restSend(server.url, a, conv, 'four');
    expect(live.seq).toBe(4);
    await waitSeq(socket, conv, 4, 3_000);
    expect(seqsOf(socket, conv)).toEqual([4]);
    socket.close();
  });

  it('several conversations resumed at once each replay from their own afterSeq', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const c1 = await group(server.url, a, [b], 'one');
    const c2 = await group(server.url, a, [b], 'two');
    const c3 = await group(server.url, a, [b], 'three');
    for (let i = 0; i < 4; i++) await Promise.all([c1, c2, c3].map((c) => restSend(server.url, a, c, `m${i}`)));
    const { socket } = await connectUser(server.url, b, [
      { conversationId: c1, afterSeq: 1 },
      { conversationId: c2, afterSeq: 3 },
    ]);
    await waitSeq(socket, c1, 4);
    await waitSeq(socket, c2, 4);
    await Promise.all([c1, c2, c3].map((c) => restSend(server.url, a, c, 'live')));
    await Promise.all([c1, c2, c3].map((c) => waitSeq(socket, c, 5)));
    expect(seqsOf(socket, c1)).toEqual([2, 3, 4, 5]);
    expect(seqsOf(socket, c2)).toEqual([4, 5]);
    expect(seqsOf(socket, c3)).toEqual([5]); // not resumed: live only
    socket.close();
  });
});

describe('resume past 1,000 missed events', () => {
  it('sends exactly 1,000 events, then one gap {afterSeq: last sent, throughSeq: lastSeq now}, then live events', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    await seedMessages(server, conv, a, 1_250);
    const lastSeq = await lastSeqOf(server.url, a, conv);
    expect(lastSeq).toBe(1_250);

    const AFTER = 7;
    const { socket, hello } = await connectUser(server.url, b, [{ conversationId: conv, afterSeq: AFTER }]);
    expect(hello.conversations).toEqual([{ id: conv, lastSeq, lastReadSeq: 0 }]);
    const gap = await socket.waitFor((f) => f.type === 'gap', 'gap frame', 10_000);
    expect(gap).toEqual({ type: 'gap', conversationId: conv, afterSeq: AFTER + 1_000, throughSeq: lastSeq });
    expect(seqsOf(socket, conv)).toEqual(range(AFTER + 1, AFTER + 1_000));
    // Order on the wire: the hello reply, the 1,000 events, then the gap.
    const gapAt = socket.frames.indexOf(gap);
    expect(gapAt).toBe(1_001);
    expect(socket.frames[0]).toMatchObject({ type: 'reply', ok: true });

    // Live events follow from throughSeq + 1; nothing of the gap's range is sent.
    const live = await restSend(server.url, a, conv, 'after the gap');
    expect(live.seq).toBe(lastSeq + 1);
    await waitSeq(socket, conv, live.seq);
    await expectAlive(socket);
    expect(seqsOf(socket, conv)).toEqual([...range(AFTER + 1, AFTER + 1_000), live.seq]);
    expect(socket.frames.filter((f) => f.type === 'gap')).toHaveLength(1);

    // The client pages the gap over REST and ends up with the whole log.
    let cursor = gap.afterSeq;
    const fetched: number[] = [];
    while (cursor < gap.throughSeq) {
      const page = await api(server.url, 'GET', `/v1/conversations/${conv}/events?afterSeq=${cursor}&limit=1000`, { token: b.token });
      expect(page.status).toBe(200);
      for (const e of page.body.items) if (e.seq <= gap.throughSeq) fetched.push(e.seq);
      cursor = page.body.items.at(-1).seq;
    }
    expect(fetched).toEqual(range(gap.afterSeq + 1, gap.throughSeq));
    socket.close();
  });

  it('live sends during a capped replay: 1,000 events, the gap, then every later event once, in order', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    await seedMessages(server, conv, a, 1_200);
    const sa = (await connectUser(server.url, a)).socket;
    let stop = false;
    const sending = (async () => {
      for (let i = 0; !stop || i < 5; i++) {
        const r = await sa.request('send', { conversationId: conv, clientMsgId: `live${i}`, body: `live ${i}` });
        if (!r.ok) throw new Error(JSON.stringify(r));
      }
    })();
    const { socket } = await connectUser(server.url, b, [{ conversationId: conv, afterSeq: 0 }]);
    const gap = await socket.waitFor((f) => f.type === 'gap', 'gap', 10_000);
    stop = true;
    await sending;
    const lastSeq = await lastSeqOf(server.url, a, conv);
    await waitSeq(socket, conv, lastSeq);
    await expectAlive(socket);
    expect(gap).toMatchObject({ conversationId: conv, afterSeq: 1_000 });
    expect(gap.throughSeq).toBeGreaterThanOrEqual(1_200);
    expect(seqsOf(socket, conv)).toEqual([...range(1, 1_000), ...range(gap.throughSeq + 1, lastSeq)]);
    expect(socket.frames.indexOf(gap)).toBe(1_001);
    sa.close();
    socket.close();
  });

  it('history over a long log: defaults (100 events, 50 messages) and maxima (1,000 events, 200 messages)', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    await seedMessages(server, conv, a, 1_050);
    const { socket } = await connectUser(server.url, b);
    const events = await socket.request('history', { conversationId: conv, afterSeq: 0 });
    expect(events.data.events.map((e: any) => e.seq)).toEqual(range(1, 100));
    const page = await socket.request('history', { conversationId: conv, afterSeq: 40, limit: 1_000 });
    expect(page.data.events.map((e: any) => e.seq)).toEqual(range(41, 1_040));
    expect(await socket.request('history', { conversationId: conv, afterSeq: 0, limit: 1_001 })).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const messages = await socket.request('history', { conversationId: conv, beforeSeq: 1_051 });
    expect(messages.data.messages.map((m: any) => m.seq)).toEqual(range(1_001, 1_050).reverse());
    const most = await socket.request('history', { conversationId: conv, beforeSeq: 500, limit: 200 });
    expect(most.data.messages.map((m: any) => m.seq)).toEqual(range(300, 499).reverse());
    expect(await socket.request('history', { conversationId: conv, beforeSeq: 500, limit: 201 })).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    await expectAlive(socket);
    socket.close();
  });

  it('exactly 1,000 missed: all of them, and no gap', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    await seedMessages(server, conv, a, 1_000);
    const { socket } = await connectUser(server.url, b, [{ conversationId: conv, afterSeq: 0 }]);
    await waitSeq(socket, conv, 1_000);
    const live = await restSend(server.url, a, conv, 'next');
    await waitSeq(socket, conv, live.seq);
    expect(seqsOf(socket, conv)).toEqual(range(1, 1_001));
    expect(socket.frames.filter((f) => f.type === 'gap')).toEqual([]);
    socket.close();
  });
});

describe('membership changes while connected', () => {
  it('a group created with the user while connected delivers its events live, to the creator’s connection too', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const sa = (await connectUser(server.url, a)).socket;
    const sb = (await connectUser(server.url, b)).socket;
    const conv = await group(server.url, a, [b], 'made while connected');
    const m = await restSend(server.url, a, conv, 'first message of a new group');
    expect(m.seq).toBe(1);
    for (const s of [sa, sb]) {
      const ev = await waitSeq(s, conv, 1, 3_000);
      expect(ev).toMatchObject({ kind: 'message.created', data: { id: m.id } });
    }
    sa.close();
    sb.close();
  });

  it('a direct conversation opened with the user while connected delivers its events live', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const sb = (await connectUser(server.url, b)).socket;
    const r = await api(server.url, 'POST', '/v1/conversations', { token: a.token, body: { kind: 'direct', userId: b.id } });
    expect(r.status).toBe(201);
    const m = await restSend(server.url, a, r.body.id, 'hi, direct');
    await waitSeq(sb, r.body.id, m.seq, 3_000);
    sb.close();
  });

  it('a channel the user creates while connected delivers its events live', async () => {
    const a = await register(server.url);
    const sa = (await connectUser(server.url, a)).socket;
    const r = await api(server.url, 'POST', '/v1/conversations', { token: a.token, body: { kind: 'channel', title: 'news', public: true } });
    expect(r.status).toBe(201);
    const sent = await sa.request('send', { conversationId: r.body.id, clientMsgId: 'ch1', body: 'first post' });
    expect(sent.ok).toBe(true);
    await waitSeq(sa, r.body.id, sent.data.message.seq, 3_000);
    sa.close();
  });

  it('joining a public channel while connected: member.joined first, then live events, for the joiner and the members', async () => {
    const [owner, joiner] = await Promise.all([register(server.url), register(server.url)]);
    const ch = await api(server.url, 'POST', '/v1/conversations', { token: owner.token, body: { kind: 'channel', title: 'open', public: true } });
    const conv = ch.body.id;
    await restSend(server.url, owner, conv, 'before the join');
    const so = (await connectUser(server.url, owner)).socket;
    const sj = (await connectUser(server.url, joiner)).socket;
    const j = await api(server.url, 'POST', `/v1/conversations/${conv}/join`, { token: joiner.token, body: {} });
    expect(j.status).toBe(204);
    const m = await restSend(server.url, owner, conv, 'welcome');
    await waitSeq(sj, conv, m.seq);
    await waitSeq(so, conv, m.seq);
    expect(sj.events(conv).map((e) => [e.seq, e.kind])).toEqual([
      [2, 'member.joined'],
      [3, 'message.created'],
    ]);
    expect(sj.events(conv)[0]).toMatchObject({ actorId: joiner.id, data: { userId: joiner.id, role: 'member' } });
    expect(seqsOf(so, conv)).toEqual([2, 3]);
    so.close();
    sj.close();
  });

  it('a user added while connected starts receiving live, member.joined first, with no holes even under concurrent sends', async () => {
    const [a, b, d] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    for (let i = 0; i < 3; i++) await restSend(server.url, a, conv, `before ${i}`);
    const { socket: sd, hello } = await connectUser(server.url, d);
    expect(hello.conversations).toEqual([]);

    const concurrent = Array.from({ length: 10 }, (_, i) => restSend(server.url, b, conv, `during ${i}`));
    await addMembers(server.url, a, conv, [d]);
    await Promise.all(concurrent);
    const after = await restSend(server.url, a, conv, 'after');
    await waitSeq(sd, conv, after.seq);
    await expectAlive(sd);

    const got = sd.events(conv);
    expect(got[0]).toMatchObject({ kind: 'member.joined', actorId: a.id, data: { userId: d.id, role: 'member' } });
    const joinedAt = got[0]!.seq;
    expect(seqsOf(sd, conv)).toEqual(range(joinedAt, after.seq));
    // And the new member may act at once.
    const r = await sd.request('send', { conversationId: conv, clientMsgId: 'd1', body: 'hi all' });
    expect(r.ok).toBe(true);
    await waitSeq(sd, conv, r.data.message.seq);
    sd.close();
  });

  it('a user added with other connections open gets it on all of them', async () => {
    const [a, d] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, []);
    const d1 = (await connectUser(server.url, d)).socket;
    const d2 = (await connectUser(server.url, d)).socket;
    await addMembers(server.url, a, conv, [d]);
    const m = await restSend(server.url, a, conv, 'welcome');
    for (const s of [d1, d2]) {
      await waitSeq(s, conv, m.seq);
      expect(s.events(conv).map((e) => e.kind)).toEqual(['member.joined', 'message.created']);
    }
    d1.close();
    d2.close();
  });

  it('a member removed while connected gets member.left and then nothing more of that conversation', async () => {
    const [a, b, c] = await Promise.all([register(server.url), register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b, c]);
    const sb = (await connectUser(server.url, b)).socket;
    const sc = (await connectUser(server.url, c)).socket;
    await restSend(server.url, a, conv, 'hello both');
    await waitSeq(sb, conv, 1);

    await removeMember(server.url, a, conv, b);
    const left = await sb.waitFor((f) => f.type === 'event' && f.conversationId === conv && f.kind === 'member.left', 'member.left');
    expect(left).toMatchObject({ seq: 2, actorId: a.id, data: { userId: b.id, role: 'member' } });

    const later = await restSend(server.url, a, conv, 'b is gone');
    await waitSeq(sc, conv, later.seq);
    const typing = await sc.request('typing', { conversationId: conv });
    expect(typing.ok).toBe(true);
    await expectAlive(sb);
    expect(seqsOf(sb, conv)).toEqual([1, 2]);
    expect(sb.frames.some((f) => f.type === 'typing' && f.conversationId === conv)).toBe(false);
    // And b may no longer act on it.
    const r = await sb.request('send', { conversationId: conv, clientMsgId: 'ghost', body: 'still here?' });
    expect(r).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const h = await sb.request('history', { conversationId: conv, afterSeq: 0 });
    expect(h).toMatchObject({ ok: false, error: { code: 'not_found' } });
    // Nor is it listed on the next connection.
    const { hello } = await connectUser(server.url, b);
    expect(hello.conversations).toEqual([]);
    sb.close();
    sc.close();
  });

  it('a member who leaves on their own gets member.left, then nothing more', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    const sb = (await connectUser(server.url, b)).socket;
    const sa = (await connectUser(server.url, a)).socket;
    await removeMember(server.url, b, conv, b);
    const left = await sb.waitFor((f) => f.type === 'event' && f.kind === 'member.left', 'member.left');
    expect(left).toMatchObject({ conversationId: conv, seq: 1, actorId: b.id, data: { userId: b.id } });
    const later = await restSend(server.url, a, conv, 'alone now');
    await waitSeq(sa, conv, later.seq);
    await expectAlive(sb);
    expect(seqsOf(sb, conv)).toEqual([1]);
    sa.close();
    sb.close();
  });

  it('removed and added again while connected: live again from the new member.joined', async () => {
    const [a, b] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, a, [b]);
    const sb = (await connectUser(server.url, b)).socket;
    await removeMember(server.url, a, conv, b);
    await waitSeq(sb, conv, 1);
    await restSend(server.url, a, conv, 'while b is out'); // 2
    await addMembers(server.url, a, conv, [b]); // 3
    const back = await restSend(server.url, a, conv, 'b is back'); // 4
    await waitSeq(sb, conv, back.seq);
    await expectAlive(sb);
    expect(sb.events(conv).map((e) => [e.seq, e.kind])).toEqual([
      [1, 'member.left'],
      [3, 'member.joined'],
      [4, 'message.created'],
    ]);
    sb.close();
  });
});
