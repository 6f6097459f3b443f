import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM keys by key id; `activeKeyId` encrypts, every key decrypts (rotation keeps old ones). */
export interface Keyring {
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

export const SECRET_VERSION = 'tv1';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
// A key id goes into every stored value, between dots: keep it short and dot-free.
export const KEY_ID_FORMAT = /^[A-Za-z0-9_-]{1,32}$/;
// tv1.<key id>.<12-byte IV = 16 chars>.<16-byte tag = 22 chars>.<ciphertext>, all base64url without padding.
const STORED_FORMAT = /^tv1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]*)$/;

export type SecretErrorCode = 'SECRET_MALFORMED' | 'SECRET_UNKNOWN_KEY' | 'SECRET_TAMPERED';

/** Base of every secret-box failure. Messages name the key id at most: never a plaintext, a key or a ciphertext. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
  constructor(
    readonly code: SecretErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class MalformedSecretError extends SecretBoxError {
  override name = 'MalformedSecretError';
  constructor() {
    super('SECRET_MALFORMED', `Stored secret is not a well-formed ${SECRET_VERSION} value`);
  }
}

export class UnknownKeyIdError extends SecretBoxError {
  override name = 'UnknownKeyIdError';
  constructor(readonly keyId: string) {
    super('SECRET_UNKNOWN_KEY', `Key id "${keyId}" is not in the keyring (ENCRYPTION_KEY)`);
  }
}

/** Authentication failed: the value was altered, or it belongs to another owner or field (AAD), or the key is wrong. */
export class TamperedSecretError extends SecretBoxError {
  override name = 'TamperedSecretError';
  constructor(readonly keyId: string) {
    super('SECRET_TAMPERED', `Stored secret under key id "${keyId}" failed authentication (altered, moved or wrong key)`);
  }
}

interface ParsedSecret {
  keyId: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Whether a value has the shape of an encrypted secret (no key needed, nothing verified). */
export function isEncrypted(value: unknown): value is string {
  return typeof value === 'string' && STORED_FORMAT.test(value);
}

/**
 * Encrypt under the keyring's active key with a fresh random 96-bit IV. `aad` (owner and field,
 * e.g. `bot:42/apiSecret`) is authenticated, not stored: decryption must present the same one,
 * so a value copied to another bot or field does not open.
 */
export function encryptSecret(keyring: Keyring, plaintext: string, aad = ''): string {
  const keyId = keyring.activeKeyId;
  const key = keyFor(keyring, keyId);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(keyId, aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SECRET_VERSION, keyId, b64url(iv), b64url(tag), b64url(ciphertext)].join('.');
}

/** Decrypt a value made by `encryptSecret` with the same `aad`; throws a `SecretBoxError` otherwise. */
export function decryptSecret(keyring: Keyring, stored: string, aad = ''): string {
  const parsed = parseSecret(stored);
  const key = keyFor(keyring, parsed.keyId);
  const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(parsed.keyId, aad));
  decipher.setAuthTag(parsed.tag);
  try {
    return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // Node's own message ("Unsupported state or unable to authenticate data") says nothing useful.
    throw new TamperedSecretError(parsed.keyId);
  }
}

/** Whether a stored value is under a key other than the active one (throws if it is malformed). */
export function needsRotation(keyring: Keyring, stored: string): boolean {
  return parseSecret(stored).keyId !== keyring.activeKeyId;
}

/** The key id a stored value names (throws if it is malformed). */
export function secretKeyId(stored: string): string {
  return parseSecret(stored).keyId;
}

function parseSecret(stored: string): ParsedSecret {
  const match = STORED_FORMAT.exec(stored);
  if (!match) throw new MalformedSecretError();
  const [, keyId, iv, tag, ciphertext] = match as unknown as [string, string, string, string, string];
  return { keyId, iv: strictDecode(iv), tag: strictDecode(tag), ciphertext: strictDecode(ciphertext) };
}

// Node's decoder ignores the unused low bits of the last character, so two strings could carry one
// value; accepting only the canonical spelling keeps every change to the text a detected change.
function strictDecode(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (b64url(bytes) !== text) throw new MalformedSecretError();
  return bytes;
}

function keyFor(keyring: Keyring, keyId: string): Buffer {
  const key = keyring.keys.get(keyId);
  if (!key) throw new UnknownKeyIdError(keyId);
  if (key.length !== KEY_BYTES) throw new RangeError(`Encryption key "${keyId}" must be ${KEY_BYTES} bytes`);
  return key;
}

// The header is authenticated too, so a value cannot be relabelled with another id of the same key.
function associatedData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${SECRET_VERSION}.${keyId}.${aad}`, 'utf8');
}

function b64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}
