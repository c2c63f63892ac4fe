/**
 * A thin test client over real HTTP and real WebSockets: REST calls that
 * return status and body, and a socket that records every frame and lets a
 * test wait for the frame it expects (polling, never sleeping).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { ChatEvent } from '../../src/protocol/types.ts';

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function api<T = any>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let payload: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  const res = await fetch(base + path, { method, headers, body: payload });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (metrics): keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

export interface TestUser {
  id: string;
  username: string;
  token: string;
  refreshToken: string;
  password: string;
}

let counter = 0;
/** A unique, valid username for this test process. */
export const uniqueName = (prefix = 'u') => `${prefix}${process.pid}_${++counter}_${randomUUID().slice(0, 6)}`.slice(0, 32);

export async function register(base: string, name = uniqueName(), password = 'correct horse'): Promise<TestUser> {
  const r = await api(base, 'POST', '/v1/auth/register', { body: { username: name, password } });
  if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.user.id, username: name, token: r.body.accessToken, refreshToken: r.body.refreshToken, password };
}

/** Creates a group owned by `owner` with `members`; returns its id. */
export async function group(base: string, owner: TestUser, members: TestUser[], title = 'test group'): Promise<string> {
  const r = await api(base, 'POST', '/v1/conversations', {
    token: owner.token,
    body: { kind: 'group', title, memberIds: members.map((m) => m.id) },
  });
  if (r.status !== 201) throw new Error(`group failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

export async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class Socket {
  readonly ws: WebSocket;
  readonly frames: any[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private nextId = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString())));
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  static open(base: string, opts: WebSocket.ClientOptions & { protocols?: string | string[] } = {}): Promise<Socket> {
    const { protocols, ...rest } = opts;
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws', protocols ?? 'parley.v1.json', rest);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Socket(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Opens a socket and completes `hello`; returns the socket and the hello reply's data. */
  static async connect(base: string, user: TestUser, resume?: { conversationId: string; afterSeq: number }[]) {
    const s = await Socket.open(base);
    const hello = await s.request('hello', { token: user.token, ...(resume ? { resume } : {}) });
    if (!hello.ok) throw new Error(`hello failed: ${JSON.stringify(hello)}`);
    return { socket: s, hello: hello.data };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a frame with a fresh id and resolves with its reply frame. */
  async request(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const id = `r${++this.nextId}`;
    this.send({ type, id, ...fields });
    return this.waitFor((f) => f.type === 'reply' && f.re === id, `reply to ${type}`);
  }

  async waitFor(pred: (f: any) => boolean, what: string, timeoutMs = 5_000): Promise<any> {
    return until(() => this.frames.find(pred), what, timeoutMs);
  }

  waitClose(timeoutMs = 5_000): Promise<number> {
    return until(() => this.closeCode, 'close', timeoutMs);
  }

  /** The event frames of one conversation received so far, in arrival order. */
  events(conversationId: string): ChatEvent[] {
    return this.frames.filter((f) => f.type === 'event' && f.conversationId === conversationId);
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the connection without a close handshake, as a network failure would. */
  kill(): void {
    this.ws.terminate();
  }
}
