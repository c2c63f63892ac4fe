/**
 * The login's token pair: hands out an access token that is still valid,
 * refreshes it shortly before it expires (from `expiresIn`), and makes sure
 * only one refresh runs at a time. That matters: refresh tokens rotate, and
 * presenting a spent one revokes the whole login (reuse detection).
 */
import type { AuthResult } from '../src/protocol/types.ts';
import { isAuthError, ParleyApiError, ParleyClientError } from './errors.ts';
import type { AccessTokenSource } from './rest.ts';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in ms since the epoch; absent when unknown. */
  expiresAt?: number | undefined;
}

/** Tokens from an auth answer; `sentAt` is when the request left, so the expiry errs early. */
export function tokensFrom(auth: AuthResult, sentAt: number = Date.now()): Tokens {
  return { accessToken: auth.accessToken, refreshToken: auth.refreshToken, expiresAt: sentAt + auth.expiresIn * 1000 };
}

export interface TokenManagerOptions {
  /** Exchanges a refresh token for a new pair (POST /v1/auth/refresh). */
  refresh: (refreshToken: string) => Promise<AuthResult>;
  /** Every new pair, and null when the login ends; apps persist the pair here. */
  onChange?: ((tokens: Tokens | null) => void) | undefined;
  /** The refresh token was refused: the login is over. */
  onExpired?: ((err: unknown) => void) | undefined;
}

/** Refresh this long before expiry: a third of the lifetime, at most a minute. */
const leadFor = (ttlMs: number) => Math.min(60_000, ttlMs / 3);
const MAX_RETRY_MS = 30_000;

type Timer = ReturnType<typeof setTimeout>;
/** Timers that must not keep a Node process alive on their own (browsers have no unref). */
const unref = (t: Timer) => (t as { unref?: () => void }).unref?.();

export class TokenManager implements AccessTokenSource {
  private tokens: Tokens | null = null;
  private ttlMs = 0;
  private inFlight: Promise<Tokens> | null = null;
  private timer: Timer | null = null;
  private failures = 0;
  private stopped = false;
  private readonly opts: TokenManagerOptions;

  constructor(opts: TokenManagerOptions, initial?: Tokens | null) {
    this.opts = opts;
    if (initial) this.adopt(initial);
  }

  get current(): Tokens | null {
    return this.tokens;
  }

  /** Takes a new pair (a login, or a refresh done elsewhere) and plans its refresh. */
  set(tokens: Tokens | null): void {
    this.adopt(tokens);
    this.opts.onChange?.(tokens);
  }

  /** A token to use now: refreshed first when it is about to expire. */
  async accessToken(): Promise<string | null> {
    const t = this.tokens;
    if (!t) return null;
    if (t.expiresAt === undefined || Date.now() < t.expiresAt - leadFor(this.ttlMs)) return t.accessToken;
    try {
      return (await this.refresh()).accessToken;
    } catch (err) {
      // A network failure while the old token still has a little life left: use it.
      if (!isAuthError(err) && t.expiresAt !== undefined && Date.now() < t.expiresAt && this.tokens === t) return t.accessToken;
      throw err;
    }
  }

  /** A token other than `rejected` (one the server refused): refreshes unless another call already did. */
  async renew(rejected: string): Promise<string> {
    const t = this.tokens;
    if (!t) throw new ParleyApiError(401, 'unauthorized', 'not logged in');
    if (t.accessToken !== rejected) return t.accessToken;
    return (await this.refresh()).accessToken;
  }

  /** Refreshes now; concurrent callers share the one request. */
  refresh(): Promise<Tokens> {
    this.inFlight ??= this.doRefresh().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Forgets the timer; the tokens stay readable. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private adopt(tokens: Tokens | null): void {
    this.tokens = tokens;
    this.ttlMs = tokens?.expiresAt !== undefined ? Math.max(0, tokens.expiresAt - Date.now()) : 0;
    this.schedule();
  }

  private async doRefresh(): Promise<Tokens> {
    const t = this.tokens;
    if (!t) throw new ParleyApiError(401, 'unauthorized', 'not logged in');
    if (this.stopped) throw new ParleyClientError('closed', 'the client is closed');
    const sentAt = Date.now();
    try {
      const auth = await this.opts.refresh(t.refreshToken);
      this.failures = 0;
      if (this.tokens !== t) return this.tokens ?? Promise.reject(new ParleyApiError(401, 'unauthorized', 'logged out'));
      this.set(tokensFrom(auth, sentAt));
      return this.tokens!;
    } catch (err) {
      if (this.tokens === t) {
        if (isAuthError(err)) {
          this.set(null);
          this.opts.onExpired?.(err);
        } else {
          // The server was unreachable: try again soon, sooner than the token runs out if we can.
          this.failures++;
          this.schedule(Math.min(MAX_RETRY_MS, 500 * 2 ** this.failures));
        }
      }
      throw err;
    }
  }

  private schedule(delayMs?: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const t = this.tokens;
    if (this.stopped || !t || t.expiresAt === undefined) return;
    const due = delayMs ?? Math.max(0, t.expiresAt - leadFor(this.ttlMs) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => {
        // reported through onExpired or retried by schedule()
      });
    }, due);
    unref(this.timer);
  }
}
