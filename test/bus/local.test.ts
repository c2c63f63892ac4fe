import { LocalBus } from '../../src/bus/local.ts';
import { runBusContract } from '../contract/bus.ts';

const bus = new LocalBus();

runBusContract('LocalBus', async () => ({ bus, cleanup: () => bus.close() }), {
  singleNode: 'the local bus is one process: every "node" is the same instance, and its presence dies with it (reap is always empty)',
  brokerSubscriptions: 'the local bus has no broker',
});
