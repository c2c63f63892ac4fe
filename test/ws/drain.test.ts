/** The drain: open sockets closed with 1001 after pending writes commit; no new upgrades meanwhile. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, group, register, until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connectUser, openSocket, RawWs } from './util.ts';
import { rmSync } from 'node:fs';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  rmSync(server.dataDir, { recursive: true, force: true });
});

describe('server.close()', () => {
  it('closes open sockets with 1001, commits the sends already received, and refuses new upgrades', async () => {
    const [alice, bob] = await Promise.all([register(server.url), register(server.url)]);
    const conv = await group(server.url, alice, [bob]);
    const a = (await connectUser(server.url, alice)).socket;
    const b = (await connectUser(server.url, bob)).socket;
    const unauthenticated = await openSocket(server.url);

    // A raw upgrade whose request is only half sent when the drain starts.
    const late = await RawWs.start(server.port, '');
    const request = RawWs.upgradeRequest(server.port);
    const cut = request.indexOf('Upgrade:');
    late.write(request.slice(0, cut));

    // Sends in flight when the drain begins.
    for (let i = 0; i < 20; i++) a.send({ type: 'send', id: `s${i}`, conversationId: conv, clientMsgId: `d${i}`, body: `drain ${i}` });
    await a.waitFor((f) => f.re === 's0', 'first send answered');
    const closing = server.close();
    await until(() => server.gateway.isDraining, 'draining');
    late.write(request.slice(cut));

    expect(await a.waitClose()).toBe(1001);
    expect(await b.waitClose()).toBe(1001);
    expect(await unauthenticated.waitClose()).toBe(1001);
    await until(() => late.status !== 0 || late.closed, 'an answer to the late upgrade');
    expect(late.status).toBe(503);
    await closing;

    // Every send the server answered ok is durable.
    const acked = a.frames.filter((f) => f.type === 'reply' && f.ok).map((f) => f.data.message?.seq).filter((s) => s !== undefined);
    expect(acked.length).toBeGreaterThan(0);
    const again = await startTestServer({ DATA_DIR: server.dataDir });
    try {
      const log = await api(again.url, 'GET', `/v1/conversations/${conv}/events?afterSeq=0`, { token: bob.token });
      expect(log.status).toBe(200);
      const stored = new Set(log.body.items.map((e: any) => e.seq));
      for (const s of acked) expect(stored.has(s)).toBe(true);
    } finally {
      await again.close();
    }

    // And after the drain, nothing answers at all.
    await expect(openSocket(server.url)).rejects.toThrow();
  });
});
