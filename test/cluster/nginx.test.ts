/**
 * nginx in front of three nodes, round-robin with no stickiness: a client whose
 * every connection lands on a different node still resumes without loss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket, until } from '../helpers/client.ts';
import { startCluster, startNginx, type Cluster } from '../helpers/cluster.ts';

let cluster: Cluster;
let proxy: { url: string; stop: () => Promise<void> };
beforeAll(async () => {
  cluster = await startCluster(3, 'redis');
  proxy = await startNginx(cluster.nodes.map((n) => n.url));
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  await cluster?.stop();
});

describe('behind nginx without sticky sessions', () => {
  it('resumes across nodes in turn without losing or repeating anything', async () => {
    const alice = await register(proxy.url);
    const bob = await register(proxy.url);
    const conv = await group(proxy.url, alice, [bob]);
    const seen: number[] = [];
    let sent = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await api(proxy.url, 'POST', `/v1/conversations/${conv}/messages`, {
          token: alice.token,
          body: { clientMsgId: `m${++sent}`, body: `message ${sent}` },
        });
        expect(r.status).toBe(201);
      }
    };
    for (let round = 0; round < 6; round++) {
      const { socket } = await Socket.connect(proxy.url, bob, [{ conversationId: conv, afterSeq: seen[seen.length - 1] ?? 0 }]);
      await send(5); // live while connected
      await until(() => socket.events(conv).length >= (round === 0 ? 5 : 10) || undefined, 'this round’s events');
      seen.push(...socket.events(conv).map((e) => e.seq));
      socket.kill();
      await send(5); // missed while away
    }
    const { socket } = await Socket.connect(proxy.url, bob, [{ conversationId: conv, afterSeq: seen[seen.length - 1]! }]);
    await until(() => socket.events(conv).length >= 5 || undefined, 'the last missed events');
    seen.push(...socket.events(conv).map((e) => e.seq));
    expect(seen).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    socket.close();
    // Every node served some of bob's connections: nginx spread them.
    const metrics = await Promise.all(cluster.nodes.map((n) => api(n.url, 'GET', '/metrics')));
    const served = metrics.filter((m) => /parley_deliveries_total [1-9]/.test(m.body as string)).length;
    expect(served).toBe(3);
  });
});
