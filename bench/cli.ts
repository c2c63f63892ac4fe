/**
 * `npm run bench`: drives a chat server with many real WebSocket clients,
 * measures throughput and latency, and checks every delivery: a run that
 * loses, repeats or reorders a single acknowledged message says so and exits 1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { cpuByName, sample } from './proc-stats.ts';
import type { FromWorker, ToWorker } from './worker.ts';
import { layoutBaseline, layoutParley, type Layout, type ScenarioName } from './setup.ts';
import { startBaseline, startParley, startParleyCluster, type RunningServer } from './servers.ts';

const scenarios = ['groups', 'dm', 'broadcast', 'idle', 'reconnect-storm', 'cluster'] as const;

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'groups' },
    url: { type: 'string' },
    pid: { type: 'string' },
    server: { type: 'string', default: 'parley' },
    compare: { type: 'boolean', default: false },
    clients: { type: 'string' },
    group: { type: 'string', default: '10' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '15' },
    senders: { type: 'string', default: '3' },
    procs: { type: 'string', default: '1' },
    nodes: { type: 'string', default: '3' },
    bus: { type: 'string', default: 'redis' },
    'body-bytes': { type: 'string', default: '64' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const usage = `usage: npm run bench -- --scenario <${scenarios.join('|')}> [--url URL --pid PID[,PID]] [--server parley|baseline] [--compare]
       [--clients N] [--group G] [--rate R msgs/s] [--duration S] [--senders K] [--procs P] [--body-bytes B]
       [--nodes N --bus redis|nats]   (cluster: N nodes over the local PostgreSQL and Redis or NATS)
       --url may list several nodes, comma-separated`;

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${usage}\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const scenario = args.scenario as (typeof scenarios)[number];
if (!scenarios.includes(scenario)) fail(`unknown scenario '${args.scenario}'`);
if (args.server !== 'parley' && args.server !== 'baseline') fail(`--server is parley or baseline`);
if (args.bus !== 'redis' && args.bus !== 'nats') fail('--bus is redis or nats');

const defaults: Record<ScenarioName, { clients: number; rate: number }> = {
  groups: { clients: 1000, rate: 2000 },
  dm: { clients: 1000, rate: 2000 },
  broadcast: { clients: 5000, rate: 30 },
  idle: { clients: 1000, rate: 0 },
  'reconnect-storm': { clients: 1000, rate: 1000 },
  cluster: { clients: 1000, rate: 4000 },
};
const opts = {
  scenario: scenario as ScenarioName,
  clients: int('clients', args.clients, defaults[scenario as ScenarioName].clients),
  group: Math.max(2, int('group', args.group, 10)),
  rate: int('rate', args.rate, defaults[scenario as ScenarioName].rate),
  durationS: Math.max(1, int('duration', args.duration, 15)),
  senders: Math.max(1, int('senders', args.senders, 3)),
  procs: Math.max(1, int('procs', args.procs, 1)),
  bodyBytes: Math.max(32, int('body-bytes', args['body-bytes'], 64)),
  nodes: Math.max(1, int('nodes', args.nodes, 3)),
  bus: args.bus as 'redis' | 'nats',
};
if (opts.clients < 2) fail('--clients must be at least 2');

const tty = process.stderr.isTTY;
const log = (s: string) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${s}\n`);
const progressLine = (s: string) => {
  if (tty) process.stderr.write(`\r\x1b[K${s}`);
};

interface Result {
  server: string;
  sent: number;
  acknowledged: number;
  failed: number;
  delivered: number;
  deliveriesPerSec: number;
  sentPerSec: number;
  e2e: { p50: number; p90: number; p99: number; max: number };
  ack: { p50: number; p90: number; p99: number; max: number };
  serverCpuSeconds: number;
  /** Server CPU seconds by process name (node, postgres, redis-server…). */
  cpuSplit?: Record<string, number>;
  deliveriesPerCpuSecond: number;
  serverRssMB: number;
  rssPerConnectionKB: number | null;
  resumeMs: number | null;
  gapFills: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

class Workers {
  readonly procs: ChildProcess[];
  private readonly inbox: FromWorker[][];
  private readonly latest: (Extract<FromWorker, { type: 'progress' }> | undefined)[];

  constructor(n: number) {
    const file = fileURLToPath(new URL('./worker.ts', import.meta.url));
    this.procs = Array.from({ length: n }, () => fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.inbox = this.procs.map(() => []);
    this.latest = this.procs.map(() => undefined);
    this.procs.forEach((p, i) =>
      p.on('message', (m: FromWorker) => {
        if (m.type === 'progress') this.latest[i] = m;
        else this.inbox[i]!.push(m);
      }),
    );
  }

  send(i: number, m: ToWorker): void {
    this.procs[i]!.send(m);
  }

  broadcast(m: ToWorker): void {
    for (let i = 0; i < this.procs.length; i++) this.send(i, m);
  }

  /** The latest message of `type` from every worker, waiting for each. */
  async collect<T extends FromWorker['type']>(type: T, timeoutMs = 600_000): Promise<Extract<FromWorker, { type: T }>[]> {
    const deadline = Date.now() + timeoutMs;
    const out: Extract<FromWorker, { type: T }>[] = [];
    for (const box of this.inbox) {
      for (;;) {
        const idx = box.findIndex((m) => m.type === type);
        if (idx >= 0) {
          out.push(box.splice(idx, 1)[0] as Extract<FromWorker, { type: T }>);
          break;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for workers: ${type}`);
        await sleep(20);
      }
    }
    return out;
  }

  /** The newest progress of each worker that has reported any. */
  progress(): Extract<FromWorker, { type: 'progress' }>[] {
    return this.latest.filter((p) => p !== undefined);
  }

  exit(): void {
    this.broadcast({ type: 'exit' });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOn(kind: 'parley' | 'baseline'): Promise<Result> {
  let server: RunningServer;
  if (args.url) {
    const pids = (args.pid ?? '').split(',').filter(Boolean).map(Number);
    const urls = args.url.split(',');
    server = { kind, url: urls[0]!, urls, pids: () => pids, stop: async () => {} };
  } else if (kind === 'baseline') {
    log('starting the Socket.IO + Redis + PostgreSQL baseline');
    server = await startBaseline();
  } else if (opts.scenario === 'cluster') {
    log(`starting ${opts.nodes} Parley nodes over PostgreSQL and ${opts.bus}`);
    server = await startParleyCluster(opts.nodes, opts.bus);
  } else {
    log('starting Parley (embedded)');
    server = await startParley();
  }
  const workers = new Workers(opts.procs);
  try {
    const layout: Layout = kind === 'parley' ? await layoutParley(server.url, opts, log) : layoutBaseline(opts);
    // Past ~20k connections from one address the ephemeral ports run short: spread over 127.0.0.x.
    const spread = opts.clients > 10_000 && /127\.0\.0\.1/.test(server.url);
    layout.clients.forEach((c, i) => {
      if (spread) c.localAddress = `127.0.0.${2 + (i % 8)}`;
      // Members of one conversation land on different nodes, so every message crosses the bus.
      if (server.urls.length > 1) c.url = server.urls[i % server.urls.length];
    });
    for (let w = 0; w < opts.procs; w++) {
      workers.send(w, {
        type: 'init',
        driver: kind === 'parley' ? 'parley' : 'socketio',
        url: server.url,
        clients: layout.clients.filter((_, i) => i % opts.procs === w),
        bodyBytes: opts.bodyBytes,
      });
    }
    const before = sample(server.pids());
    log(`connecting ${opts.clients} clients`);
    workers.broadcast({ type: 'connect' });
    const connected = await workers.collect('connected');
    const connectedCount = connected.reduce((a, c) => a + c.count, 0);
    if (connectedCount < opts.clients) log(`warning: ${opts.clients - connectedCount} clients failed to connect`);
    let rssPerConnectionKB: number | null = null;
    if (opts.scenario === 'idle') {
      await sleep(2000);
      const after = sample(server.pids());
      rssPerConnectionKB = (after.rssBytes - before.rssBytes) / 1024 / Math.max(1, connectedCount);
    }

    const cpuStart = sample(server.pids()).cpuSeconds;
    const splitStart = cpuByName(server.pids());
    const started = Date.now();
    workers.broadcast({ type: 'run', rate: opts.rate / opts.procs });
    let resumeMs: number | null = null;
    let stormed = false;
    let last = { sent: 0, delivered: 0, at: started };
    while (Date.now() - started < opts.durationS * 1000) {
      await sleep(1000);
      const p = workers.progress();
      if (p.length === opts.procs) {
        const sent = p.reduce((a, x) => a + x.sent, 0);
        const delivered = p.reduce((a, x) => a + x.delivered, 0);
        const now = Date.now();
        const secs = (now - last.at) / 1000;
        const p99 = Math.max(...p.map((x) => x.p99us)) / 1000;
        const line = `[${Math.round((now - started) / 1000)}s] connected ${connectedCount} · sent/s ${Math.round((sent - last.sent) / secs)} · delivered/s ${Math.round((delivered - last.delivered) / secs)} · p99 ${p99.toFixed(1)} ms`;
        if (tty) progressLine(line);
        else log(line);
        last = { sent, delivered, at: now };
      }
      if (opts.scenario === 'reconnect-storm' && !stormed && Date.now() - started >= (opts.durationS * 1000) / 3) {
        stormed = true;
        log('dropping every connection at once');
        workers.broadcast({ type: 'storm' });
        void workers.collect('resumed').then((r) => {
          resumeMs = Math.max(...r.map((x) => x.ms));
          const failed = r.reduce((a, x) => a + x.failed, 0);
          log(`all clients resumed in ${resumeMs.toFixed(0)} ms${failed ? ` (${failed} failed)` : ''}`);
        });
      }
    }
    workers.broadcast({ type: 'stop' });
    await workers.collect('stopped');
    const runSeconds = (Date.now() - started) / 1000;
    const cpuSeconds = sample(server.pids()).cpuSeconds - cpuStart;
    const cpuSplit = Object.fromEntries(
      [...cpuByName(server.pids())].map(([name, s]) => [name, Math.round((s - (splitStart.get(name) ?? 0)) * 100) / 100]),
    );
    if (stormed) while (resumeMs === null) await sleep(100);

    // Let in-flight acks and deliveries land: wait until deliveries stop growing.
    let settled = -1;
    for (let i = 0; i < 30; i++) {
      await sleep(500);
      const p = workers.progress();
      const delivered = p.reduce((a, x) => a + x.delivered, 0);
      if (p.length === opts.procs && delivered === settled) break;
      settled = delivered;
    }
    if (tty) progressLine('');
    workers.broadcast({ type: 'report' });
    const reports = await workers.collect('report');
    const rss = sample(server.pids()).rssBytes;
    return { ...summarize(kind, layout, reports, runSeconds, cpuSeconds, rss, rssPerConnectionKB, resumeMs), cpuSplit };
  } finally {
    workers.exit();
    await server.stop();
  }
}

function summarize(
  server: string,
  layout: Layout,
  reports: Extract<FromWorker, { type: 'report' }>[],
  runSeconds: number,
  cpuSeconds: number,
  rssBytes: number,
  rssPerConnectionKB: number | null,
  resumeMs: number | null,
): Result {
  const e2e = hdr.build();
  const ack = hdr.build();
  for (const r of reports) {
    e2e.add(hdr.decodeFromCompressedBase64(r.e2e));
    ack.add(hdr.decodeFromCompressedBase64(r.ack));
  }
  // Lost: for each sender, every member of its conversation must hold all it had acknowledged.
  const acked = new Map<number, number>(reports.flatMap((r) => r.acked));
  const got = new Map<string, number>();
  for (const r of reports) for (const [receiver, sender, n] of r.received) got.set(`${receiver} ${sender}`, n);
  let lost = 0;
  for (const [conversation, members] of layout.members) {
    void conversation;
    for (const s of members) {
      const a = acked.get(s) ?? 0;
      if (a === 0) continue;
      for (const m of members) lost += Math.max(0, a - (got.get(`${m} ${s}`) ?? 0));
    }
  }
  const sum = (k: 'sent' | 'acknowledged' | 'failed' | 'delivered' | 'duplicated' | 'outOfOrder' | 'gapFills') =>
    reports.reduce((a, r) => a + r[k], 0);
  const pct = (h: typeof e2e) => ({
    p50: h.getValueAtPercentile(50) / 1000,
    p90: h.getValueAtPercentile(90) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    max: h.maxValue / 1000,
  });
  const delivered = sum('delivered');
  return {
    server,
    sent: sum('sent'),
    acknowledged: sum('acknowledged'),
    failed: sum('failed'),
    delivered,
    sentPerSec: sum('sent') / runSeconds,
    deliveriesPerSec: delivered / runSeconds,
    e2e: pct(e2e),
    ack: pct(ack),
    serverCpuSeconds: cpuSeconds,
    deliveriesPerCpuSecond: cpuSeconds > 0 ? delivered / cpuSeconds : 0,
    serverRssMB: rssBytes / 1024 / 1024,
    rssPerConnectionKB,
    resumeMs,
    gapFills: sum('gapFills'),
    lost,
    duplicated: sum('duplicated'),
    outOfOrder: sum('outOfOrder'),
  };
}

function table(results: Result[]): string {
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const lat = (l: Result['e2e']) => `${f(l.p50, 1)} / ${f(l.p90, 1)} / ${f(l.p99, 1)} / ${f(l.max, 1)}`;
  const rows: [string, (r: Result) => string, ((r: Result) => number) | null][] = [
    ['sent', (r) => f(r.sent), (r) => r.sent],
    ['acknowledged', (r) => f(r.acknowledged), (r) => r.acknowledged],
    ['delivered', (r) => f(r.delivered), (r) => r.delivered],
    ['sent/s', (r) => f(r.sentPerSec), (r) => r.sentPerSec],
    ['deliveries/s', (r) => f(r.deliveriesPerSec), (r) => r.deliveriesPerSec],
    ['e2e ms p50/p90/p99/max', (r) => lat(r.e2e), (r) => 1 / Math.max(r.e2e.p99, 0.001)],
    ['ack ms p50/p90/p99/max', (r) => lat(r.ack), (r) => 1 / Math.max(r.ack.p99, 0.001)],
    ['server CPU s', (r) => f(r.serverCpuSeconds, 2), null],
    ['  by process', (r) => Object.entries(r.cpuSplit ?? {}).map(([k, v]) => `${k} ${f(v, 1)}`).join(', '), null],
    ['deliveries / CPU s', (r) => f(r.deliveriesPerCpuSecond), (r) => r.deliveriesPerCpuSecond],
    ['server RSS MB', (r) => f(r.serverRssMB, 1), null],
    ['RSS / idle conn KB', (r) => (r.rssPerConnectionKB === null ? '-' : f(r.rssPerConnectionKB, 1)), null],
    ['resume after storm ms', (r) => (r.resumeMs === null ? '-' : f(r.resumeMs)), null],
    ['gap fills (client)', (r) => f(r.gapFills), null],
    ['lost / dup / reordered', (r) => `${r.lost} / ${r.duplicated} / ${r.outOfOrder}`, null],
  ];
  const head = ['', ...results.map((r) => r.server), ...(results.length === 2 ? ['ratio'] : [])];
  const body = rows.map(([name, show, ratio]) => [
    name,
    ...results.map(show),
    ...(results.length === 2 ? [ratio ? `${(ratio(results[0]!) / Math.max(ratio(results[1]!), 1e-9)).toFixed(2)}×` : ''] : []),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((r) => r[i]!.length)));
  return [head, ...body].map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

const servers: ('parley' | 'baseline')[] = args.compare ? ['parley', 'baseline'] : [args.server as 'parley' | 'baseline'];
const results: Result[] = [];
for (const s of servers) results.push(await runOn(s));

const title = `scenario ${opts.scenario} · ${opts.clients} clients${opts.scenario === 'groups' || opts.scenario === 'reconnect-storm' || opts.scenario === 'cluster' ? ` in groups of ${opts.group}` : ''}${opts.scenario === 'cluster' ? ` · ${opts.nodes} nodes over ${opts.bus}` : ''} · ${opts.rate} msgs/s for ${opts.durationS} s · ${opts.procs} load process(es)`;
process.stdout.write(`\n${title}\n${table(results)}\n`);
process.stdout.write(`${JSON.stringify({ scenario: opts.scenario, options: opts, results })}\n`);
const broken = results.filter((r) => r.lost + r.duplicated + r.outOfOrder > 0 && r.server === 'parley');
if (broken.length > 0) {
  process.stdout.write(`${process.stdout.isTTY ? '\x1b[31m' : ''}CORRECTNESS FAILURE: lost ${broken[0]!.lost}, duplicated ${broken[0]!.duplicated}, out of order ${broken[0]!.outOfOrder}${process.stdout.isTTY ? '\x1b[0m' : ''}\n`);
  process.exit(1);
}
process.exit(0);
