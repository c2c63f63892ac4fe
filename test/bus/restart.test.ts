/**
 * Broker restarts. Each case starts its own redis-server or nats-server on a
 * free port (never the shared brokers the other suites use), kills it with
 * SIGKILL under two live nodes, starts it again on the same port, and checks
 * that the nodes recover by themselves: ping fails promptly while the broker is
 * down, existing subscriptions receive new publishes without the caller
 * re-subscribing, and presence comes back.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { natsBroker, redisBroker, type Broker, freePort } from '../helpers/brokers.ts';
import { subjects, type Bus, type BusMessage } from '../../src/bus/bus.ts';
import { NatsBus } from '../../src/bus/nats.ts';
import { RedisBus } from '../../src/bus/redis.ts';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

const succeeds = (p: Promise<unknown>) => p.then(() => true, () => false);

interface Setup {
  name: string;
  broker: (port: number, dir: string) => Broker;
  node: (port: number, run: string) => Promise<Bus>;
}

const TTL = 1_000;

const setups: Setup[] = [
  {
    name: 'Redis',
    broker: redisBroker,
    node: (port, run) =>
      RedisBus.connect({ url: `redis://127.0.0.1:${port}`, prefix: `${run}:`, heartbeatMs: 200, presenceTtlMs: TTL }),
  },
  {
    name: 'NATS',
    broker: natsBroker,
    node: (port, run) =>
      NatsBus.connect({
        url: `nats://127.0.0.1:${port}`,
        prefix: `${run}.`,
        bucket: `presence_${run}`,
        heartbeatMs: 200,
        presenceTtlMs: TTL,
        requestTimeoutMs: 1_000,
      }),
  },
];

describe.each(setups)('$name: broker restart', (setup) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  async function world() {
    const [port, dir] = [await freePort(), await mkdtemp(join(tmpdir(), 'parley-restart-'))];
    const run = `r${randomUUID().slice(0, 8)}`;
    const broker = setup.broker(port, dir);
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    cleanups.push(() => broker.kill());
    await broker.start();
    const a = await setup.node(port, run);
    cleanups.push(() => a.close());
    const b = await setup.node(port, run);
    cleanups.push(() => b.close());
    return { broker, a, b };
  }

  it('ping fails promptly while the broker is down; subscriptions and presence come back by themselves', async () => {
    const { broker, a, b } = await world();
    const subject = subjects.conversation(randomUUID());
    const got: BusMessage[] = [];
    await b.subscribe(subject, (m) => void got.push(m));
    await a.publish(subject, { type: 'receipt', conversationId: 'c', userId: 'u', seq: 0 });
    await until(() => got.length === 1, 5_000, 'the message before the restart');

    const user = randomUUID();
    const conn = randomUUID();
    expect(await a.presence.connect(user, conn)).toBe(true);

    await broker.kill();
    for (const node of [a, b]) {
      const started = Date.now();
      await expect(node.ping()).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_500);
    }
    // Down for longer than the TTL: leases and registrations lapse.
    await sleep(TTL * 1.5);
    await expect(b.ping()).rejects.toThrow();
    await broker.start();

    await until(() => succeeds(a.ping()), 10_000, 'node A to reconnect');
    await until(() => succeeds(b.ping()), 10_000, 'node B to reconnect');

    // The old subscription receives new publishes; nobody subscribed again.
    let seq = 0;
    await until(
      async () => {
        await a.publish(subject, { type: 'receipt', conversationId: 'c', userId: 'u', seq: ++seq }).catch(() => {});
        return got.length > 1;
      },
      10_000,
      'a message on the old subscription after the restart',
    );

    // The connection on A is registered again (Redis lost it; on NATS A's lease lapsed).
    await until(async () => (await b.presence.online([user])).has(user), 5 * TTL, 'the user online again');

    // And everything else works as before.
    const other = subjects.user(randomUUID());
    const onA: BusMessage[] = [];
    await a.subscribe(other, (m) => void onA.push(m));
    await b.publish(other, { type: 'typing', conversationId: 'c', userId: 'u' });
    await until(() => onA.length === 1, 5_000, 'a message on a new subscription');
    expect(await a.presence.disconnect(user, conn)).toBe(true);
    expect(await b.presence.online([user])).toEqual(new Set());
  }, 60_000);

  it('a subscribe while the broker is down fails, and later subscribes work', async () => {
    const { broker, a, b } = await world();
    await broker.kill();
    const subject = subjects.conversation(randomUUID());
    const got: BusMessage[] = [];
    await expect(b.subscribe(subject, (m) => void got.push(m))).rejects.toThrow();
    await broker.start();
    await until(() => succeeds(b.ping()), 10_000, 'node B to reconnect');
    await until(() => succeeds(a.ping()), 10_000, 'node A to reconnect');
    // The failed subscribe left nothing behind: the first handler never sees this.
    const sub = await b.subscribe(subject, () => {});
    await a.publish(subject, { type: 'typing', conversationId: 'c', userId: 'u' });
    await sleep(200);
    expect(got).toEqual([]);
    await sub.unsubscribe();
  }, 60_000);

  it('close() returns promptly while the broker is down', async () => {
    const { broker, a } = await world();
    await broker.kill();
    const started = Date.now();
    await a.close();
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 30_000);
});
