/** Heartbeats: the server pings every heartbeatMs and ends a connection silent for twice that. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register, until } from '../helpers/client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connectUser, expectAlive, RawWs } from './util.ts';

const HEARTBEAT_MS = 200;
const OP_PING = 0x9;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ HEARTBEAT_MS });
});
afterAll(() => server.stop());

describe('heartbeat', () => {
  it('the hello reply announces heartbeatMs and the server sends WebSocket pings at that pace', async () => {
    const u = await register(server.url);
    const { socket, hello } = await connectUser(server.url, u);
    expect(hello.heartbeatMs).toBe(HEARTBEAT_MS);
    const pings: number[] = [];
    socket.ws.on('ping', () => pings.push(Date.now()));
    await until(() => pings.length >= 3, 'three pings', 3_000);
    // Roughly one per heartbeat: three take at least two intervals.
    expect(pings[2]! - pings[0]!).toBeGreaterThanOrEqual(HEARTBEAT_MS * 2 - 50);
    socket.close();
  });

  it('a client that answers pings (ws does) but sends nothing else stays connected', async () => {
    const u = await register(server.url);
    const { socket } = await connectUser(server.url, u);
    // Silence is the behaviour under test: several times the 2 × heartbeat cutoff.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 6));
    expect(socket.closeCode).toBeUndefined();
    await expectAlive(socket);
    socket.close();
  });

  it('a client that never answers pings is closed after about two heartbeats of silence', async () => {
    const u = await register(server.url);
    const raw = await RawWs.open(server.port);
    raw.sendText(JSON.stringify({ type: 'hello', id: 'h', token: u.token }));
    const lastSpoke = Date.now();
    await until(() => raw.opcodes.includes(0x1), 'hello reply (a text frame)');
    await until(() => raw.closed, 'the server to drop the silent client', 5_000);
    const silentFor = Date.now() - lastSpoke;
    expect(raw.opcodes).toContain(OP_PING);
    expect(silentFor).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS - 20);
    expect(silentFor).toBeLessThan(2 * HEARTBEAT_MS + HEARTBEAT_MS + 1_000);
    await until(() => ![...server.gateway.sessions].some((s) => s.userId === u.id), 'the session released');
  });

  it('a silent client that never sent hello is dropped the same way (before the hello timeout)', async () => {
    const raw = await RawWs.open(server.port);
    const opened = Date.now();
    await until(() => raw.closed, 'the server to drop the silent client', 5_000);
    expect(Date.now() - opened).toBeLessThan(server.config.HELLO_TIMEOUT_MS);
    expect(raw.opcodes).toContain(OP_PING);
  });
});
