import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { loadKeyring } from '../crypto/keyring.ts';
import type { Keyring } from '../crypto/secret-box.ts';

/**
 * The audit key: HMAC-SHA256 keys that sign the audit chains and their checkpoints. Kept out of the
 * database, so write access to the database is not enough to forge, rewrite or drop rows unseen.
 * Same format as ENCRYPTION_KEY: `kid:key` entries, the first signs, every one verifies (rotation).
 */
export type AuditKeyring = Keyring;

export const AUDIT_DEV_KEY_FILE = 'audit-key';

/** The key new rows and checkpoints are signed with. */
export interface SigningKey {
  id: string;
  key: Buffer;
}

export function signingKey(keys: AuditKeyring): SigningKey {
  return { id: keys.activeKeyId, key: keys.keys.get(keys.activeKeyId)! };
}

/**
 * AUDIT_KEY, or the contents of AUDIT_KEY_FILE; in development generated once into
 * DATA_DIR/audit-key; required in production. `generate: false` for commands that only verify.
 */
export function loadAuditKeyring(
  setting: { key: string | undefined; keyFile: string | undefined },
  opts: { production: boolean; dataDir: string; logger?: Pick<Logger, 'warn'> | undefined; generate?: boolean },
): AuditKeyring {
  return loadKeyring({ name: 'AUDIT_KEY', value: setting.key, file: setting.keyFile, devFile: AUDIT_DEV_KEY_FILE }, opts);
}

export function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

/** Whether `mac` is the HMAC of `text` under the ring's key `keyId` (false for an unknown key id). */
export function macMatches(keys: AuditKeyring, keyId: string | null | undefined, text: string, mac: string | null | undefined): boolean {
  const key = keyId ? keys.keys.get(keyId) : undefined;
  if (!key || typeof mac !== 'string') return false;
  const expected = Buffer.from(hmacHex(key, text), 'hex');
  const given = Buffer.from(mac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
