import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export const MIN_SECRET_BYTES = 32;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The JWT signing secret: JWT_SECRET, or the contents of JWT_SECRET_FILE. In development a missing
 * one is generated and kept in DATA_DIR; in production a missing or short one stops the server.
 * The secret itself is never printed.
 */
export function loadJwtSecret(
  env: NodeJS.ProcessEnv,
  opts: { production: boolean; dataDir: string; logger: Logger },
): Uint8Array {
  let secret = env.JWT_SECRET;
  if (!secret && env.JWT_SECRET_FILE) {
    try {
      secret = readFileSync(env.JWT_SECRET_FILE, 'utf8').trim();
    } catch {
      throw new ConfigError(`JWT_SECRET_FILE (${env.JWT_SECRET_FILE}) cannot be read`);
    }
  }
  if (secret) {
    const bytes = new TextEncoder().encode(secret);
    if (bytes.length < MIN_SECRET_BYTES) {
      const message = `JWT_SECRET is too short: it needs at least ${MIN_SECRET_BYTES} bytes (try: openssl rand -base64 48)`;
      if (opts.production) throw new ConfigError(message);
      opts.logger.warn(message);
    }
    return bytes;
  }
  if (opts.production) {
    throw new ConfigError(
      `JWT_SECRET (or JWT_SECRET_FILE) is required when NODE_ENV=production: at least ${MIN_SECRET_BYTES} random bytes (try: openssl rand -base64 48)`,
    );
  }
  const file = path.join(opts.dataDir, 'jwt-secret');
  if (!existsSync(file)) {
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600 });
  }
  opts.logger.warn({ file }, 'JWT_SECRET is not set: using a generated development secret kept in DATA_DIR. Set JWT_SECRET in production.');
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}
