/** Password hashing: scrypt at OWASP's parameters by default, off the event loop. */
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../src/chat/passwords.ts';
import { loadConfig } from '../../src/config.ts';

describe('passwords', () => {
  it('defaults to scrypt N=2^17, r=8, p=1', async () => {
    const cost = loadConfig({}).SCRYPT_COST;
    expect(cost).toBe(17);
    const hash = await hashPassword('correct horse battery', cost);
    expect(hash).toMatch(/^scrypt\$17\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', hash)).toBe(true);
    expect(await verifyPassword('correct horse batterY', hash)).toBe(false);
  });

  it('does not block the event loop while hashing', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await hashPassword('correct horse battery', 17);
    clearInterval(timer);
    // A hash on the main thread would let no timer fire until it was done.
    expect(ticks).toBeGreaterThan(5);
  });

  it('verifies hashes made at another cost and refuses malformed ones', async () => {
    const cheap = await hashPassword('pw-12345678', 10);
    expect(await verifyPassword('pw-12345678', cheap)).toBe(true);
    expect(await verifyPassword('pw-12345678', 'bcrypt$whatever')).toBe(false);
  });
});
