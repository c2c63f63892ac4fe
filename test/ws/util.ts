/** Shared bits of the WebSocket suite: REST shortcuts, seq checks, seeding, and a raw WebSocket over TCP. */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type Socket as TcpSocket } from 'node:net';
import { expect } from 'vitest';
import { api, Socket, until, type TestUser } from '../helpers/client.ts';
import type { TestServer } from '../helpers/server.ts';

/** Opens a socket that never crashes the test process on a late 'error'. */
export async function openSocket(base: string, opts: Parameters<typeof Socket.open>[1] = {}): Promise<Socket> {
  const s = await Socket.open(base, opts);
  s.ws.on('error', () => {});
  return s;
}

/** Socket.connect, plus a quiet 'error' listener. */
export async function connectUser(base: string, user: TestUser, resume?: { conversationId: string; afterSeq: number }[]) {
  const r = await Socket.connect(base, user, resume);
  r.socket.ws.on('error', () => {});
  return r;
}

/** Proves the connection is open and answering: a ping gets its `{}` reply. */
export async function expectAlive(s: Socket): Promise<void> {
  const r = await s.request('ping');
  expect(r).toMatchObject({ type: 'reply', ok: true, data: {} });
  expect(s.closeCode).toBeUndefined();
}

export async function restSend(base: string, user: TestUser, conv: string, body: string, clientMsgId: string = randomUUID()) {
  const r = await api(base, 'POST', `/v1/conversations/${conv}/messages`, { token: user.token, body: { clientMsgId, body } });
  if (r.status !== 201) throw new Error(`send failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.message;
}

export async function addMembers(base: string, actor: TestUser, conv: string, users: TestUser[]): Promise<void> {
  const r = await api(base, 'POST', `/v1/conversations/${conv}/members`, { token: actor.token, body: { userIds: users.map((u) => u.id) } });
  if (r.status !== 204) throw new Error(`add members failed: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function removeMember(base: string, actor: TestUser, conv: string, user: TestUser): Promise<void> {
  const r = await api(base, 'DELETE', `/v1/conversations/${conv}/members/${user.id}`, { token: actor.token });
  if (r.status !== 204) throw new Error(`remove member failed: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function lastSeqOf(base: string, user: TestUser, conv: string): Promise<number> {
  const r = await api(base, 'GET', `/v1/conversations/${conv}`, { token: user.token });
  if (r.status !== 200) throw new Error(`get conversation failed: ${r.status}`);
  return r.body.lastSeq;
}

export const seqsOf = (s: Socket, conv: string): number[] => s.events(conv).map((e) => e.seq);
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
export const lastSeen = (s: Socket, conv: string): number => seqsOf(s, conv).at(-1) ?? 0;

/** Waits until the socket has seen event `seq` of `conv`. */
export function waitSeq(s: Socket, conv: string, seq: number, timeoutMs = 10_000) {
  return s.waitFor((f) => f.type === 'event' && f.conversationId === conv && f.seq === seq, `event ${seq} of ${conv}`, timeoutMs);
}

/** Every reply frame answering `re`. */
export const repliesTo = (s: Socket, re: string) => s.frames.filter((f) => f.type === 'reply' && f.re === re);

/** Commits `n` messages straight through the committer (bypasses REST and rate limits), in parallel. */
export async function seedMessages(server: TestServer, conv: string, sender: TestUser, n: number, body = 'seed'): Promise<void> {
  const at = Date.now();
  const all = Array.from({ length: n }, () =>
    server.chat.committer.apply({
      kind: 'message.create',
      conversationId: conv,
      actorId: sender.id,
      at,
      message: { id: randomUUID(), clientMsgId: randomUUID(), body, replyToSeq: null, attachments: [] },
    }),
  );
  await Promise.all(all);
}

export async function counterValue(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/**
 * A WebSocket client written straight on TCP: it does the upgrade by hand,
 * records the opcodes the server sends, and never answers pings.
 */
export class RawWs {
  readonly tcp: TcpSocket;
  status = 0;
  closed = false;
  readonly opcodes: number[] = [];
  private buf = Buffer.alloc(0);
  private upgraded = false;

  private constructor(tcp: TcpSocket) {
    this.tcp = tcp;
    tcp.on('data', (d) => this.onData(d));
    tcp.on('close', () => {
      this.closed = true;
    });
    tcp.on('error', () => {});
  }

  /** Opens TCP and writes `head` (the start of a request); the caller may finish it later with `write`. */
  static async start(port: number, head: string): Promise<RawWs> {
    const tcp = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', reject);
    });
    const raw = new RawWs(tcp);
    if (head) tcp.write(head);
    return raw;
  }

  static upgradeRequest(port: number, extraHeaders = ''): string {
    return (
      `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: parley.v1.json\r\n${extraHeaders}\r\n`
    );
  }

  static async open(port: number): Promise<RawWs> {
    const raw = await RawWs.start(port, RawWs.upgradeRequest(port));
    await until(() => raw.status !== 0 || raw.closed, 'upgrade response');
    if (raw.status !== 101) throw new Error(`raw upgrade refused: ${raw.status}`);
    return raw;
  }

  write(text: string): void {
    this.tcp.write(text);
  }

  /** Sends one masked text frame, as a client must. */
  sendText(text: string): void {
    this.tcp.write(RawWs.frame(text));
  }

  /** Sends one text frame and the TCP FIN together: the server reads both in the same turn. */
  endWithText(text: string): void {
    this.tcp.end(RawWs.frame(text));
  }

  private static frame(text: string): Buffer {
    const payload = Buffer.from(text);
    const mask = randomBytes(4);
    let header: Buffer;
    if (payload.length < 126) {
      header = Buffer.from([0x81, 0x80 | payload.length]);
    } else {
      header = Buffer.alloc(4);
      header[0] = 0x81;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    }
    const masked = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
    return Buffer.concat([header, mask, masked]);
  }

  destroy(): void {
    this.tcp.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString();
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? -1);
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
    }
    // Server frames are unmasked; only opcodes matter here.
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1]! & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buf.length < offset + len) return;
      this.opcodes.push(this.buf[0]! & 0x0f);
      this.buf = this.buf.subarray(offset + len);
    }
  }
}
