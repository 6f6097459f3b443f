import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

// OWASP's argon2id baseline: 19 MiB of memory, 2 passes, 1 lane.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Burns one verification's worth of time, so an unknown email answers as slowly as a known one. */
  verifyDummy(password: string): Promise<void>;
}

export async function createPasswordHasher(): Promise<PasswordHasher> {
  const dummyHash = await argon2.hash(randomBytes(32).toString('hex'), ARGON2_OPTIONS);
  return {
    hash: (password) => argon2.hash(password, ARGON2_OPTIONS),
    async verify(hash, password) {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    },
    async verifyDummy(password) {
      await argon2.verify(dummyHash, password).catch(() => false);
    },
  };
}

/** A one-time password: 120 random bits, readable, and comfortably past the strength policy. */
export function generateOneTimePassword(): string {
  return randomBytes(15).toString('base64url').replace(/[-_]/g, 'x') + '-Tv';
}
