import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptSecret,
  encryptSecret,
  isEncrypted,
  MalformedSecretError,
  needsRotation,
  SecretBoxError,
  TamperedSecretError,
  UnknownKeyIdError,
  type Keyring,
} from './secret-box.ts';

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
const ring: Keyring = { activeKeyId: 'a', keys: new Map([['a', KEY_A]]) };
const SECRET = 'binance-api-secret-Zk3q9';
const AAD = 'bot:42/apiSecret';

// Flip one bit of one decoded part and re-encode it canonically: a valid-looking but altered value.
function flip(stored: string, part: 2 | 3 | 4): string {
  const parts = stored.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('encryptSecret / decryptSecret', () => {
  it('round-trips, with and without AAD, including empty and non-ASCII text', () => {
    for (const text of [SECRET, '', 'pâss wörd 🔑', 'x'.repeat(10_000)]) {
      expect(decryptSecret(ring, encryptSecret(ring, text, AAD), AAD)).toBe(text);
      expect(decryptSecret(ring, encryptSecret(ring, text))).toBe(text);
    }
  });

  it('produces a self-describing value with the key id, a 12-byte IV and a 16-byte tag, and no plaintext', () => {
    const stored = encryptSecret(ring, SECRET, AAD);
    const [version, keyId, iv, tag, ciphertext] = stored.split('.');
    expect(version).toBe('tv1');
    expect(keyId).toBe('a');
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(ciphertext!, 'base64url')).toHaveLength(Buffer.byteLength(SECRET));
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(AAD);
    expect(isEncrypted(stored)).toBe(true);
  });

  it('uses a fresh IV each time: the same plaintext never gives the same value', () => {
    const values = Array.from({ length: 50 }, () => encryptSecret(ring, SECRET, AAD));
    expect(new Set(values).size).toBe(50);
    expect(new Set(values.map((v) => v.split('.')[2])).size).toBe(50);
  });

  it.each([
    ['iv', 2],
    ['tag', 3],
    ['ciphertext', 4],
  ] as const)('detects a tampered %s', (_name, part) => {
    const tampered = flip(encryptSecret(ring, SECRET, AAD), part);
    const err = errorOf(() => decryptSecret(ring, tampered, AAD));
    expect(err).toBeInstanceOf(TamperedSecretError);
    expect((err as SecretBoxError).code).toBe('SECRET_TAMPERED');
  });

  it('detects a changed key id, even one naming the same key', () => {
    const twoIds: Keyring = { activeKeyId: 'a', keys: new Map([['a', KEY_A], ['a2', KEY_A]]) };
    const stored = encryptSecret(twoIds, SECRET, AAD);
    expect(() => decryptSecret(twoIds, stored.replace('tv1.a.', 'tv1.a2.'), AAD)).toThrow(TamperedSecretError);
    expect(() => decryptSecret(twoIds, stored.replace('tv1.a.', 'tv1.zz.'), AAD)).toThrow(UnknownKeyIdError);
  });

  it('refuses a non-canonical spelling of the same bytes and a truncated tag as malformed', () => {
    const stored = encryptSecret(ring, SECRET, AAD);
    const parts = stored.split('.');
    const tag = parts[3]!;
    // The last of 22 characters carries 2 bits of data: changing its unused bits keeps the bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(tag.at(-1)!);
    const sameBytes = `${tag.slice(0, -1)}${alphabet[last ^ 0x01]}`;
    expect(Buffer.from(sameBytes, 'base64url').equals(Buffer.from(tag, 'base64url'))).toBe(true);
    expect(() => decryptSecret(ring, [...parts.slice(0, 3), sameBytes, parts[4]].join('.'), AAD)).toThrow(MalformedSecretError);
    expect(() => decryptSecret(ring, [...parts.slice(0, 3), tag.slice(0, 12), parts[4]].join('.'), AAD)).toThrow(MalformedSecretError);
  });

  it.each(['', SECRET, 'tv1', 'tv1.a.b.c.d', 'tv2.a.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.', 'tv1.a.b.c.d.e', 'tv1.a.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.x y'])(
    'refuses malformed value %j',
    (value) => {
      expect(isEncrypted(value)).toBe(false);
      const err = errorOf(() => decryptSecret(ring, value));
      expect(err).toBeInstanceOf(MalformedSecretError);
      expect((err as SecretBoxError).code).toBe('SECRET_MALFORMED');
    },
  );

  it('fails with another AAD (a value moved to another bot or field), or none', () => {
    const stored = encryptSecret(ring, SECRET, AAD);
    expect(() => decryptSecret(ring, stored, 'bot:43/apiSecret')).toThrow(TamperedSecretError);
    expect(() => decryptSecret(ring, stored, 'bot:42/password')).toThrow(TamperedSecretError);
    expect(() => decryptSecret(ring, stored)).toThrow(TamperedSecretError);
  });

  it('names an unknown key id, and fails under a wrong key of the same id', () => {
    const stored = encryptSecret(ring, SECRET, AAD);
    const other: Keyring = { activeKeyId: 'b', keys: new Map([['b', KEY_B]]) };
    const err = errorOf(() => decryptSecret(other, stored, AAD));
    expect(err).toBeInstanceOf(UnknownKeyIdError);
    expect((err as UnknownKeyIdError).keyId).toBe('a');
    expect((err as SecretBoxError).code).toBe('SECRET_UNKNOWN_KEY');
    const wrongKey: Keyring = { activeKeyId: 'a', keys: new Map([['a', KEY_B]]) };
    expect(() => decryptSecret(wrongKey, stored, AAD)).toThrow(TamperedSecretError);
  });

  it('never puts the plaintext, the AAD or a key in an error', () => {
    const stored = encryptSecret(ring, SECRET, AAD);
    const other: Keyring = { activeKeyId: 'b', keys: new Map([['b', KEY_B]]) };
    const errors = [
      errorOf(() => decryptSecret(ring, flip(stored, 4), AAD)),
      errorOf(() => decryptSecret(ring, stored, 'elsewhere')),
      errorOf(() => decryptSecret(other, stored, AAD)),
      errorOf(() => decryptSecret(ring, `${stored}!`, AAD)),
    ];
    for (const err of errors) {
      const text = `${String(err)} ${(err as Error).stack ?? ''} ${JSON.stringify(err)}`;
      for (const needle of [SECRET, AAD, KEY_A.toString('base64'), KEY_A.toString('base64url'), KEY_A.toString('hex'), stored]) {
        expect(text).not.toContain(needle);
      }
    }
  });

  it('says when a value is under a key other than the active one', () => {
    const rotated: Keyring = { activeKeyId: 'b', keys: new Map([['b', KEY_B], ['a', KEY_A]]) };
    const old = encryptSecret(ring, SECRET);
    expect(needsRotation(ring, old)).toBe(false);
    expect(needsRotation(rotated, old)).toBe(true);
    expect(needsRotation(rotated, encryptSecret(rotated, SECRET))).toBe(false);
    expect(() => needsRotation(rotated, SECRET)).toThrow(MalformedSecretError);
  });
});
