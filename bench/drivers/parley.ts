/** The load generator's Parley client: raw `ws`, hello/resume, acks, and `gap` filled over REST. */
import WebSocket from 'ws';
import type { BenchClient, ClientSpec, DriverOptions } from './driver.ts';

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export function parleyClient(spec: ClientSpec, opts: DriverOptions): BenchClient {
  return new ParleyBenchClient(spec, opts);
}

class ParleyBenchClient implements BenchClient {
  readonly spec: ClientSpec;
  private readonly opts: DriverOptions;
  private ws: WebSocket | null = null;
  private readonly pending = new Map<string, Pending>();
  private nextId = 0;
  /** Last seq seen in the conversation, for resume. */
  private lastSeq = 0;
  private filling: Promise<void> | null = null;
  private held: any[] = [];
  connected = false;

  constructor(spec: ClientSpec, opts: DriverOptions) {
    this.spec = spec;
    this.opts = opts;
  }

  private get base(): string {
    return this.spec.url ?? this.opts.url;
  }

  connect(): Promise<void> {
    return this.open(false);
  }

  resume(): Promise<void> {
    return this.open(true);
  }

  private open(resume: boolean): Promise<void> {
    const ws = new WebSocket(this.base.replace(/^http/, 'ws') + '/v1/ws', 'parley.v1.json', {
      perMessageDeflate: false,
      ...(this.spec.localAddress ? { localAddress: this.spec.localAddress } : {}),
    });
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => {
        const id = this.id();
        this.pending.set(id, { resolve: () => resolve(), reject });
        ws.send(
          JSON.stringify({
            type: 'hello',
            id,
            token: this.spec.token,
            ...(resume ? { resume: [{ conversationId: this.spec.conversation, afterSeq: this.lastSeq }] } : {}),
          }),
        );
      });
      ws.on('message', (data) => this.frame(JSON.parse(data.toString())));
      ws.on('close', () => {
        if (this.ws === ws) this.connected = false;
        for (const p of this.pending.values()) p.reject(new Error('connection closed'));
        this.pending.clear();
      });
    }).then(() => {
      this.connected = true;
    });
  }

  private id(): string {
    return (++this.nextId).toString(36);
  }

  private frame(f: any): void {
    switch (f.type) {
      case 'reply': {
        const p = this.pending.get(f.re);
        if (!p) return;
        this.pending.delete(f.re);
        if (f.ok) {
          if (f.data?.conversations) {
            const c = f.data.conversations.find((x: any) => x.id === this.spec.conversation);
            if (c && this.lastSeq === 0) this.lastSeq = c.lastSeq;
          }
          p.resolve();
        } else p.reject(new Error(`${f.error.code}: ${f.error.message}`));
        return;
      }
      case 'event':
        if (this.filling) this.held.push(f);
        else this.event(f);
        return;
      case 'gap':
        this.filling = this.fill(f.conversationId, f.afterSeq, f.throughSeq);
        return;
    }
  }

  private event(f: any): void {
    if (f.seq > this.lastSeq) this.lastSeq = f.seq;
    this.opts.sink(this.spec.index, f.conversationId, f.seq, f.kind === 'message.created' ? f.data.body : '');
  }

  /** Pages a `gap` range over REST, then releases the live events held meanwhile. */
  private async fill(conversationId: string, afterSeq: number, throughSeq: number): Promise<void> {
    this.opts.onGapFill();
    let after = afterSeq;
    while (after < throughSeq) {
      const res = await fetch(`${this.base}/v1/conversations/${conversationId}/events?afterSeq=${after}&limit=1000`, {
        headers: { authorization: `Bearer ${this.spec.token}` },
      });
      const page = (await res.json()) as { items: any[] };
      for (const e of page.items) if (e.seq <= throughSeq) this.event(e);
      if (page.items.length === 0) break;
      after = page.items[page.items.length - 1].seq;
    }
    this.filling = null;
    const held = this.held;
    this.held = [];
    for (const f of held) this.event(f);
  }

  send(n: number, body: string): Promise<void> {
    const ws = this.ws;
    if (!ws || !this.connected) return Promise.reject(new Error('not connected'));
    const id = this.id();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(
        JSON.stringify({ type: 'send', id, conversationId: this.spec.conversation, clientMsgId: `${this.spec.index}-${n}`, body }),
      );
    });
  }

  drop(): void {
    this.connected = false;
    this.ws?.terminate();
  }

  close(): void {
    this.connected = false;
    this.ws?.close();
  }
}
