/** Start-up validation and the SIGTERM drain, on a real process. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket, until } from '../helpers/client.ts';
import { runCli, startServerProcess } from '../helpers/process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'parley-lifecycle-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('configuration', () => {
  it('a bad value stops the process with one clear line and exit code 2', async () => {
    const r = await runCli(['serve', '--port', 'eighty'], { DATA_DIR: dataDir });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/PORT/);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('a bad environment value is refused the same way', async () => {
    const r = await runCli(['serve'], { DATA_DIR: dataDir, ACCESS_TOKEN_TTL: '-5' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ACCESS_TOKEN_TTL/);
  });

  it('an unknown flag is refused', async () => {
    const r = await runCli(['serve', '--no-such-thing', '1'], { DATA_DIR: dataDir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no-such-thing/);
  });

  it('PostgreSQL without a shared JWT_SECRET is refused: nodes must accept each other\u2019s tokens', async () => {
    const r = await runCli(['serve'], { DATA_DIR: dataDir, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/JWT_SECRET/);
  });

  it('several workers over the in-process bus are refused', async () => {
    const r = await runCli(['serve', '--workers', '2'], { DATA_DIR: dataDir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/WORKERS/);
  });

  it('migrate prepares the store and exits 0', async () => {
    const r = await runCli(['migrate'], { DATA_DIR: join(dataDir, 'migrate') });
    expect(r.code).toBe(0);
  });
});

describe('SIGTERM', () => {
  it('drains: sockets closed with 1001, writes committed, exit 0 within 10 s, tokens still valid after restart', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir });
    const alice = await register(server.url);
    const bob = await register(server.url);
    const conv = await group(server.url, alice, [bob]);
    const { socket } = await Socket.connect(server.url, bob);
    const sends = Array.from({ length: 50 }, (_, i) =>
      api(server.url, 'POST', `/v1/conversations/${conv}/messages`, { token: alice.token, body: { clientMsgId: `m${i}`, body: `m${i}` } }),
    );
    const acked = (await Promise.all(sends)).filter((r) => r.status === 201).length;
    expect(acked).toBe(50);

    const started = Date.now();
    server.proc.kill('SIGTERM');
    expect(await socket.waitClose(10_000)).toBe(1001);
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.stdout()).not.toContain(alice.token);
    expect(server.stdout()).not.toContain(alice.password);

    // The generated JWT secret was kept in DATA_DIR: the old access token still works.
    expect(readFileSync(join(dataDir, 'jwt-secret'), 'utf8').length).toBeGreaterThan(32);
    const again = await startServerProcess({ DATA_DIR: dataDir });
    try {
      const events = await api(again.url, 'GET', `/v1/conversations/${conv}/events?limit=1000`, { token: alice.token });
      expect(events.status).toBe(200);
      expect(events.body.items).toHaveLength(50);
    } finally {
      again.proc.kill('SIGTERM');
      await again.exited;
    }
  });

  it('refuses new connections while draining', async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir });
    const user = await register(server.url);
    const { socket } = await Socket.connect(server.url, user);
    server.proc.kill('SIGTERM');
    await socket.waitClose(10_000);
    await until(async () => {
      try {
        await Socket.open(server.url);
        return false;
      } catch {
        return true;
      }
    }, 'new connections to be refused');
    await server.exited;
  });
});
