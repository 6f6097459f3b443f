import { decryptSecret, encryptSecret, isEncrypted, type Keyring } from './secret-box.ts';
import { SECRET_MASK } from './secret-mask.ts';

// Matched against the whole name, lower-cased, separators removed: clientSecret, API_SECRET,
// passphrase, refresh-token, credentials, Set-Cookie, Authorization, seedPhrase.
const SECRET_PART = /password|passwd|passphrase|secret|token|credential|cookie|authori[sz]ation|mnemonic|seedphrase|pincode|basicauth/;
// A key is secret when it says which: apiKey, privateKey, X-Api-Key, accessKey (not sortKey, publicKey).
const SECRET_KEY_PART = /(api|private|secret|access|signing|encryption|hmac|master|auth|client|consumer|license|webhook)key/;
// Whole words only: "pass" but not "passive" (a passive order), "otp" but not "footprint" (a chart).
const SECRET_WORDS = new Set(['pass', 'pwd', 'otp', 'totp', 'jwt', 'bearer', 'signature']);
// Whole names only: "pin" alone, not a pin bar.
const SECRET_NAMES = new Set(['key', 'pin']);
// Identifiers of secrets are not secrets: apiKeyId, token_id, secretKeyIds.
const IDENTIFIER_WORDS = new Set(['id', 'ids']);

/**
 * Whether a credential or bot parameter name denotes a secret, in any casing or separator style.
 * Unlike the audit redactor's `isSecretKey`, which errs wide for logs, it matches words, so a
 * trading parameter such as `passiveOnly` or `footprintBars` stays readable.
 */
export function isSecretField(name: string): boolean {
  const words = splitWords(name);
  const last = words.at(-1);
  if (last === undefined || IDENTIFIER_WORDS.has(last)) return false;
  const joined = words.join('');
  return (
    SECRET_PART.test(joined) ||
    SECRET_KEY_PART.test(joined) ||
    SECRET_NAMES.has(joined) ||
    words.some((word) => SECRET_WORDS.has(word))
  );
}

// apiKeyID -> api key id, X-API-KEY -> x api key, APIKey -> api key, secret_key_2 -> secret key 2
function splitWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Where a string sits: whether a secret-named key is on its path, and the AAD binding it there. */
export interface SecretSlot {
  secret: boolean;
  aad: string;
}

/**
 * Copy of a JSON-like value with every string passed through `visit`, told whether it sits under a
 * secret-named key (at any depth: all of `credentials: {…}` is secret) and its AAD: the prefix and
 * the object keys on its path. Array indexes are left out of the AAD, so removing one entry of a
 * list does not make the ones after it unreadable.
 */
export function mapSecretStrings<T>(value: T, aadPrefix: string, visit: (text: string, slot: SecretSlot) => string): T {
  return walk(value, [aadPrefix], false, visit) as T;
}

function walk(value: unknown, path: string[], secret: boolean, visit: (text: string, slot: SecretSlot) => string): unknown {
  // JSON of the path: keys may contain any character, so no separator could be unambiguous.
  if (typeof value === 'string') return visit(value, { secret, aad: JSON.stringify(path) });
  if (Array.isArray(value)) return value.map((item) => walk(item, path, secret, visit));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    // defineProperty, not `out[key] =`: a parsed "__proto__" key must stay data, not become the prototype.
    Object.defineProperty(out, key, {
      value: walk(inner, [...path, key], secret || isSecretField(key), visit),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `sealSecrets` was given `SECRET_MASK` as a secret: the caller must first put the stored value back in its place. */
export class MaskedSecretError extends Error {
  override name = 'MaskedSecretError';
  constructor() {
    super('A secret field holds the mask, not a value: keep the stored secret for it instead');
  }
}

export { SECRET_MASK };

/**
 * Encrypt every non-empty string under a secret-named key, at any depth, bound by AAD to
 * `aadPrefix` (the owner, e.g. `bot:<id>:params`) and its path. Values already encrypted are kept
 * only if they open at their place, so a ciphertext pasted from another bot or field is refused
 * here rather than failing later. Numbers and booleans are left as they are: secrets are strings.
 */
export function sealSecrets<T>(keyring: Keyring, value: T, aadPrefix: string): T {
  return mapSecretStrings(value, aadPrefix, (text, slot) => {
    // A form sent back as it was shown: sealing the mask would overwrite the real secret with it.
    if (slot.secret && text === SECRET_MASK) throw new MaskedSecretError();
    if (isEncrypted(text)) {
      decryptSecret(keyring, text, slot.aad);
      return text;
    }
    return slot.secret && text !== '' ? encryptSecret(keyring, text, slot.aad) : text;
  });
}

/** Reverse of `sealSecrets` with the same `aadPrefix`; throws a `SecretBoxError` on any value that does not open. */
export function openSecrets<T>(keyring: Keyring, value: T, aadPrefix: string): T {
  return mapSecretStrings(value, aadPrefix, (text, slot) => (isEncrypted(text) ? decryptSecret(keyring, text, slot.aad) : text));
}

/**
 * Copy for responses: every encrypted value, and every non-empty string under a secret-named key
 * (sealed or not), becomes `SECRET_MASK`. Needs no key: it never decrypts.
 */
export function maskSecrets<T>(value: T): T {
  return mapSecretStrings(value, '', (text, slot) => (isEncrypted(text) || (slot.secret && text !== '') ? SECRET_MASK : text));
}
