import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { NatsBus } from '../../src/bus/nats.ts';
import { runBusContract } from '../contract/bus.ts';

const url = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const run = randomUUID().slice(0, 8); // subjects and bucket of this run only
const opts = { url, prefix: `parley-test-${run}.`, bucket: `parley_test_${run}`, heartbeatMs: 200, presenceTtlMs: 600 };
const buses: NatsBus[] = [];

/** The SUBs each node's connection holds with the server (the test server has no monitoring port to ask). */
type Internals = { nc: NatsConnection & { protocol: { subscriptions: { all(): { subject: string }[] } } } };
const serverSubs = (bus: NatsBus, subject: string) =>
  (bus as unknown as Internals).nc.protocol.subscriptions.all().filter((s) => s.subject === subject).length;

runBusContract('NatsBus', async () => {
  const bus = await NatsBus.connect(opts);
  buses.push(bus);
  return { bus, cleanup: () => bus.close() };
}, {
  presenceTtlMs: opts.presenceTtlMs,
  brokerSubscriptions: async (subject) => buses.reduce((n, bus) => n + serverSubs(bus, opts.prefix + subject), 0),
  teardown: async () => {
    const nc = await connect({ servers: url });
    await (await nc.jetstreamManager()).streams.delete(`KV_${opts.bucket}`);
    await nc.close();
  },
});
