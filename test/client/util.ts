/** Helpers for the SDK suites: clients on fast backoff, event recorders, and taps on server-side sessions. */
import { expect } from 'vitest';
import { ParleyClient, type ChatEvent, type ClientOptions } from '../../client/index.ts';
import type { Session } from '../../src/gateway/session.ts';
import type { ParleyServer } from '../../src/server.ts';
import { uniqueName, until } from '../helpers/client.ts';

/** Quick reconnects, so tests spend their time on behaviour rather than backoff. */
export const fast: ClientOptions = { reconnect: { initialDelayMs: 50, maxDelayMs: 400 } };

export const PASSWORD = 'correct horse';

export function newClient(baseUrl: string, opts: ClientOptions = {}): Promise<ParleyClient> {
  return ParleyClient.register(baseUrl, uniqueName('c'), PASSWORD, { ...fast, ...opts });
}

/** Records every event a client hands on, per conversation, in arrival order. */
export class Recorder {
  readonly events: ChatEvent[] = [];
  readonly states: string[] = [];
  readonly off: () => void;

  constructor(client: ParleyClient) {
    const a = client.on('event', (e) => this.events.push(e));
    const b = client.on('connection', (s) => this.states.push(s.state));
    this.off = () => {
      a();
      b();
    };
  }

  seqs(conversationId: string): number[] {
    return this.events.filter((e) => e.conversationId === conversationId).map((e) => e.seq);
  }

  /** Waits until the conversation's events reach `seq`. */
  reach(conversationId: string, seq: number, timeoutMs = 10_000): Promise<true> {
    return until(() => this.seqs(conversationId).includes(seq), `seq ${seq} of ${conversationId}`, timeoutMs);
  }

  opens(): number {
    return this.states.filter((s) => s === 'open').length;
  }
}

/** 1, 2, …, n. */
export const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

/** Every seq from 1 to `last`, each once, in order. */
export function expectEverySeqOnce(seqs: number[], last: number): void {
  expect(seqs.length).toBe(last);
  expect(seqs).toEqual(range(last));
}

export const sessionsOf = (server: ParleyServer, userId: string): Session[] =>
  [...server.gateway.sessions].filter((s) => s.userId === userId);

/**
 * Intercepts a server-side session: `outgoing` decides whether each frame the
 * server writes is really sent (false drops it, as a network that loses it
 * would); `incoming` sees each frame the client sent.
 */
export function tap(session: Session, hooks: { outgoing?: (frame: string) => boolean; incoming?: (frame: any) => void }): void {
  const transport = (session as unknown as { transport: { send(data: string | Buffer): void } }).transport;
  if (hooks.outgoing) {
    const send = transport.send.bind(transport);
    transport.send = (data) => {
      if (hooks.outgoing!(data.toString())) send(data);
    };
  }
  if (hooks.incoming) {
    const receive = session.receive.bind(session);
    session.receive = (text: string) => {
      hooks.incoming!(JSON.parse(text));
      receive(text);
    };
  }
}
