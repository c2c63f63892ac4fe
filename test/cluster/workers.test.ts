/**
 * `parley serve --workers 2` over PostgreSQL and Redis: both worker processes
 * serve the one port, clients on either chat, and SIGTERM to the primary
 * drains them all.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/brokers.ts';
import { api, group, register, Socket, until } from '../helpers/client.ts';
import { BUSES, createDatabase } from '../helpers/cluster.ts';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
let db: { url: string; drop: () => Promise<void> };
beforeAll(async () => {
  db = await createDatabase();
});
afterAll(() => db?.drop());

describe('--workers', () => {
  it('runs N node processes on one port; SIGTERM drains them all', async () => {
    const port = await freePort();
    const primary = spawn(process.execPath, [cli, 'serve', '--workers', '2', '--port', String(port)], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: db.url,
        BUS_URL: BUSES.redis,
        JWT_SECRET: randomBytes(32).toString('hex'),
        MIGRATE: '1',
        SCRYPT_COST: '10',
        LOG_LEVEL: 'info',
        REGISTER_RATE_LIMIT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    primary.stdout!.on('data', (d) => (out += d));
    primary.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => primary.on('exit', (code) => r(code)));
    const url = `http://127.0.0.1:${port}`;
    // Two workers each announce that they listen, from two different processes.
    const pids = await until(() => {
      const lines = out.split('\n').filter((l) => l.includes('parley is listening'));
      const set = new Set(lines.map((l) => JSON.parse(l).pid as number));
      return set.size === 2 ? set : undefined;
    }, 'both workers', 20_000);
    expect(pids.has(primary.pid!)).toBe(false);

    const alice = await register(url);
    const bob = await register(url);
    const conv = await group(url, alice, [bob]);
    const sockets = await Promise.all([1, 2, 3, 4].map(() => Socket.connect(url, bob).then((c) => c.socket)));
    const sent = await api(url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: 'w1', body: 'to every worker' } });
    expect(sent.status).toBe(201);
    for (const s of sockets) await s.waitFor((f) => f.type === 'event' && f.seq === 1, 'the event on every connection');

    primary.kill('SIGTERM');
    for (const s of sockets) expect(await s.waitClose(10_000)).toBe(1001);
    expect(await exited).toBe(0);
  });
});
