import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBus } from '../../src/bus/redis.ts';
import { runBusContract } from '../contract/bus.ts';

const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `parley-test-${randomUUID().slice(0, 8)}:`; // keys and channels of this run only
const admin = new Redis(url, { lazyConnect: true });

runBusContract('RedisBus', async () => {
  const bus = await RedisBus.connect({ url, prefix, heartbeatMs: 200, presenceTtlMs: 600 });
  return { bus, cleanup: () => bus.close() };
}, {
  presenceTtlMs: 600,
  brokerSubscriptions: async (subject) => {
    const [, n] = (await admin.pubsub('NUMSUB', prefix + subject)) as [string, number];
    return n;
  },
  teardown: async () => {
    for await (const keys of admin.scanStream({ match: `${prefix}*` })) if (keys.length) await admin.del(...(keys as string[]));
    admin.disconnect();
  },
});
