/** The node's Prometheus metrics, one registry per server instance (tests run several in one process). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  const beforeCollect: (() => void)[] = [];
  collectDefaultMetrics({ register: registry, prefix: 'parley_', eventLoopMonitoringPrecision: 20 });
  return {
    registry,
    connections: new Gauge({ name: 'parley_connections', help: 'Open WebSocket connections', registers: [registry] }),
    eventsAppended: new Counter({
      name: 'parley_events_appended_total',
      help: 'Events committed to the store by this node',
      registers: [registry],
    }),
    commitBatches: new Histogram({
      name: 'parley_commit_batch_size',
      help: 'Mutations per group-commit transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'parley_deliveries_total',
      help: 'Event frames written to client connections',
      registers: [registry],
      collect() {
        for (const fn of beforeCollect) fn();
      },
    }),
    /** Runs `fn` before each scrape, so hot paths can keep plain counters and report them then. */
    onCollect(fn: () => void) {
      beforeCollect.push(fn);
    },
    sendAckSeconds: new Histogram({
      name: 'parley_send_ack_seconds',
      help: 'Time from a send arriving to its acknowledgement (after commit)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    gapFills: new Counter({
      name: 'parley_gap_fills_total',
      help: 'Times a connection or node fetched missing events from the store',
      registers: [registry],
    }),
    slowClosures: new Counter({
      name: 'parley_slow_consumer_closes_total',
      help: 'Connections closed with 4009 because their send buffer passed the limit',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
