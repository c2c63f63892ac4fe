/** Starts the servers a bench run measures: Parley embedded, or the Socket.IO baseline. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidsNamed } from './proc-stats.ts';

export interface RunningServer {
  kind: 'parley' | 'baseline';
  url: string;
  /** Every node's URL; clients are spread over them. */
  urls: string[];
  /** Processes whose CPU and memory count as the server's. */
  pids: () => number[];
  stop: () => Promise<void>;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function waitForLine(proc: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err || out}`)), 30_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.stderr!.on('data', (d) => (err += d));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${err}`));
    });
  });
}

function stopper(proc: ChildProcess, cleanup: () => void): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null) {
        cleanup();
        return resolve();
      }
      proc.once('exit', () => {
        cleanup();
        resolve();
      });
      proc.kill('SIGTERM');
    });
}

export async function startParley(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server (node refuses it in NODE_OPTIONS).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, join(root, 'src/cli.ts'), 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      SCRYPT_COST: '10',
      SEND_RATE_LIMIT: '0',
      LOGIN_RATE_LIMIT: '0',
      REGISTER_RATE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitForLine(proc, /"url":"([^"]+)","dataDir"/, 'parley');
  return {
    kind: 'parley',
    url,
    urls: [url],
    pids: () => [proc.pid!],
    stop: stopper(proc, () => rmSync(dataDir, { recursive: true, force: true })),
  };
}

/**
 * `nodes` Parley processes over a fresh PostgreSQL database and a Redis or
 * NATS bus (the machine's local servers). The cost counted is the nodes',
 * PostgreSQL's and the broker's CPU and memory.
 */
export async function startParleyCluster(nodes: number, bus: 'redis' | 'nats'): Promise<RunningServer> {
  const { default: postgres } = await import('postgres');
  const pg = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
  const db = `parley_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(`${pg}/postgres`, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${db}`);
  const env = {
    DATABASE_URL: `${pg}/${db}`,
    BUS_URL: bus === 'redis' ? (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379') : (process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'),
    JWT_SECRET: randomBytes(32).toString('hex'),
    MIGRATE: '1',
  };
  const started: RunningServer[] = [await startParley(env)];
  started.push(...(await Promise.all(Array.from({ length: nodes - 1 }, () => startParley(env)))));
  return {
    kind: 'parley',
    url: started[0]!.url,
    urls: started.map((s) => s.url),
    pids: () => [...started.flatMap((s) => s.pids()), ...pidsNamed(['postgres', bus === 'redis' ? 'redis-server' : 'nats-server'])],
    stop: async () => {
      await Promise.all(started.map((s) => s.stop()));
      await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export async function startBaseline(): Promise<RunningServer> {
  const proc = spawn(process.execPath, [join(root, 'bench/baselines/socketio/server.ts')], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitForLine(proc, /listening on (\S+)/, 'the Socket.IO baseline');
  return {
    kind: 'baseline',
    url,
    urls: [url],
    // The usual stack's cost includes its database and its Redis.
    pids: () => [proc.pid!, ...pidsNamed(['postgres', 'redis-server'])],
    stop: stopper(proc, () => {}),
  };
}
