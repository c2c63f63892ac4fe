/**
 * Correctness bookkeeping for one load-generator process. Every message body
 * carries its sender's index, a per-sender counter `n` and the send time.
 * Receivers check per conversation that seqs arrive exactly once and in order
 * (where the server has seqs), and per sender that `n` arrives in order; the
 * parent later compares what each receiver got with what each sender had
 * acknowledged, to count losses.
 */
import hdr from 'hdr-histogram-js';

export const now = () => performance.timeOrigin + performance.now();

export function encodeBody(sender: number, n: number, pad: string): string {
  return `${sender}:${n}:${now().toFixed(3)}${pad}`;
}

export function decodeBody(body: string): { sender: number; n: number; sentAt: number } | null {
  const [s, n, t] = body.split(':', 3);
  const sentAt = Number.parseFloat(t ?? '');
  if (s === undefined || n === undefined || Number.isNaN(sentAt)) return null;
  return { sender: Number(s), n: Number(n), sentAt };
}

export const newHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

/** Microseconds, the unit every histogram here records. */
export const toMicros = (ms: number) => Math.max(1, Math.round(ms * 1000));

export interface ReceiverReport {
  receiver: number;
  sender: number;
  /** Highest n such that 1..n all arrived from that sender. */
  contiguous: number;
}

export class Tracker {
  readonly e2e = newHistogram();
  readonly ack = newHistogram();
  delivered = 0;
  duplicated = 0;
  outOfOrder = 0;
  sent = 0;
  acknowledged = 0;
  failed = 0;
  /** receiver → conversation → last seq seen. */
  private readonly seqs = new Map<number, Map<string, number>>();
  /** receiver → sender → highest contiguous n, plus the n's that came early. */
  private readonly fromSender = new Map<number, Map<number, { contiguous: number; early: Set<number> }>>();
  /** sender → highest n acknowledged with all before it. */
  readonly ackedContiguous = new Map<number, number>();
  private readonly ackedEarly = new Map<number, Set<number>>();

  /** Records one delivered message at `receiver`; `seq` is null for servers without seqs. */
  deliver(receiver: number, conversation: string, seq: number | null, body: string): void {
    const msg = decodeBody(body);
    if (seq !== null) {
      let convs = this.seqs.get(receiver);
      if (!convs) this.seqs.set(receiver, (convs = new Map()));
      const last = convs.get(conversation);
      if (last !== undefined) {
        if (seq <= last) {
          this.duplicated++;
          return;
        }
        if (seq !== last + 1) this.outOfOrder++;
      }
      convs.set(conversation, seq);
    }
    if (!msg) return;
    this.delivered++;
    this.e2e.recordValue(toMicros(now() - msg.sentAt));
    let senders = this.fromSender.get(receiver);
    if (!senders) this.fromSender.set(receiver, (senders = new Map()));
    let s = senders.get(msg.sender);
    if (!s) senders.set(msg.sender, (s = { contiguous: 0, early: new Set() }));
    if (msg.n <= s.contiguous || s.early.has(msg.n)) {
      if (seq === null) this.duplicated++;
      return;
    }
    if (msg.n !== s.contiguous + 1) {
      if (seq === null) this.outOfOrder++;
      s.early.add(msg.n);
      return;
    }
    s.contiguous = msg.n;
    while (s.early.delete(s.contiguous + 1)) s.contiguous++;
  }

  /** Forgets the seq position of a receiver's conversation (after a `gap` it restarts at throughSeq). */
  setSeq(receiver: number, conversation: string, seq: number): void {
    let convs = this.seqs.get(receiver);
    if (!convs) this.seqs.set(receiver, (convs = new Map()));
    convs.set(conversation, seq);
  }

  lastSeq(receiver: number, conversation: string): number | undefined {
    return this.seqs.get(receiver)?.get(conversation);
  }

  acked(sender: number, n: number, ackMs: number): void {
    this.acknowledged++;
    this.ack.recordValue(toMicros(ackMs));
    let c = this.ackedContiguous.get(sender) ?? 0;
    if (n === c + 1) {
      c = n;
      const early = this.ackedEarly.get(sender);
      while (early?.delete(c + 1)) c++;
      this.ackedContiguous.set(sender, c);
    } else {
      let early = this.ackedEarly.get(sender);
      if (!early) this.ackedEarly.set(sender, (early = new Set()));
      early.add(n);
    }
  }

  receivers(): ReceiverReport[] {
    const out: ReceiverReport[] = [];
    for (const [receiver, senders] of this.fromSender) {
      for (const [sender, s] of senders) out.push({ receiver, sender, contiguous: s.contiguous });
    }
    return out;
  }
}
