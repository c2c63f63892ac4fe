/**
 * Three node processes on one PostgreSQL and one bus, once over Redis and once
 * over NATS: clients spread over the nodes see every event once, in order,
 * also when a node dies with SIGKILL in the middle of a stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket, until, type TestUser } from '../helpers/client.ts';
import { startCluster, type BusName, type Cluster } from '../helpers/cluster.ts';

const seqsOf = (s: Socket, conv: string) => s.events(conv).map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(['redis', 'nats'] as BusName[])('three nodes over PostgreSQL and %s', (bus) => {
  let cluster: Cluster;
  const url = (i: number) => cluster.nodes[i % cluster.nodes.length]!.url;

  beforeAll(async () => {
    cluster = await startCluster(3, bus);
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('clients on different nodes chat in a group and a DM: every member sees every event once, in order', async () => {
    const users: TestUser[] = [];
    for (let i = 0; i < 6; i++) users.push(await register(url(i)));
    const conv = await group(url(0), users[0]!, users.slice(1));
    const dm = (await api(url(1), 'POST', '/v1/conversations', { token: users[1]!.token, body: { kind: 'direct', userId: users[2]!.id } })).body.id;
    const sockets = await Promise.all(users.map((u, i) => Socket.connect(url(i), u).then((c) => c.socket)));

    // Concurrent senders on every node into one conversation.
    await Promise.all(
      sockets.map(async (s, i) => {
        for (let n = 0; n < 10; n++) {
          const r = await s.request('send', { conversationId: conv, clientMsgId: `g${i}-${n}`, body: `from ${i}: ${n}` });
          expect(r.ok).toBe(true);
        }
      }),
    );
    await sockets[1]!.request('send', { conversationId: dm, clientMsgId: 'dm1', body: 'hi, other node' });
    await sockets[2]!.request('send', { conversationId: dm, clientMsgId: 'dm2', body: 'hi back' });

    for (const s of sockets) await until(() => seqsOf(s, conv).length >= 60 || undefined, 'all 60 group events', 15_000);
    const reference = sockets[0]!.events(conv).map((e) => `${e.seq}:${(e.data as { clientMsgId: string }).clientMsgId}`);
    for (const s of sockets) {
      expect(seqsOf(s, conv)).toEqual(range(1, 60));
      // The same event at the same seq on every connection, whichever node it came through.
      expect(s.events(conv).map((e) => `${e.seq}:${(e.data as { clientMsgId: string }).clientMsgId}`)).toEqual(reference);
    }
    for (const s of [sockets[1]!, sockets[2]!]) {
      await until(() => seqsOf(s, dm).length >= 2 || undefined, 'both DM events');
      expect(seqsOf(s, dm)).toEqual([1, 2]);
    }
    for (const s of sockets) s.close();
  });

  it('presence spans nodes: online until the last connection anywhere closes', async () => {
    const watcher = await register(url(0));
    const target = await register(url(0));
    const { socket: w } = await Socket.connect(url(2), watcher);
    const watched = await w.request('watch', { userIds: [target.id] });
    expect(watched.data.presence[0].status).toBe('offline');
    const { socket: a } = await Socket.connect(url(0), target);
    const { socket: b } = await Socket.connect(url(1), target);
    await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'online', 'online');
    a.close();
    await new Promise((r) => setTimeout(r, 600)); // past the grace: still online through node 1
    expect(w.frames.filter((f) => f.type === 'presence' && f.status === 'offline')).toEqual([]);
    b.close();
    await w.waitFor((f) => f.type === 'presence' && f.userId === target.id && f.status === 'offline', 'offline', 10_000);
    w.close();
  });

  it('kill -9 of a node mid-stream: its clients resume elsewhere; every acknowledged message arrives once, in order', async () => {
    const users: TestUser[] = [];
    for (let i = 0; i < 6; i++) users.push(await register(url(0)));
    const conv = await group(url(0), users[0]!, users.slice(1));
    // Users 0 and 3 on the node that will die; 1, 4 on node 1; 2, 5 on node 2.
    const victim = cluster.nodes[0]!;
    const sockets = await Promise.all(users.map((u, i) => Socket.connect(url(i), u).then((c) => c.socket)));
    // A watcher on a surviving node: users[0] lives only on the victim.
    const watcher = await register(url(1));
    const { socket: w } = await Socket.connect(url(1), watcher);
    expect((await w.request('watch', { userIds: [users[0]!.id] })).data.presence[0].status).toBe('online');

    const acked = new Set<string>();
    let stop = false;
    const senders = [1, 2, 4, 5].map(async (i) => {
      for (let n = 0; !stop; n++) {
        const r = await sockets[i]!.request('send', { conversationId: conv, clientMsgId: `k${i}-${n}`, body: `${i}/${n}` });
        if (r.ok) acked.add(`k${i}-${n}`);
        await new Promise((res) => setTimeout(res, 5));
      }
    });
    await until(() => acked.size >= 40 || undefined, '40 acknowledged sends', 15_000);
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await until(() => (sockets[0]!.closeCode !== undefined && sockets[3]!.closeCode !== undefined) || undefined, 'the victim’s sockets to drop');

    // Nobody disconnected users[0]: their registration expires with the dead node (TTL 3 s) and is reaped.
    await w.waitFor((f) => f.type === 'presence' && f.userId === users[0]!.id && f.status === 'offline', 'offline after node death', 20_000);

    // The victim's clients resume on the surviving nodes from the last seq they saw.
    const resumed = await Promise.all(
      [0, 3].map((i, k) => {
        const seen = seqsOf(sockets[i]!, conv);
        return Socket.connect(url(1 + k), users[i]!, [{ conversationId: conv, afterSeq: seen[seen.length - 1] ?? 0 }]).then((c) => c.socket);
      }),
    );
    await until(() => acked.size >= 100 || undefined, '100 acknowledged sends', 20_000);
    stop = true;
    await Promise.all(senders);

    const lastSeq = (await api(url(1), 'GET', `/v1/conversations/${conv}`, { token: users[1]!.token })).body.lastSeq as number;
    const live = [1, 2, 4, 5].map((i) => sockets[i]!);
    for (const s of live) {
      await until(() => seqsOf(s, conv).length >= lastSeq || undefined, `all ${lastSeq} events on a surviving connection`, 15_000);
      expect(seqsOf(s, conv)).toEqual(range(1, lastSeq));
    }
    for (const [k, i] of [0, 3].entries()) {
      const before = seqsOf(sockets[i]!, conv);
      const after = resumed[k]!;
      await until(() => (before.length + seqsOf(after, conv).length >= lastSeq) || undefined, 'the resumed client to catch up', 15_000);
      expect([...before, ...seqsOf(after, conv)]).toEqual(range(1, lastSeq));
    }
    // Every acknowledged message is among the delivered events.
    const delivered = new Set(live[0]!.events(conv).map((e) => (e.data as { clientMsgId: string }).clientMsgId));
    for (const id of acked) expect(delivered.has(id), id).toBe(true);
    for (const s of [...live, ...resumed, w]) s.close();
  });
});
