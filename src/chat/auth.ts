/** Accounts and sessions: register, login, refresh with rotation and reuse detection, logout. */
import { ParleyError, unauthorized } from '../errors.ts';
import type { AuthResult, User } from '../protocol/types.ts';
import type { Store, UserRecord } from '../store/store.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { WindowCounter } from './rate-limit.ts';
import { hashRefreshToken, newRefreshToken, type AccessClaims, type TokenSigner } from './tokens.ts';

export interface AuthOptions {
  scryptCost: number;
  refreshTtl: number;
  loginRateLimit: number;
  registerRateLimit: number;
}

export const publicUser = (u: UserRecord): User => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  createdAt: u.createdAt,
});

export class AuthService {
  private readonly failedLogins: WindowCounter;
  private readonly registrations: WindowCounter;
  /** A hash to verify against when the user does not exist, so both failures take as long. */
  private dummyHash: Promise<string> | null = null;

  private readonly store: Store;
  private readonly signer: TokenSigner;
  private readonly newId: () => string;
  private readonly opts: AuthOptions;

  constructor(store: Store, signer: TokenSigner, newId: () => string, opts: AuthOptions) {
    this.store = store;
    this.signer = signer;
    this.newId = newId;
    this.opts = opts;
    this.failedLogins = new WindowCounter(opts.loginRateLimit);
    this.registrations = new WindowCounter(opts.registerRateLimit);
  }

  async register(input: { username: string; password: string; displayName?: string | undefined }, address: string): Promise<AuthResult> {
    this.registrations.check(address);
    this.registrations.hit(address);
    if (await this.store.getUserByUsername(input.username)) throw new ParleyError('conflict', 'username is taken');
    const user: UserRecord = {
      id: this.newId(),
      username: input.username,
      displayName: input.displayName ?? input.username,
      passwordHash: await hashPassword(input.password, this.opts.scryptCost),
      createdAt: Date.now(),
    };
    await this.store.createUser(user); // the unique index decides a race between two registrations
    return this.issue(user, this.newId());
  }

  async login(username: string, password: string, address: string): Promise<AuthResult> {
    this.failedLogins.check(address);
    const user = await this.store.getUserByUsername(username);
    const ok = user
      ? await verifyPassword(password, user.passwordHash)
      : await verifyPassword(password, await this.dummy()).then(() => false);
    if (!user || !ok) {
      this.failedLogins.hit(address);
      throw new ParleyError('invalid_credentials', 'wrong username or password');
    }
    return this.issue(user, this.newId());
  }

  async refresh(refreshToken: string): Promise<AuthResult> {
    const next = newRefreshToken();
    const result = await this.store.rotateRefreshToken(
      hashRefreshToken(refreshToken),
      { tokenHash: hashRefreshToken(next), expiresAt: Date.now() + this.opts.refreshTtl * 1000 },
      Date.now(),
    );
    if (!result.ok) {
      throw unauthorized(
        result.reason === 'reused' ? 'refresh token was already used; this login is revoked' : 'invalid refresh token',
      );
    }
    const user = await this.store.getUser(result.userId);
    if (!user) throw unauthorized('invalid refresh token');
    return this.result(user, await this.signer.sign({ userId: user.id, loginId: result.loginId }), next);
  }

  async logout(refreshToken: string): Promise<void> {
    await this.store.revokeLoginOf(hashRefreshToken(refreshToken));
  }

  /** The caller behind an access token, or `unauthorized`. */
  async authenticate(accessToken: string): Promise<AccessClaims> {
    return this.signer.verify(accessToken);
  }

  sweep(): void {
    this.failedLogins.sweep();
    this.registrations.sweep();
  }

  private async issue(user: UserRecord, loginId: string): Promise<AuthResult> {
    const refreshToken = newRefreshToken();
    await this.store.createRefreshToken({
      tokenHash: hashRefreshToken(refreshToken),
      loginId,
      userId: user.id,
      expiresAt: Date.now() + this.opts.refreshTtl * 1000,
    });
    return this.result(user, await this.signer.sign({ userId: user.id, loginId }), refreshToken);
  }

  private result(user: UserRecord, accessToken: string, refreshToken: string): AuthResult {
    return { user: publicUser(user), accessToken, refreshToken, expiresIn: this.signer.accessTtl };
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword('not a real password', this.opts.scryptCost);
    return this.dummyHash;
  }
}

