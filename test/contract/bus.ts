/**
 * The Bus contract: what every adapter (local, Redis, NATS) must do, tested
 * through the `Bus` interface only. Networked adapters run as three nodes
 * sharing one broker (A, B and C, each from its own `create()`); the local bus
 * has one node, so the cases that need two are skipped with the reason given.
 * Tests use fresh subjects and user ids, so they never depend on each other.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects, type Bus, type BusMessage } from '../../src/bus/bus.ts';

export interface BusNode {
  bus: Bus;
  /** Releases the node (normally `bus.close()`). */
  cleanup: () => Promise<void>;
}

export type BusFactory = () => Promise<BusNode>;

export interface BusContractOptions {
  /**
   * Set when the adapter has no notion of separate nodes: the suite then makes
   * one instance and plays every node with it. The text is the skip reason of
   * the cases that need two nodes.
   */
  singleNode?: string;
  /** The presence TTL the factory configures; required unless `singleNode`. */
  presenceTtlMs?: number;
  /**
   * The subscriptions to `subject` the broker holds for all nodes together (as
   * the broker reports them, or as the nodes' connections hold them where the
   * broker cannot be asked), to check that a node's handlers share one and the
   * last unsubscribe ends it. A string is the reason the adapter cannot count.
   */
  brokerSubscriptions: ((subject: string) => Promise<number>) | string;
  /** Runs once at the end, after every node's cleanup (e.g. removes the test's keys). */
  teardown?: () => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const id = () => randomUUID();

/** Polls `check` until it returns true; fails after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const typing = (conversationId: string, userId = 'u'): BusMessage => ({ type: 'typing', conversationId, userId });
const receipt = (conversationId: string, seq: number): BusMessage => ({ type: 'receipt', conversationId, userId: 'u', seq });

/** A handler that records what it receives. */
function recorder() {
  const got: BusMessage[] = [];
  return { got, handler: (m: BusMessage) => void got.push(m) };
}

/** Long enough for a message that is going to arrive to have arrived. */
const QUIET_MS = 150;

export function runBusContract(name: string, create: BusFactory, opts: BusContractOptions): void {
  const single = opts.singleNode;
  const multi = single === undefined;
  const ttl = opts.presenceTtlMs ?? 0;
  if (multi && !ttl) throw new Error('runBusContract: presenceTtlMs is required for networked adapters');

  describe(name, () => {
    const nodes: BusNode[] = [];
    let A: Bus;
    let B: Bus;
    let C: Bus;

    async function node(): Promise<Bus> {
      const n = await create();
      nodes.push(n);
      return n.bus;
    }

    beforeAll(async () => {
      A = await node();
      [B, C] = multi ? [await node(), await node()] : [A, A];
    });
    afterAll(async () => {
      await Promise.all(nodes.map((n) => n.cleanup()));
      await opts.teardown?.();
    });

    type Body = () => Promise<void>;
    /** A case that needs two nodes; skipped, with the reason in its name, on a single-node adapter. */
    const crossNode = (title: string, fn: Body, timeout?: number) =>
      multi ? it(title, fn, timeout) : it.skip(`${title} (skipped: ${single})`, fn);
    const brokerCount = typeof opts.brokerSubscriptions === 'function' ? opts.brokerSubscriptions : null;
    const withBroker = (title: string, fn: Body) =>
      brokerCount ? it(title, fn) : it.skip(`${title} (skipped: ${opts.brokerSubscriptions as string})`, fn);

    describe('publish and subscribe', () => {
      it('a message published on one node reaches a subscriber on another', async () => {
        const subject = subjects.conversation(id());
        const r = recorder();
        await B.subscribe(subject, r.handler);
        const msg: BusMessage = { type: 'membership', conversationId: id(), userId: id(), seq: 7, joined: true };
        await A.publish(subject, msg);
        await until(() => r.got.length === 1, 5_000, 'the message');
        expect(r.got[0]).toEqual(msg);
      });

      it('delivers each subscriber its own copy, on every node that subscribed', async () => {
        const subject = subjects.user(id());
        const [rb, rc] = [recorder(), recorder()];
        await Promise.all([B.subscribe(subject, rb.handler), C.subscribe(subject, rc.handler)]);
        await A.publish(subject, typing('c1'));
        await until(() => rb.got.length === 1 && rc.got.length === 1, 5_000, 'both copies');
        await sleep(QUIET_MS);
        expect([rb.got.length, rc.got.length]).toEqual([1, 1]);
      });

      it('keeps one publisher’s order on one subject (1,000 messages)', async () => {
        const subject = subjects.conversation(id());
        const r = recorder();
        await B.subscribe(subject, r.handler);
        const sends: Promise<void>[] = [];
        for (let seq = 1; seq <= 1000; seq++) sends.push(A.publish(subject, receipt('c', seq)));
        await Promise.all(sends);
        await until(() => r.got.length === 1000, 10_000, '1,000 messages');
        const seqs = r.got.map((m) => (m.type === 'receipt' ? m.seq : -1));
        expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      });

      it('subscribe resolves only once live: a message published right after reaches the handler', async () => {
        // Twenty fresh subjects, each published to the moment subscribe resolves.
        for (let i = 0; i < 20; i++) {
          const subject = subjects.presence(id());
          const r = recorder();
          await B.subscribe(subject, r.handler);
          await A.publish(subject, typing(`c${i}`));
          await until(() => r.got.length === 1, 5_000, `message ${i}`);
        }
      });

      it('a node receives nothing on subjects it has not subscribed to', async () => {
        const [wanted, other] = [subjects.conversation(id()), subjects.conversation(id())];
        const r = recorder();
        await B.subscribe(wanted, r.handler);
        await A.publish(other, typing('other'));
        await A.publish(wanted, typing('wanted'));
        await until(() => r.got.length === 1, 5_000, 'the wanted message');
        await sleep(QUIET_MS);
        expect(r.got).toEqual([typing('wanted')]);
      });

      it('after unsubscribe nothing more arrives', async () => {
        const subject = subjects.conversation(id());
        const r = recorder();
        const sub = await B.subscribe(subject, r.handler);
        await A.publish(subject, typing('before'));
        await until(() => r.got.length === 1, 5_000, 'the first message');
        await sub.unsubscribe();
        await sub.unsubscribe(); // idempotent
        await A.publish(subject, typing('after'));
        await sleep(QUIET_MS);
        expect(r.got).toEqual([typing('before')]);
      });

      it('two handlers on one subject: both receive; removing one keeps the other', async () => {
        const subject = subjects.conversation(id());
        const [r1, r2] = [recorder(), recorder()];
        const s1 = await B.subscribe(subject, r1.handler);
        const s2 = await B.subscribe(subject, r2.handler);
        await A.publish(subject, typing('both'));
        await until(() => r1.got.length === 1 && r2.got.length === 1, 5_000, 'both handlers');
        await s1.unsubscribe();
        await A.publish(subject, typing('second'));
        await until(() => r2.got.length === 2, 5_000, 'the remaining handler');
        await sleep(QUIET_MS);
        expect(r1.got).toEqual([typing('both')]);
        expect(r2.got).toEqual([typing('both'), typing('second')]);
        await s2.unsubscribe();
      });

      it('unsubscribe and subscribe again at once leaves the subscription live', async () => {
        const subject = subjects.conversation(id());
        const r = recorder();
        const s1 = await B.subscribe(subject, r.handler);
        const gone = s1.unsubscribe();
        const again = B.subscribe(subject, r.handler);
        await gone;
        await again;
        await A.publish(subject, typing('x'));
        await until(() => r.got.length === 1, 5_000, 'the message');
      });

      withBroker('handlers of one node share one broker subscription, which ends with the last', async () => {
        const count = brokerCount!;
        const subject = subjects.conversation(id());
        expect(await count(subject)).toBe(0);
        const s1 = await B.subscribe(subject, () => {});
        const s2 = await B.subscribe(subject, () => {});
        const s3 = await B.subscribe(subject, () => {});
        expect(await count(subject)).toBe(1);
        await s1.unsubscribe();
        await s2.unsubscribe();
        expect(await count(subject)).toBe(1);
        await s3.unsubscribe();
        expect(await count(subject)).toBe(0);
        // Two nodes: one broker subscription each.
        const [sb, sc] = await Promise.all([B.subscribe(subject, () => {}), C.subscribe(subject, () => {})]);
        expect(await count(subject)).toBe(multi ? 2 : 1);
        await Promise.all([sb.unsubscribe(), sc.unsubscribe()]);
        expect(await count(subject)).toBe(0);
      });
    });

    describe('presence', () => {
      it('a connection registered on one node is online from another', async () => {
        const u = id();
        expect(await A.presence.connect(u, id())).toBe(true);
        expect(await B.presence.online([u, id()])).toEqual(new Set([u]));
        expect(await C.presence.online([])).toEqual(new Set());
      });

      it('connect is true only for the first connection, disconnect only for the last (across nodes)', async () => {
        const u = id();
        const [ca, cb, cb2] = [id(), id(), id()];
        expect(await A.presence.connect(u, ca)).toBe(true);
        expect(await B.presence.connect(u, cb)).toBe(false);
        expect(await B.presence.connect(u, cb2)).toBe(false);
        expect(await A.presence.disconnect(u, ca)).toBe(false);
        expect(await C.presence.online([u])).toEqual(new Set([u]));
        expect(await B.presence.disconnect(u, cb)).toBe(false);
        expect(await C.presence.online([u])).toEqual(new Set([u]));
        expect(await B.presence.disconnect(u, cb2)).toBe(true);
        expect(await C.presence.online([u])).toEqual(new Set());
        // Unknown and repeated disconnects change nothing.
        expect(await B.presence.disconnect(u, cb2)).toBe(false);
        expect(await A.presence.disconnect(id(), id())).toBe(false);
        // And the user can come back.
        expect(await C.presence.connect(u, id())).toBe(true);
      });

      it('concurrent first connections on different nodes: exactly one is first', async () => {
        for (let i = 0; i < 10; i++) {
          const u = id();
          const firsts = await Promise.all([A, B, C].map((n) => n.presence.connect(u, id())));
          expect(firsts.filter(Boolean)).toHaveLength(1);
        }
      });

      it('concurrent last disconnects on different nodes: exactly one is last', async () => {
        for (let i = 0; i < 10; i++) {
          const u = id();
          const conns = [A, B, C].map((n) => ({ n, c: id() }));
          for (const { n, c } of conns) await n.presence.connect(u, c);
          const lasts = await Promise.all(conns.map(({ n, c }) => n.presence.disconnect(u, c)));
          expect(lasts.filter(Boolean)).toHaveLength(1);
          expect(await A.presence.online([u])).toEqual(new Set());
        }
      });

      crossNode('a live node keeps its connections registered beyond the TTL (heartbeat)', async () => {
        const u = id();
        const c = id();
        await A.presence.connect(u, c);
        await sleep(ttl * 2.5);
        expect(await B.presence.online([u])).toEqual(new Set([u]));
        expect(await B.presence.reap()).not.toContain(u);
        expect(await A.presence.disconnect(u, c)).toBe(true);
      });

      crossNode(
        'a node that dies without disconnecting: its users expire within the TTL and are reaped exactly once',
        async () => {
          const doomed = await node();
          const [lone, shared] = [id(), id()];
          const sharedOnB = id();
          expect(await doomed.presence.connect(lone, id())).toBe(true);
          expect(await doomed.presence.connect(shared, id())).toBe(true);
          expect(await B.presence.connect(shared, sharedOnB)).toBe(false);
          expect(await B.presence.online([lone, shared])).toEqual(new Set([lone, shared]));

          // Death: the heartbeat stops and the connections are dropped, with no disconnect.
          await doomed.close();
          const diedAt = Date.now();
          expect(await B.presence.reap()).not.toContain(lone);

          await until(async () => !(await B.presence.online([lone])).has(lone), ttl * 4, 'the dead node’s user to go offline');
          expect(Date.now() - diedAt).toBeLessThanOrEqual(ttl + 1_000);
          expect(await C.presence.online([shared])).toEqual(new Set([shared]));

          const reaped = (await Promise.all([B.presence.reap(), C.presence.reap(), B.presence.reap()])).flat();
          expect(reaped.filter((u) => u === lone)).toHaveLength(1);
          expect(reaped).not.toContain(shared);
          expect([...(await B.presence.reap()), ...(await C.presence.reap())]).not.toContain(lone);

          // The user with a connection on a live node goes offline with that one.
          expect(await B.presence.disconnect(shared, sharedOnB)).toBe(true);
          expect((await Promise.all([B.presence.reap(), C.presence.reap()])).flat()).not.toContain(shared);
        },
        30_000,
      );
    });

    it('ping resolves while the broker is healthy', async () => {
      await Promise.all([A.ping(), B.ping(), C.ping()]);
    });
  });
}
