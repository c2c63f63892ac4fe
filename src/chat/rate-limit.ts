/**
 * In-memory rate limiters, per node. Hand-written: a token bucket and a
 * fixed-window counter are a few lines each, and the libraries for this are
 * tied to an HTTP framework while these guard WebSocket frames too.
 */
import { rateLimited } from '../errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/** `rate` per second with bursts of `burst`. A rate of 0 allows everything. */
export class TokenBucket {
  private readonly buckets = new Map<string, Bucket>();

  private readonly rate: number;
  private readonly burst: number;

  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = burst;
  }

  /** Takes one token for `key`, or throws `rate_limited` with the seconds until one is available. */
  take(key: string, now = Date.now()): void {
    if (this.rate === 0) return;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens < 1) throw rateLimited(Math.max(1, Math.ceil((1 - b.tokens) / this.rate)));
    b.tokens -= 1;
  }

  /** Forgets buckets that have refilled completely, so idle keys cost no memory. */
  sweep(now = Date.now()): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    }
  }
}

interface Window {
  count: number;
  start: number;
}

/** At most `limit` hits per key in each `windowMs`. A limit of 0 allows everything. */
export class WindowCounter {
  private readonly windows = new Map<string, Window>();

  private readonly limit: number;
  private readonly windowMs: number;

  constructor(limit: number, windowMs = 60_000) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  private current(key: string, now: number): Window {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) this.windows.set(key, (w = { count: 0, start: now }));
    return w;
  }

  /** Throws `rate_limited` when `key` has used up its window. */
  check(key: string, now = Date.now()): void {
    if (this.limit === 0) return;
    const w = this.current(key, now);
    if (w.count >= this.limit) throw rateLimited(Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)));
  }

  hit(key: string, now = Date.now()): void {
    if (this.limit === 0) return;
    this.current(key, now).count++;
  }

  sweep(now = Date.now()): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}
