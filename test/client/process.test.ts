/**
 * The SDK against a real server process killed with SIGKILL and started again
 * on the same port and data: clients reconnect on their own, resume with
 * nothing missed or repeated, and a message sent while the server was down
 * is delivered exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ParleyClient } from '../../client/index.ts';
import { until } from '../helpers/client.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { expectEverySeqOnce, newClient, Recorder } from './util.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'parley-client-'));
const procs: ServerProcess[] = [];
const clients: ParleyClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a server killed with SIGKILL and restarted', () => {
  it('clients resume with every seq once, and a message typed during the outage is sent exactly once', async () => {
    const first = await startServerProcess({ DATA_DIR: dataDir });
    procs.push(first);
    const port = new URL(first.url).port;
    const alice = await newClient(first.url);
    const bob = await newClient(first.url);
    clients.push(alice, bob);
    const conv = (await alice.api.createConversation({ kind: 'group', title: 'kill -9', memberIds: [bob.userId!] })).id;
    const seenByBob = new Recorder(bob);
    const seenByAlice = new Recorder(alice);
    await Promise.all([alice.connect(), bob.connect()]);
    for (let i = 0; i < 5; i++) await alice.send(conv, `before ${i}`);
    await seenByBob.reach(conv, 5);

    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await until(() => alice.state !== 'open' && bob.state !== 'open', 'both clients to notice');

    const offline = alice.send(conv, 'typed while the server was down');
    expect(alice.conversation(conv).pending().map((p) => p.body)).toEqual(['typed while the server was down']);

    const second = await startServerProcess({ DATA_DIR: dataDir, PORT: port });
    procs.push(second);
    // Traffic that bob may or may not be connected for yet: either way he must get it once.
    for (let i = 0; i < 5; i++) await alice.api.sendMessage(conv, { clientMsgId: `after-${i}`, body: `after ${i}` });
    const m = await offline;
    const last = (await alice.api.conversation(conv)).lastSeq;
    expect(last).toBe(11);
    await seenByBob.reach(conv, last, 15_000);
    await seenByAlice.reach(conv, last, 15_000);

    expectEverySeqOnce(seenByBob.seqs(conv), last);
    expectEverySeqOnce(seenByAlice.seqs(conv), last);
    const log = (await bob.api.events(conv, { afterSeq: 0 })).items;
    expect(log.filter((e) => e.kind === 'message.created' && e.data.clientMsgId === m.clientMsgId)).toHaveLength(1);
    expect(bob.conversation(conv).messages().map((x) => x.body)).toEqual(log.map((e) => (e.kind === 'message.created' ? e.data.body : '')));
    expect(seenByBob.opens()).toBe(2);
    expect(seenByBob.states).toContain('waiting');
  });
});
