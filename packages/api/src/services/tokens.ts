import { createHash, createHmac, createSecretKey, hkdfSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Role } from '../permissions.ts';

export interface AccessClaims {
  userId: string;
  sessionId: string;
  role: Role;
  jti: string;
  expiresAt: Date;
}

export interface TokenService {
  signAccessToken(input: { userId: string; sessionId: string; role: Role; now: Date }): Promise<{ token: string; expiresAt: Date }>;
  /** Null for any token that is forged, expired, or minted for another issuer or audience. */
  verifyAccessToken(token: string, now: Date): Promise<AccessClaims | null>;
  newRefreshToken(): string;
  /** The successor is derived from its parent, so a replay inside the grace window can be answered with the same token without storing it. */
  successorOf(refreshToken: string): string;
  hashRefreshToken(refreshToken: string): string;
  /**
   * A keyed hash of an identifier the audit log must not hold in the clear (what was typed into a
   * sign-in's email field): equal inputs match, but without the server's secret it cannot be
   * reversed by guessing.
   */
  fingerprint(value: string): string;
}

const ALGORITHM = 'HS256';
// Enough for every token in use on a busy process; each entry is a few hundred bytes.
const VERIFIED_CACHE_MAX = 10_000;

export function createTokenService(opts: {
  secret: Uint8Array;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
}): TokenService {
  // Imported once: key import per request is measurable in the benchmarks.
  const signingKey: KeyObject = createSecretKey(Buffer.from(deriveKey(opts.secret, 'tapevision access-token v1')));
  const successorKey = Buffer.from(deriveKey(opts.secret, 'tapevision refresh-successor v1'));
  const fingerprintKey = Buffer.from(deriveKey(opts.secret, 'tapevision identifier-fingerprint v1'));
  // Verified tokens by their full text: a forged or altered token never matches an entry.
  const verified = new Map<string, AccessClaims>();

  return {
    async signAccessToken({ userId, sessionId, role, now }) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      const exp = issuedAt + opts.accessTokenTtlSeconds;
      const token = await new SignJWT({ sid: sessionId, role })
        .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setJti(randomUUID())
        .setIssuedAt(issuedAt)
        .setExpirationTime(exp)
        .sign(signingKey);
      return { token, expiresAt: new Date(exp * 1000) };
    },
    async verifyAccessToken(token, now) {
      if (token.length > 4096) return null;
      // A token that verified once verifies again until it expires: the signature cannot change.
      // Only the expiry is re-checked; revocation is the session's business, checked per call.
      const known = verified.get(token);
      if (known) {
        if (known.expiresAt > now) return known;
        verified.delete(token);
      }
      try {
        const { payload } = await jwtVerify(token, signingKey, {
          algorithms: [ALGORITHM],
          issuer: opts.issuer,
          audience: opts.audience,
          currentDate: now,
          requiredClaims: ['sub', 'sid', 'role', 'jti', 'exp'],
        });
        if (typeof payload.sid !== 'string' || typeof payload.role !== 'string' || !payload.sub || !payload.jti) return null;
        const claims: AccessClaims = Object.freeze({
          userId: payload.sub,
          sessionId: payload.sid,
          role: payload.role as Role,
          jti: payload.jti,
          expiresAt: new Date((payload.exp ?? 0) * 1000),
        });
        // Bounded: the oldest entry makes room (tokens live 10 minutes, most are long expired by then).
        if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value as string);
        verified.set(token, claims);
        return claims;
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) return null;
        throw err;
      }
    },
    newRefreshToken: () => randomBytes(32).toString('base64url'),
    successorOf: (refreshToken) => createHmac('sha256', successorKey).update(refreshToken).digest('base64url'),
    hashRefreshToken: (refreshToken) => createHash('sha256').update(refreshToken).digest('hex'),
    fingerprint: (value) => createHmac('sha256', fingerprintKey).update(value).digest('base64url'),
  };
}

// Separate keys per purpose, so a flaw in one use of the secret cannot spill into another.
function deriveKey(secret: Uint8Array, info: string): ArrayBuffer {
  return hkdfSync('sha256', secret, new Uint8Array(0), info, 32);
}
