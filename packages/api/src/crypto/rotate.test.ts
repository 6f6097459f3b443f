import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseEncryptionKeys } from './keyring.ts';
import { rotateSecret, rotateSecrets } from './rotate.ts';
import { decryptSecret, encryptSecret, needsRotation, secretKeyId, TamperedSecretError, UnknownKeyIdError } from './secret-box.ts';
import { openSecrets, sealSecrets } from './secret-fields.ts';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const before = parseEncryptionKeys(`old:${OLD}`);
const during = parseEncryptionKeys(`new:${NEW},old:${OLD}`);
const after = parseEncryptionKeys(`new:${NEW}`);
const AAD = 'bot:42/apiSecret';

describe('rotateSecret', () => {
  it('moves an old-key value to the active key, keeping its plaintext and its AAD', () => {
    const stored = encryptSecret(before, 'exchange-secret', AAD);
    const rotated = rotateSecret(during, stored, AAD);
    expect(secretKeyId(rotated)).toBe('new');
    expect(needsRotation(during, rotated)).toBe(false);
    expect(decryptSecret(after, rotated, AAD)).toBe('exchange-secret');
    expect(() => decryptSecret(after, rotated, 'bot:43/apiSecret')).toThrow(TamperedSecretError);
  });

  it('returns a current value unchanged', () => {
    const current = encryptSecret(during, 'exchange-secret', AAD);
    expect(rotateSecret(during, current, AAD)).toBe(current);
  });

  it('lets old keys decrypt until they are removed from the keyring', () => {
    const stored = encryptSecret(before, 'exchange-secret', AAD);
    expect(decryptSecret(during, stored, AAD)).toBe('exchange-secret');
    expect(() => decryptSecret(after, stored, AAD)).toThrow(UnknownKeyIdError);
    expect(() => rotateSecret(after, stored, AAD)).toThrow(UnknownKeyIdError);
  });

  it('refuses to rotate a value that does not open, current or not', () => {
    expect(() => rotateSecret(during, encryptSecret(before, 's', AAD), 'elsewhere')).toThrow(TamperedSecretError);
    expect(() => rotateSecret(during, encryptSecret(during, 's', AAD), 'elsewhere')).toThrow(TamperedSecretError);
  });
});

describe('rotateSecrets', () => {
  const params = { symbol: 'ETHUSDT', apiKey: 'key-material-1', exchange: { apiSecret: 'secret-material-2' }, tokens: ['t-3', 't-4'] };

  it('re-encrypts every old-key value of a sealed object and counts them', () => {
    const sealed = sealSecrets(before, params, 'bot:7:params');
    const { value, changed } = rotateSecrets(during, sealed, 'bot:7:params');
    expect(changed).toBe(4);
    expect(secretKeyId(value.apiKey)).toBe('new');
    expect(secretKeyId(value.exchange.apiSecret)).toBe('new');
    expect(value.tokens.map(secretKeyId)).toEqual(['new', 'new']);
    expect(openSecrets(after, value, 'bot:7:params')).toEqual(params);
    expect(sealed.apiKey).not.toBe(value.apiKey);
  });

  it('leaves current values alone and reports nothing to write', () => {
    const sealed = sealSecrets(during, params, 'bot:7:params');
    const { value, changed } = rotateSecrets(during, sealed, 'bot:7:params');
    expect(changed).toBe(0);
    expect(value).toEqual(sealed);
  });

  it('rotates a mix, and seals a secret still stored in plaintext', () => {
    const sealed = sealSecrets(before, params, 'bot:7:params');
    const mixed = { ...sealed, apiKey: sealSecrets(during, params, 'bot:7:params').apiKey, webhookSecret: 'legacy-plaintext' };
    const { value, changed } = rotateSecrets(during, mixed, 'bot:7:params');
    expect(changed).toBe(4);
    expect(value.apiKey).toBe(mixed.apiKey);
    expect(JSON.stringify(value)).not.toContain('legacy-plaintext');
    expect(openSecrets(after, value, 'bot:7:params')).toEqual({ ...params, webhookSecret: 'legacy-plaintext' });
  });
});
