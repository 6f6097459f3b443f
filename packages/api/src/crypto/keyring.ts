import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { KEY_BYTES, KEY_ID_FORMAT, type Keyring } from './secret-box.ts';

export const DEV_KEY_FILE = 'encryption-key';
// Any even run of hex digits reads as hex, so a short hex key is reported in its own bytes. A
// 32-byte key in base64 is 43 or 44 characters with padding or non-hex letters: never even hex.
const HEX_TEXT = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;
const HOW_TO = `${KEY_BYTES} random bytes as base64, base64url or 64 hex digits (try: openssl rand -base64 ${KEY_BYTES})`;

/** A missing or unusable ENCRYPTION_KEY. Messages say which setting and entry, never any of its text. */
export class EncryptionConfigError extends Error {
  override name = 'EncryptionConfigError';
}

/** Stable short id of a key: the first 8 hex digits of its SHA-256 (`base64 -d | sha256sum | cut -c1-8`). */
export function deriveKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * Parse key material: one key, or a list `kid1:key1,kid2:key2` (commas or new lines) whose first
 * entry is the active key and whose others still decrypt, for rotation. Keys are 32 bytes as
 * base64, base64url or hex; an entry without `kid:` gets `deriveKeyId(key)`.
 * `source` names the setting in error messages.
 */
export function parseEncryptionKeys(material: string, source = 'ENCRYPTION_KEY'): Keyring {
  const entries = material.split(/[\s,]+/).filter(Boolean);
  if (entries.length === 0) throw new EncryptionConfigError(`${source} is empty: it needs ${HOW_TO}`);
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, index) => {
    // Entries are named by position only: echoing a "key id" could echo part of a mistyped key.
    const where = entries.length > 1 ? `${source} entry ${index + 1}` : source;
    const colon = entry.indexOf(':');
    const keyText = colon === -1 ? entry : entry.slice(colon + 1);
    const key = decodeKey(keyText, where);
    const keyId = colon === -1 ? deriveKeyId(key) : entry.slice(0, colon);
    if (!KEY_ID_FORMAT.test(keyId)) {
      throw new EncryptionConfigError(`${where} has an invalid key id: use 1 to 32 letters, digits, "_" or "-" before the ":"`);
    }
    if (keys.has(keyId)) throw new EncryptionConfigError(`${where} repeats the key id of an earlier entry`);
    keys.set(keyId, key);
  });
  const activeKeyId = keys.keys().next().value as string;
  return { activeKeyId, keys };
}

function decodeKey(text: string, where: string): Buffer {
  // Hex first: 64 hex digits are also valid base64 (of 48 bytes).
  let key: Buffer;
  if (HEX_TEXT.test(text)) key = Buffer.from(text, 'hex');
  else if (BASE64_TEXT.test(text)) key = Buffer.from(text, 'base64');
  else throw new EncryptionConfigError(`${where} is not base64, base64url or hex: it needs ${HOW_TO}`);
  if (key.length !== KEY_BYTES) {
    throw new EncryptionConfigError(`${where} is ${key.length} bytes long: it needs ${HOW_TO}`);
  }
  return key;
}

/**
 * The keyring for secrets at rest: ENCRYPTION_KEY, or the contents of ENCRYPTION_KEY_FILE. In
 * development a missing one is generated once into DATA_DIR/encryption-key (mode 0600) and reused;
 * in production a missing one stops the server. No key is ever printed.
 */
export function loadEncryptionKeyring(
  env: NodeJS.ProcessEnv,
  opts: { production: boolean; dataDir: string; logger?: Pick<Logger, 'warn'> },
): Keyring {
  return loadKeyring({ name: 'ENCRYPTION_KEY', value: env.ENCRYPTION_KEY, file: env.ENCRYPTION_KEY_FILE, devFile: DEV_KEY_FILE }, opts);
}

export interface KeySetting {
  /** The variable, e.g. AUDIT_KEY; its file variant is `${name}_FILE`. */
  name: string;
  value: string | undefined;
  file: string | undefined;
  /** The development key's file name under DATA_DIR. */
  devFile: string;
}

/**
 * A keyring from `NAME`, or the contents of `NAME_FILE`; in development a missing one is generated
 * once into DATA_DIR/devFile (mode 0600) and reused, in production it stops the start. With
 * `generate: false` (a command that only reads) an existing development key is used but none is made.
 */
export function loadKeyring(
  setting: KeySetting,
  opts: { production: boolean; dataDir: string; logger?: Pick<Logger, 'warn'> | undefined; generate?: boolean },
): Keyring {
  const { name } = setting;
  if (setting.value) return parseEncryptionKeys(setting.value, name);
  if (setting.file) {
    let material: string;
    try {
      material = readFileSync(setting.file, 'utf8');
    } catch {
      throw new EncryptionConfigError(`${name}_FILE (${setting.file}) cannot be read`);
    }
    return parseEncryptionKeys(material, `${name}_FILE (${setting.file})`);
  }
  if (opts.production) {
    throw new EncryptionConfigError(`${name} (or ${name}_FILE) is required when NODE_ENV=production: ${HOW_TO}`);
  }
  const file = path.join(opts.dataDir, setting.devFile);
  if (opts.generate === false) {
    if (!existsSync(file)) throw new EncryptionConfigError(`${name} (or ${name}_FILE) is not set and there is no ${file}: ${HOW_TO}`);
    return parseEncryptionKeys(readFileSync(file, 'utf8'), file);
  }
  mkdirSync(opts.dataDir, { recursive: true });
  try {
    // 'wx': two processes starting together must not each write (and then use) a different key.
    writeFileSync(file, randomBytes(KEY_BYTES).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  opts.logger?.warn({ file }, `${name} is not set: using a generated development key kept in DATA_DIR. Set ${name} in production.`);
  return parseEncryptionKeys(readFileSync(file, 'utf8'), file);
}
