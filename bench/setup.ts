/** Lays out a scenario's users and conversations: on Parley through its REST API, on the baseline by name. */
import { randomBytes } from 'node:crypto';
import type { ClientSpec } from './drivers/driver.ts';
import { pool } from './pool.ts';

export type ScenarioName = 'groups' | 'dm' | 'broadcast' | 'idle' | 'reconnect-storm' | 'cluster';

export interface Layout {
  clients: ClientSpec[];
  /** Conversation id → indices of its member clients. */
  members: Map<string, number[]>;
}

export interface LayoutOptions {
  scenario: ScenarioName;
  clients: number;
  group: number;
  senders: number;
}

/** Which client indices share a conversation, and who sends. */
function shape(o: LayoutOptions): { groups: number[][]; kind: 'group' | 'direct' | 'channel'; isSender: (i: number) => boolean } {
  const all = Array.from({ length: o.clients }, (_, i) => i);
  switch (o.scenario) {
    case 'dm':
      return { groups: chunk(all, 2), kind: 'direct', isSender: () => true };
    case 'broadcast':
      return { groups: [all], kind: 'channel', isSender: (i) => i < o.senders };
    case 'idle':
      return { groups: chunk(all, o.group), kind: 'group', isSender: () => false };
    default:
      return { groups: chunk(all, o.group), kind: 'group', isSender: () => true };
  }
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A counter that reports every 500th step of a long setup. */
function progress(report: (done: number) => void): () => void {
  let done = 0;
  return () => {
    if (++done % 500 === 0) report(done);
  };
}

async function call(url: string, method: string, path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

export async function layoutParley(url: string, o: LayoutOptions, log: (s: string) => void): Promise<Layout> {
  const run = randomBytes(3).toString('hex');
  const users: { id: string; token: string }[] = new Array(o.clients);
  log(`registering ${o.clients} users`);
  const registered = progress((d) => log(`registered ${d}/${o.clients}`));
  await pool(
    Array.from({ length: o.clients }, (_, i) => i),
    32,
    async (i) => {
      const r = await call(url, 'POST', '/v1/auth/register', { username: `b${run}_${i}`, password: 'bench-password' });
      users[i] = { id: r.user.id, token: r.accessToken };
      registered();
    },
  );
  const { groups, kind, isSender } = shape(o);
  const members = new Map<string, number[]>();
  const convOf = new Array<string>(o.clients);
  log(`creating ${groups.length} conversation(s)`);
  await pool(groups, 16, async (g) => {
    const owner = users[g[0]!]!;
    const body =
      kind === 'direct'
        ? { kind, userId: users[g[1]!]!.id }
        : kind === 'channel'
          ? { kind, title: 'bench', public: true }
          : { kind, title: 'bench', memberIds: g.slice(1).map((i) => users[i]!.id) };
    const conv = await call(url, 'POST', '/v1/conversations', body, owner.token);
    if (kind === 'channel') {
      const joined = progress((d) => log(`joined ${d}/${g.length}`));
      await pool(g.slice(1), 32, async (i) => {
        await call(url, 'POST', `/v1/conversations/${conv.id}/join`, undefined, users[i]!.token);
        joined();
      });
    }
    members.set(conv.id, g);
    for (const i of g) convOf[i] = conv.id;
  });
  return {
    members,
    clients: users.map((u, i) => ({ index: i, userId: u.id, token: u.token, conversation: convOf[i]!, sender: isSender(i) })),
  };
}

export function layoutBaseline(o: LayoutOptions): Layout {
  const run = randomBytes(3).toString('hex');
  const { groups, isSender } = shape(o);
  const members = new Map<string, number[]>();
  const clients: ClientSpec[] = [];
  groups.forEach((g, k) => {
    const room = `${run}-${k}`;
    members.set(room, g);
    for (const i of g) clients[i] = { index: i, userId: `u${i}`, token: '', conversation: room, sender: isSender(i) };
  });
  return { clients, members };
}
