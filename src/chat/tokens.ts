/** Access tokens (HS256 JWTs, via jose) and opaque refresh tokens (stored only as SHA-256). */
import { createHash, randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { unauthorized } from '../errors.ts';

export interface AccessClaims {
  userId: string;
  loginId: string;
}

export class TokenSigner {
  private readonly key: Uint8Array;

  /** Seconds an access token lives. */
  readonly accessTtl: number;

  constructor(secret: string, accessTtl: number) {
    this.accessTtl = accessTtl;
    this.key = new TextEncoder().encode(secret);
  }

  sign(claims: AccessClaims): Promise<string> {
    // A jti makes every token distinct, even two issued in the same second;
    // rounding exp up means a token never lives less than the expiresIn it was sold with.
    return new SignJWT({ sid: claims.loginId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setJti(randomBytes(12).toString('base64url'))
      .setIssuedAt()
      .setExpirationTime(Math.ceil(Date.now() / 1000 + this.accessTtl))
      .sign(this.key);
  }

  /** Throws `unauthorized` for a bad, forged or expired token. */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') throw new Error('claims');
      return { userId: payload.sub, loginId: payload.sid };
    } catch {
      throw unauthorized('invalid or expired access token');
    }
  }
}

export const newRefreshToken = () => randomBytes(32).toString('base64url');
export const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('base64url');
