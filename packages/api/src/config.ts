import { defaultPasswordHashConcurrency } from './services/passwords.ts';

/** Security knobs with the defaults the platform ships; the server maps environment variables onto them. */
export interface SecurityConfig {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  /** A rotated refresh token replayed within this window (concurrent tabs) gets the same successor. */
  refreshGraceMs: number;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  maxSessionsPerUser: number;
  accountLockout: { maxFailures: number; windowMs: number; lockMs: number };
  ipThrottle: { maxFailures: number; windowMs: number; blockMs: number };
  /** Revoked sessions' sockets close after this delay, so the revocation event reaches them first. */
  wsRevokeCloseDelayMs: number;
  /** argon2 hashes run at once; the rest wait their turn (see defaultPasswordHashConcurrency). */
  passwordHashConcurrency: number;
  /** SECURITY_ALLOWLIST: normalised CIDRs never blocked, by a rule or by hand. */
  ipAllowlist: readonly string[];
}

const MINUTE = 60_000;

export const defaultSecurityConfig: SecurityConfig = {
  issuer: 'tapevision',
  audience: 'tapevision-api',
  accessTokenTtlSeconds: 600,
  refreshGraceMs: 10_000,
  sessionIdleMs: 30 * MINUTE,
  sessionAbsoluteMs: 12 * 60 * MINUTE,
  maxSessionsPerUser: 5,
  accountLockout: { maxFailures: 5, windowMs: 15 * MINUTE, lockMs: 15 * MINUTE },
  ipThrottle: { maxFailures: 20, windowMs: 15 * MINUTE, blockMs: 15 * MINUTE },
  wsRevokeCloseDelayMs: 200,
  passwordHashConcurrency: defaultPasswordHashConcurrency(),
  // The machine itself is trusted: a developer's mistyped passwords or a local tool's burst must
  // never block loopback for a day. Behind a proxy (TRUST_PROXY) clients have their own addresses.
  ipAllowlist: ['127.0.0.0/8', '::1/128'],
};
