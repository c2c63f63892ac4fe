/** Small assertions and shortcuts shared by the REST suites (not a test file itself). */
import { monotonicFactory } from 'ulid';
import { expect } from 'vitest';
import type { Role } from '../../src/protocol/types.ts';
import { api, type Response, type TestUser } from '../helpers/client.ts';
import type { TestServer } from '../helpers/server.ts';

/** Asserts the protocol's error shape: `{error: {code, message, details?}}`, the status, and no stack anywhere. */
export function expectError(res: Response, status: number, code: string): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { error: { code } } });
  expect(typeof res.body.error.message).toBe('string');
  const extra = Object.keys(res.body).filter((k) => k !== 'error');
  expect(extra).toEqual([]);
  const allowed = ['code', 'message', 'details'];
  expect(Object.keys(res.body.error).filter((k) => !allowed.includes(k))).toEqual([]);
  expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at |\.ts:\d+|stack/i);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the wall clock is within [lo, hi) milliseconds past a whole second. */
export async function alignTo(lo: number, hi: number): Promise<void> {
  for (;;) {
    const ms = Date.now() % 1000;
    if (ms >= lo && ms < hi) return;
    await sleep(ms < lo ? lo - ms : 1000 - ms + lo);
  }
}

let msgCounter = 0;
export const cid = () => `c${++msgCounter}_${Math.random().toString(36).slice(2, 8)}`;

/** Sends a message over REST and returns the response (status not checked). */
export function send(base: string, user: TestUser, conversationId: string, body: string, extra: Record<string, unknown> = {}) {
  return api(base, 'POST', `/v1/conversations/${conversationId}/messages`, {
    token: user.token,
    body: { clientMsgId: cid(), body, ...extra },
  });
}

/** Sends and insists on 201; returns the message. */
export async function sent(base: string, user: TestUser, conversationId: string, body: string) {
  const r = await send(base, user, conversationId, body);
  if (r.status !== 201) throw new Error(`send failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.message;
}

export async function getConv(base: string, user: TestUser, conversationId: string) {
  const r = await api(base, 'GET', `/v1/conversations/${conversationId}`, { token: user.token });
  if (r.status !== 200) throw new Error(`get conversation failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Every event of a conversation (pages through the log). */
export async function allEvents(base: string, user: TestUser, conversationId: string): Promise<any[]> {
  const out: any[] = [];
  let after = 0;
  for (;;) {
    const r = await api(base, 'GET', `/v1/conversations/${conversationId}/events?afterSeq=${after}&limit=1000`, { token: user.token });
    if (r.status !== 200) throw new Error(`events failed: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...r.body.items);
    if (r.body.nextAfterSeq === null) return out;
    after = r.body.nextAfterSeq;
  }
}

const ulid = monotonicFactory();

/**
 * The protocol has roles `admin` but no REST call that grants one, so a group
 * with an admin is created through the node's own store (its public port).
 */
export async function groupWithRoles(
  server: TestServer,
  members: { user: TestUser; role: Role }[],
  title = 'roles group',
): Promise<string> {
  const id = ulid();
  await server.chat.store.createConversation({
    id,
    kind: 'group',
    title,
    public: false,
    createdAt: Date.now(),
    directKey: null,
    members: members.map((m) => ({ userId: m.user.id, role: m.role })),
  });
  return id;
}

export const MESSAGE_KEYS = [
  'attachments',
  'body',
  'clientMsgId',
  'conversationId',
  'createdAt',
  'deleted',
  'editedAt',
  'id',
  'reactions',
  'replyToSeq',
  'senderId',
  'seq',
].sort();

export const SUMMARY_KEYS = ['id', 'kind', 'title', 'public', 'lastSeq', 'lastReadSeq', 'unreadCount', 'lastMessage', 'updatedAt'].sort();
export const EVENT_KEYS = ['conversationId', 'seq', 'kind', 'actorId', 'at', 'data'].sort();
export const USER_KEYS = ['id', 'username', 'displayName', 'createdAt'].sort();

export const keys = (o: object) => Object.keys(o).sort();
