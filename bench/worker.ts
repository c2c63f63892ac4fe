/**
 * One load-generator process, driven by the bench over IPC: connects its share
 * of clients, sends at its share of the rate, records every delivery, and
 * reports counters, histograms and per-sender positions.
 */
import hdr from 'hdr-histogram-js';
import type { BenchClient, ClientSpec, Driver } from './drivers/driver.ts';
import { parleyClient } from './drivers/parley.ts';
import { socketIoClient } from './drivers/socketio.ts';
import { pool } from './pool.ts';
import { encodeBody, now, Tracker } from './tracker.ts';

export type ToWorker =
  | { type: 'init'; driver: 'parley' | 'socketio'; url: string; clients: ClientSpec[]; bodyBytes: number }
  | { type: 'connect' }
  | { type: 'run'; rate: number }
  | { type: 'storm' }
  | { type: 'stop' }
  | { type: 'report' }
  | { type: 'exit' };

export type FromWorker =
  | { type: 'connected'; count: number; failed: number }
  | { type: 'progress'; sent: number; acknowledged: number; delivered: number; p99us: number }
  | { type: 'resumed'; ms: number; failed: number }
  | { type: 'stopped' }
  | {
      type: 'report';
      sent: number;
      acknowledged: number;
      failed: number;
      delivered: number;
      duplicated: number;
      outOfOrder: number;
      gapFills: number;
      e2e: string;
      ack: string;
      acked: [number, number][];
      received: [number, number, number][];
    };

const drivers: Record<string, Driver> = { parley: parleyClient, socketio: socketIoClient };
const tracker = new Tracker();
let clients: BenchClient[] = [];
let bodyPad = '';
let gapFills = 0;
let sendTimer: NodeJS.Timeout | null = null;
const nextN = new Map<number, number>();
/** Sends not yet acknowledged, retried with the same n (and so the same clientMsgId) after a drop. */
const outbox = new Map<number, Set<number>>();

const post = (m: FromWorker) => process.send!(m);

/** Like `pool`, but counts failures instead of stopping at the first. */
async function tolerant<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<number> {
  let failed = 0;
  await pool(items, limit, (t) => fn(t).catch(() => void failed++));
  return failed;
}

function sendOne(c: BenchClient, n: number): void {
  const started = now();
  let pending = outbox.get(c.spec.index);
  if (!pending) outbox.set(c.spec.index, (pending = new Set()));
  pending.add(n);
  c.send(n, encodeBody(c.spec.index, n, bodyPad)).then(
    () => {
      pending.delete(n);
      tracker.acked(c.spec.index, n, now() - started);
    },
    () => {
      // Left in the outbox: resent after the client resumes.
    },
  );
}

function startSending(rate: number): void {
  const senders = clients.filter((c) => c.spec.sender);
  if (senders.length === 0 || rate <= 0) return;
  const startedAt = now();
  let issued = 0;
  let cursor = 0;
  sendTimer = setInterval(() => {
    const due = Math.floor(((now() - startedAt) / 1000) * rate) - issued;
    for (let i = 0; i < due; i++) {
      const c = senders[cursor++ % senders.length]!;
      issued++;
      if (!c.connected) continue; // a dropped client's share is skipped, not queued
      const n = (nextN.get(c.spec.index) ?? 0) + 1;
      nextN.set(c.spec.index, n);
      tracker.sent++;
      sendOne(c, n);
    }
  }, 5);
}

async function storm(): Promise<void> {
  for (const c of clients) c.drop();
  const started = now();
  const failed = await tolerant(clients, 1000, async (c) => {
    await c.resume();
    for (const n of outbox.get(c.spec.index) ?? []) sendOne(c, n);
  });
  post({ type: 'resumed', ms: now() - started, failed });
}

process.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'init': {
      bodyPad = 'x'.repeat(Math.max(0, m.bodyBytes - 32));
      const driver = drivers[m.driver]!;
      clients = m.clients.map((spec) =>
        driver(spec, { url: m.url, sink: (r, conv, seq, body) => tracker.deliver(r, conv, seq, body), onGapFill: () => gapFills++ }),
      );
      return;
    }
    case 'connect':
      void tolerant(clients, 500, (c) => c.connect()).then((failed) =>
        post({ type: 'connected', count: clients.length - failed, failed }),
      );
      return;
    case 'run':
      startSending(m.rate);
      return;
    case 'storm':
      void storm();
      return;
    case 'stop':
      if (sendTimer) clearInterval(sendTimer);
      sendTimer = null;
      post({ type: 'stopped' });
      return;
    case 'report':
      post({
        type: 'report',
        sent: tracker.sent,
        acknowledged: tracker.acknowledged,
        failed: tracker.sent - tracker.acknowledged,
        delivered: tracker.delivered,
        duplicated: tracker.duplicated,
        outOfOrder: tracker.outOfOrder,
        gapFills,
        e2e: hdr.encodeIntoCompressedBase64(tracker.e2e),
        ack: hdr.encodeIntoCompressedBase64(tracker.ack),
        acked: [...tracker.ackedContiguous],
        received: tracker.receivers().map((r) => [r.receiver, r.sender, r.contiguous]),
      });
      return;
    case 'exit':
      for (const c of clients) c.close();
      setTimeout(() => process.exit(0), 200);
      return;
  }
});

setInterval(() => {
  post({
    type: 'progress',
    sent: tracker.sent,
    acknowledged: tracker.acknowledged,
    delivered: tracker.delivered,
    p99us: tracker.e2e.totalCount > 0 ? tracker.e2e.getValueAtPercentile(99) : 0,
  });
}, 250).unref();

process.on('disconnect', () => process.exit(0));
