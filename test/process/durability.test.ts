/**
 * Acknowledged means durable: a server killed with SIGKILL mid-stream keeps
 * every message it acknowledged, and its seqs stay gap-free after restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, group, register, Socket, until } from '../helpers/client.ts';
import { startServerProcess } from '../helpers/process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'parley-durability-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('kill -9 while clients send', () => {
  it('keeps every acknowledged message, gap-free', async () => {
    const first = await startServerProcess({ DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'FULL' });
    const users = await Promise.all([1, 2, 3, 4].map(() => register(first.url)));
    const conv = await group(first.url, users[0]!, users.slice(1));
    const sockets = await Promise.all(users.map((u) => Socket.connect(first.url, u).then((c) => c.socket)));

    // Each client sends as fast as acks come back, until the server dies.
    const acked = new Map<string, number>();
    let stop = false;
    const senders = sockets.map(async (s, i) => {
      for (let n = 0; !stop; n++) {
        const clientMsgId = `u${i}-${n}`;
        const reply = await Promise.race([
          s.request('send', { conversationId: conv, clientMsgId, body: `message ${n} from ${i}` }),
          until(() => s.closeCode !== undefined, 'close', 30_000).then(() => null),
        ]);
        if (!reply || !reply.ok) return;
        acked.set(clientMsgId, reply.data.message.seq);
      }
    });
    await until(() => acked.size >= 300, '300 acknowledged sends', 20_000);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    stop = true;
    await Promise.all(senders);

    const second = await startServerProcess({ DATA_DIR: dataDir });
    try {
      const events: any[] = [];
      for (let after = 0; ; ) {
        const page = await api(second.url, 'GET', `/v1/conversations/${conv}/events?afterSeq=${after}&limit=1000`, {
          token: (await api(second.url, 'POST', '/v1/auth/login', { body: { username: users[0]!.username, password: users[0]!.password } })).body.accessToken,
        });
        expect(page.status).toBe(200);
        events.push(...page.body.items);
        if (page.body.nextAfterSeq === null) break;
        after = page.body.nextAfterSeq;
      }
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const stored = new Map(events.map((e) => [e.data.clientMsgId as string, e.seq as number]));
      for (const [clientMsgId, seq] of acked) expect(stored.get(clientMsgId), clientMsgId).toBe(seq);
    } finally {
      second.proc.kill('SIGKILL');
      await second.exited;
    }
  });
});
