/**
 * Real multi-node set-ups for tests: a fresh PostgreSQL database per test file,
 * N `parley serve` processes on it sharing a Redis or NATS bus, and nginx in
 * front of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './brokers.ts';
import { until } from './client.ts';
import { startServerProcess, type ServerProcess } from './process.ts';

export const PG = 'postgres://postgres@127.0.0.1:5432';
export const BUSES = { redis: 'redis://127.0.0.1:6379', nats: 'nats://127.0.0.1:4222' } as const;
export type BusName = keyof typeof BUSES;

/** A new empty database; `drop()` removes it. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `parley_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(`${PG}/postgres`, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: `${PG}/${name}`,
    async drop() {
      const a = postgres(`${PG}/postgres`, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export interface Cluster {
  nodes: ServerProcess[];
  databaseUrl: string;
  /** Starts one more node (or restarts a dead one's slot). */
  start(): Promise<ServerProcess>;
  stop(): Promise<void>;
}

/** N nodes over one fresh database and `bus`. The first node migrates; the rest wait for it. */
export async function startCluster(n: number, bus: BusName, env: Record<string, string> = {}): Promise<Cluster> {
  const db = await createDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-cluster-'));
  const base = {
    DATABASE_URL: db.url,
    BUS_URL: BUSES[bus],
    DATA_DIR: dataDir,
    JWT_SECRET: randomBytes(32).toString('hex'),
    PRESENCE_TTL_MS: '3000',
    PRESENCE_GRACE_MS: '100',
    ...env,
  };
  const nodes: ServerProcess[] = [];
  const start = async () => {
    const node = await startServerProcess({ ...base, MIGRATE: '1' });
    nodes.push(node);
    return node;
  };
  await start();
  await Promise.all(Array.from({ length: n - 1 }, start));
  return {
    nodes,
    databaseUrl: db.url,
    start,
    async stop() {
      await Promise.all(
        nodes.map(async (node) => {
          if (node.proc.exitCode === null && node.proc.signalCode === null) node.proc.kill('SIGKILL');
          await node.exited;
        }),
      );
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * nginx in front of `upstreams` with round-robin and no stickiness, passing
 * WebSocket upgrades through: the deployment docs/deploy.md describes.
 */
export async function startNginx(upstreams: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-nginx-'));
  const port = await freePort();
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream parley {
${servers}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://parley;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 3600s;
    }
  }
}
`,
  );
  const nginx: ChildProcess = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  nginx.stderr!.on('data', (d) => (err += d));
  const url = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${err}`);
    try {
      return (await fetch(`${url}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 'nginx to answer', 10_000);
  return {
    url,
    async stop() {
      if (nginx.exitCode === null) {
        const exited = new Promise((r) => nginx.once('exit', r));
        nginx.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
