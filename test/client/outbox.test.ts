/**
 * The outbox against a real in-process node: messages typed offline are sent
 * exactly once after connecting, and a send whose acknowledgement was lost is
 * retried with the same clientMsgId, which the server's idempotency answers
 * with the original.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPending, ParleyClientError, type ParleyClient } from '../../client/index.ts';
import type { Session } from '../../src/gateway/session.ts';
import { until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { newClient, Recorder, sessionsOf, tap } from './util.ts';

let server: TestServer;
const clients: ParleyClient[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.stop();
});

async function solo() {
  const alice = await newClient(server.url);
  clients.push(alice);
  const conv = (await alice.api.createConversation({ kind: 'group', title: 'outbox', memberIds: [] })).id;
  return { alice, conv };
}

const created = async (c: ParleyClient, conv: string) =>
  (await c.api.events(conv, { afterSeq: 0, limit: 1000 })).items.filter((e) => e.kind === 'message.created');

describe('outbox', () => {
  it('messages typed before connecting show as pending and are sent exactly once, in order, after connect', async () => {
    const { alice, conv } = await solo();
    const sends = ['first', 'second', 'third'].map((body) => alice.send(conv, body));
    const view = alice.conversation(conv);
    expect(view.messages().map((m) => [isPending(m), m.body])).toEqual([
      [true, 'first'],
      [true, 'second'],
      [true, 'third'],
    ]);
    const ids = view.pending().map((p) => p.clientMsgId);
    expect(alice.outboxSize).toBe(3);

    await alice.connect();
    const acked = await Promise.all(sends);
    expect(acked.map((m) => [m.seq, m.body, m.clientMsgId])).toEqual([
      [1, 'first', ids[0]],
      [2, 'second', ids[1]],
      [3, 'third', ids[2]],
    ]);
    expect(alice.outboxSize).toBe(0);
    const log = await created(alice, conv);
    expect(log.map((e) => e.data.clientMsgId)).toEqual(ids);
    await until(() => view.lastSeq === 3, 'the events');
    expect(view.messages().map((m) => [isPending(m), m.body])).toEqual([
      [false, 'first'],
      [false, 'second'],
      [false, 'third'],
    ]);
  });

  it('a send made while the connection is down waits for the reconnect and is sent once', async () => {
    const { alice, conv } = await solo();
    const seen = new Recorder(alice);
    await alice.connect();
    await alice.send(conv, 'before');
    alice.disconnect();
    const sending = alice.send(conv, 'while offline');
    let settled = false;
    void sending.finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    expect(alice.conversation(conv).pending().map((p) => p.body)).toEqual(['while offline']);
    await alice.connect();
    const m = await sending;
    expect(m.seq).toBe(2);
    await seen.reach(conv, 2);
    expect((await created(alice, conv)).map((e) => e.data.body)).toEqual(['before', 'while offline']);
  });

  it('a send whose acknowledgement was lost is retried with the same clientMsgId and answered with the original', async () => {
    const { alice, conv } = await solo();
    const seen = new Recorder(alice);
    // Every `send` frame that reaches the server, on every connection of this user.
    const sendFrames: { clientMsgId: string; session: string }[] = [];
    const accept = server.gateway.accept.bind(server.gateway);
    server.gateway.accept = (transport) => {
      const session: Session = accept(transport);
      tap(session, { incoming: (f) => f.type === 'send' && sendFrames.push({ clientMsgId: f.clientMsgId, session: session.id }) });
      return session;
    };
    try {
      await alice.connect();
      const [first] = sessionsOf(server, alice.userId!);
      // From the send on, the network loses everything the server writes: the reply and the event.
      let lost = false;
      tap(first!, { incoming: (f) => f.type === 'send' && (lost = true), outgoing: () => !lost });

      const sending = alice.send(conv, 'exactly once');
      const { clientMsgId } = await until(() => sendFrames.length === 1 && sendFrames[0], 'the send to reach the server');
      // The server committed it; then the connection goes.
      await until(async () => (await created(alice, conv)).length === 1, 'the commit');
      first!.close(1001, 'going away');

      const m = await sending;
      const log = await created(alice, conv);
      expect(log).toHaveLength(1);
      expect(log[0]!.data).toMatchObject({ id: m.id, seq: m.seq, clientMsgId, body: 'exactly once' });
      // The retry went out on the new connection, with the same clientMsgId.
      expect(sendFrames.map((f) => f.clientMsgId)).toEqual([clientMsgId, clientMsgId]);
      expect(new Set(sendFrames.map((f) => f.session)).size).toBe(2);
      await seen.reach(conv, m.seq);
      expect(seen.seqs(conv)).toEqual([1]);
      expect(alice.conversation(conv).messages()).toEqual([m]);
    } finally {
      server.gateway.accept = accept;
    }
  });

  it('close() rejects what is still queued', async () => {
    const { alice, conv } = await solo();
    const sending = alice.send(conv, 'never sent');
    alice.close();
    const err = await sending.catch((e) => e);
    expect(err).toBeInstanceOf(ParleyClientError);
    expect(err.code).toBe('closed');
    expect((await created(alice, conv)).length).toBe(0);
  });
});
