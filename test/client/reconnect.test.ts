/**
 * Reconnects against a real in-process node: the server drops the socket, the
 * socket goes silent, the client falls more than 1,000 events behind, or an
 * event goes missing. Every case must end with every seq once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyClient, type GapInfo } from '../../client/index.ts';
import type { Mutation } from '../../src/store/store.ts';
import { until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { expectEverySeqOnce, fast, newClient, Recorder, sessionsOf, tap } from './util.ts';

let server: TestServer;
const clients: ParleyClient[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

async function pair(opts: Parameters<typeof newClient>[1] = {}) {
  const alice = await newClient(server.url);
  const bob = await newClient(server.url, opts);
  clients.push(alice, bob);
  const conv = (await alice.api.createConversation({ kind: 'group', title: 'reconnects', memberIds: [bob.userId!] })).id;
  return { alice, bob, conv };
}

let n = 0;
const post = (c: ParleyClient, conv: string, body = `m${++n}`) => c.api.sendMessage(conv, { clientMsgId: `rest-${++n}`, body });

describe('reconnect and resume', () => {
  it('after the server closes the socket (1001), the client resumes: nothing missed, nothing repeated', async () => {
    const { alice, bob, conv } = await pair();
    const seen = new Recorder(bob);
    await bob.connect();
    let last = 0;
    for (let i = 0; i < 30; i++) {
      // Drops while messages keep coming: at 10 and at 20.
      if (i === 10 || i === 20) {
        await until(() => bob.state === 'open' && sessionsOf(server, bob.userId!).length === 1, 'bob connected');
        for (const s of sessionsOf(server, bob.userId!)) s.close(1001, 'going away');
      }
      last = (await post(alice, conv)).seq;
    }
    await seen.reach(conv, last);
    expectEverySeqOnce(seen.seqs(conv), last);
    expect(seen.opens()).toBe(3);
    expect(seen.states).toContain('waiting');
    expect(bob.conversation(conv).messages()).toHaveLength(last);
  });

  it('a socket whose pings go unanswered is treated as dead and replaced', async () => {
    const { alice, bob, conv } = await pair({ heartbeatMs: 150, pingTimeoutMs: 300 });
    const seen = new Recorder(bob);
    const statuses: { state: string; reason?: string }[] = [];
    bob.on('connection', (s) => statuses.push(s));
    await bob.connect();
    await post(alice, conv);
    await seen.reach(conv, 1);
    // The server keeps the socket open but nothing it writes arrives: a half-dead connection.
    const [session] = sessionsOf(server, bob.userId!);
    tap(session!, { outgoing: () => false });
    const { seq } = await post(alice, conv);
    await until(() => seen.opens() === 2, 'a new connection', 10_000);
    await seen.reach(conv, seq);
    expectEverySeqOnce(seen.seqs(conv), seq);
    expect(statuses.find((s) => s.state === 'waiting')).toMatchObject({ reason: 'no reply to ping' });
  });

  it('a new client given resumePoints() of an earlier one picks up where it stopped', async () => {
    const { alice, bob, conv } = await pair();
    const seen = new Recorder(bob);
    await bob.connect();
    for (let i = 0; i < 3; i++) await post(alice, conv);
    await seen.reach(conv, 3);
    const points = bob.resumePoints();
    expect(points).toContainEqual({ conversationId: conv, afterSeq: 3 });
    const tokens = bob.tokens;
    bob.close();
    for (let i = 0; i < 3; i++) await post(alice, conv);

    const later = new ParleyClient({ ...fast, baseUrl: server.url, tokens, resume: points });
    clients.push(later);
    const seenLater = new Recorder(later);
    await later.connect();
    await seenLater.reach(conv, 6);
    expect(seenLater.seqs(conv)).toEqual([4, 5, 6]);
  });
});

describe('gaps', () => {
  it('resuming more than 1,000 events behind: the client fills the gap over REST, holding live events, and ends with every seq once', async () => {
    const eventPages: string[] = [];
    // A slow REST fill, so live events certainly arrive while it runs.
    const slowFetch: typeof fetch = async (input, init) => {
      const url = String(input);
      if (url.includes('/events')) {
        eventPages.push(url);
        await new Promise((r) => setTimeout(r, 300));
      }
      return fetch(input, init);
    };
    const { alice, bob, conv } = await pair({ fetch: slowFetch });
    const seen = new Recorder(bob);
    const gaps: GapInfo[] = [];
    let filledAt = 0;
    bob.on('gap', (g) => {
      gaps.push(g);
      if (g.phase === 'end') filledAt = Date.now();
    });
    await bob.connect();
    for (let i = 0; i < 3; i++) await post(alice, conv);
    await seen.reach(conv, 3);
    bob.disconnect();

    const missed = 1_500;
    const batch: Mutation[] = Array.from({ length: missed }, (_, i) => ({
      kind: 'message.create',
      conversationId: conv,
      actorId: alice.userId!,
      at: Date.now(),
      message: { id: `gap-${conv}-${i}`, clientMsgId: `gap-${i}`, body: `missed ${i}`, replyToSeq: null, attachments: [] },
    }));
    await server.chat.store.applyBatch(batch);
    const through = 3 + missed;

    await bob.connect();
    await until(() => gaps.some((g) => g.phase === 'start'), 'the gap');
    // Live while the gap is being filled.
    let last = through;
    for (let i = 0; i < 10; i++) last = (await post(alice, conv)).seq;
    const postedAt = Date.now();
    await seen.reach(conv, last, 20_000);
    // The live events were committed and pushed while the fill still ran: they were held, then handed on after it.
    expect(filledAt).toBeGreaterThan(postedAt);

    expectEverySeqOnce(seen.seqs(conv), last);
    expect(gaps).toEqual([
      { conversationId: conv, afterSeq: 3 + 1_000, throughSeq: through, reason: 'server', phase: 'start' },
      { conversationId: conv, afterSeq: 3 + 1_000, throughSeq: through, reason: 'server', phase: 'end' },
    ]);
    expect(eventPages.length).toBeGreaterThanOrEqual(1);
    expect(eventPages[0]).toContain('afterSeq=1003');
    expect(bob.conversation(conv).messages()).toHaveLength(last);
  });

  it('an event missing from the stream is fetched before the ones after it are handed on', async () => {
    const { alice, bob, conv } = await pair();
    const seen = new Recorder(bob);
    const gaps: GapInfo[] = [];
    bob.on('gap', (g) => gaps.push(g));
    await bob.connect();
    await post(alice, conv);
    await seen.reach(conv, 1);
    // The network loses the frame of seq 2 (the server believes it sent it).
    const [session] = sessionsOf(server, bob.userId!);
    tap(session!, { outgoing: (f) => !(f.includes('"type":"event"') && JSON.parse(f).seq === 2) });
    await post(alice, conv);
    const { seq } = await post(alice, conv);
    await seen.reach(conv, seq);
    expectEverySeqOnce(seen.seqs(conv), 3);
    expect(gaps.map((g) => [g.reason, g.afterSeq, g.throughSeq, g.phase])).toEqual([
      ['hole', 1, 2, 'start'],
      ['hole', 1, 2, 'end'],
    ]);
  });
});
