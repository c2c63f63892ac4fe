/**
 * The bus restarts in the middle of a stream: /readyz says 503 while it is
 * down, and once it is back every client has every event, once, in order —
 * including those whose pub/sub messages were lost with the broker. Each case
 * runs its own broker on a free port, so the shared ones are never touched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, natsBroker, redisBroker, type Broker } from '../helpers/brokers.ts';
import { api, group, register, Socket, until } from '../helpers/client.ts';
import { startCluster, type Cluster } from '../helpers/cluster.ts';

const cases = [
  { bus: 'redis', broker: redisBroker, url: (p: number) => `redis://127.0.0.1:${p}` },
  { bus: 'nats', broker: natsBroker, url: (p: number) => `nats://127.0.0.1:${p}` },
] as const;

describe.each(cases)('$bus restarts mid-stream', ({ broker: makeBroker, url }) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('readyz turns 503 while it is down; afterwards no gap and no duplicate', async () => {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'parley-bus-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const broker: Broker = makeBroker(port, dir);
    cleanups.push(() => broker.kill());
    await broker.start();
    const cluster: Cluster = await startCluster(2, 'redis', { BUS_URL: url(port) });
    cleanups.push(() => cluster.stop());

    const [n0, n1] = cluster.nodes.map((n) => n.url) as [string, string];
    const alice = await register(n0);
    const bob = await register(n0);
    const conv = await group(n0, alice, [bob]);
    const { socket } = await Socket.connect(n1, bob);
    cleanups.push(async () => socket.close());
    let sent = 0;
    const send = async () => {
      const r = await api(n0, 'POST', `/v1/conversations/${conv}/messages`, {
        token: alice.token,
        body: { clientMsgId: `m${++sent}`, body: `m${sent}` },
      });
      expect(r.status).toBe(201); // the store takes writes while the bus is away
    };
    for (let i = 0; i < 10; i++) await send();
    await until(() => socket.events(conv).length >= 10 || undefined, 'the first events');

    await broker.kill();
    for (const n of [n0, n1]) {
      await until(async () => (await api(n, 'GET', '/readyz')).status === 503 || undefined, 'readyz 503', 10_000);
    }
    for (let i = 0; i < 10; i++) await send();

    await broker.start();
    for (const n of [n0, n1]) {
      await until(async () => (await api(n, 'GET', '/readyz')).status === 200 || undefined, 'readyz 200 again', 20_000);
    }
    for (let i = 0; i < 10; i++) await send();

    await until(() => socket.events(conv).length >= 30 || undefined, 'all 30 events', 20_000);
    await new Promise((r) => setTimeout(r, 500)); // nothing extra trails in
    expect(socket.events(conv).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
