import { describe, expect, it } from 'vitest';
import { isSecretKey, REDACTED, redactSecrets } from './redact.ts';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInNpZCI6ImFiYyIsInJvbGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2Nzg';
const UNSIGNED_JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9.';
const API_KEY = 'tvk_live_8f2a9c1d0e7b4a6f';
const ARGON2 = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$5m4Fb0gJ3nR2xE2Q5n0oQm5ZB2Yb0mKk3b1wWz8Jt2s';

describe('isSecretKey', () => {
  it.each([
    'password',
    'Password',
    'PASSWORD',
    'PassWord',
    'newPassword',
    'NEW_PASSWORD',
    'new-password',
    'currentPassword',
    'oneTimePassword',
    'passwordHash',
    'passwd',
    'passphrase',
    'pwd',
    'token',
    'refreshToken',
    'refresh_token',
    'refresh-token',
    'Refresh-Token',
    'accessToken',
    'ACCESS_TOKEN',
    'apiKey',
    'api_key',
    'x-api-key',
    'X-Api-Key',
    'X-API-KEY',
    'Authorization',
    'authorization',
    'AUTHORISATION',
    'cookie',
    'set-cookie',
    'Set-Cookie',
    'SET_COOKIE',
    'secret',
    'clientSecret',
    'client_secret',
    'CLIENT-SECRET',
    'jwtSecret',
    'privateKey',
    'private_key',
    'credentials',
    'otp',
    'signature',
    'key',
  ])('treats %s as secret', (key) => {
    expect(isSecretKey(key)).toBe(true);
  });

  it.each(['sessionId', 'apiKeyId', 'tokenId', 'token_id', 'refresh-token-id', 'apiKeyIds', 'userId', 'email', 'role', 'ip', 'userAgent', 'reason', 'keyboard', 'monkey', 'count'])(
    'keeps %s',
    (key) => {
      expect(isSecretKey(key)).toBe(false);
    },
  );
});

describe('redactSecrets', () => {
  it('replaces secret fields at any depth, in objects and arrays, and keeps the rest', () => {
    const input = {
      email: 'ada@desk.example',
      Password: 'hunter2-hunter2',
      NEW_PASSWORD: 'violet-harbor-93',
      'refresh-token': 'opaque-refresh',
      sessionId: '6f1c2a5e-0b7d-4c1e-9a3b-2d4e6f8a0b1c',
      apiKeyId: 'key_123',
      tokenId: 'tok_456',
      request: {
        headers: { Authorization: 'Bearer abc.def.ghi', 'X-Api-Key': 'anything', 'set-cookie': ['tv_rt=abc; HttpOnly'], accept: 'application/json' },
        body: [{ clientSecret: 's3cr3t', name: 'client' }, { accessToken: 'at', list: [{ password: 'deep' }] }],
      },
      count: 3,
      ok: true,
      nothing: null,
    };
    expect(redactSecrets(input)).toEqual({
      email: 'ada@desk.example',
      Password: REDACTED,
      NEW_PASSWORD: REDACTED,
      'refresh-token': REDACTED,
      sessionId: '6f1c2a5e-0b7d-4c1e-9a3b-2d4e6f8a0b1c',
      apiKeyId: 'key_123',
      tokenId: 'tok_456',
      request: {
        headers: { Authorization: REDACTED, 'X-Api-Key': REDACTED, 'set-cookie': REDACTED, accept: 'application/json' },
        body: [{ clientSecret: REDACTED, name: 'client' }, { accessToken: REDACTED, list: [{ password: REDACTED }] }],
      },
      count: 3,
      ok: true,
      nothing: null,
    });
  });

  it('does not modify its input', () => {
    const input = { password: 'keep-me-in-the-original', nested: { token: JWT } };
    const copy = structuredClone(input);
    redactSecrets(input);
    expect(input).toEqual(copy);
  });

  it('replaces credential-looking values under innocent keys: JWTs, tvk_ keys, bearer headers, argon2 hashes', () => {
    const out = redactSecrets({
      note: JWT,
      unsigned: UNSIGNED_JWT,
      padded: `  ${JWT}\n`,
      value: API_KEY,
      header: `Bearer ${JWT}`,
      lowerBearer: 'bearer opaque-value',
      hash: ARGON2,
      argon2i: ARGON2.replace('argon2id', 'argon2i'),
      list: ['plain', JWT, API_KEY, ARGON2],
      nested: { deeper: [{ x: API_KEY }] },
    });
    expect(out).toEqual({
      note: REDACTED,
      unsigned: REDACTED,
      padded: REDACTED,
      value: REDACTED,
      header: REDACTED,
      lowerBearer: REDACTED,
      hash: REDACTED,
      argon2i: REDACTED,
      list: ['plain', REDACTED, REDACTED, REDACTED],
      nested: { deeper: [{ x: REDACTED }] },
    });
    expect(redactSecrets(JWT)).toBe(REDACTED);
    expect(redactSecrets([API_KEY])).toEqual([REDACTED]);
  });

  it('keeps ordinary values that merely resemble credentials', () => {
    const values = {
      word: 'eyJ',
      dots: 'a.b.c',
      version: '1.2.3',
      email: 'tvk@desk.example',
      prefix: 'tvk_',
      sentence: 'Bearer',
      dollar: '$100',
      uuid: '6f1c2a5e-0b7d-4c1e-9a3b-2d4e6f8a0b1c',
    };
    expect(redactSecrets(values)).toEqual(values);
  });

  it('survives circular references', () => {
    const a: Record<string, unknown> = { name: 'a' };
    const b: Record<string, unknown> = { name: 'b', a };
    a.b = b;
    a.self = a;
    const list: unknown[] = [1];
    list.push(list);
    a.list = list;
    const out = redactSecrets(a) as Record<string, unknown>;
    expect(out).toEqual({ name: 'a', b: { name: 'b', a: '[Circular]' }, self: '[Circular]', list: [1, '[Circular]'] });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('stops at a depth limit, so a hostile shape cannot blow the stack or hide a secret further down', () => {
    let deep: Record<string, unknown> = { password: 'at-the-bottom', token: JWT };
    for (let i = 0; i < 50; i += 1) deep = { level: i, child: deep };
    const text = JSON.stringify(redactSecrets(deep));
    expect(text).toContain('[Truncated]');
    expect(text).not.toContain('at-the-bottom');
    expect(text).not.toContain(JWT);
    expect(text.length).toBeLessThan(1_000);

    let veryDeep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i += 1) veryDeep = [veryDeep];
    expect(() => redactSecrets(veryDeep)).not.toThrow();
  });

  it('bounds very long strings and very large collections', () => {
    const out = redactSecrets({ long: 'x'.repeat(10_000), many: Array.from({ length: 1_000 }, (_, i) => i) }) as { long: string; many: number[] };
    expect(out.long.length).toBeLessThanOrEqual(2_001);
    expect(out.many).toHaveLength(200);
    const wide = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(redactSecrets(wide) as object)).toHaveLength(200);
  });

  it('turns dates and bigints into JSON-safe values', () => {
    expect(redactSecrets({ at: new Date('2030-01-02T03:04:05.000Z'), n: 10n })).toEqual({ at: '2030-01-02T03:04:05.000Z', n: '10' });
  });

  it('keeps an error diagnosable (message, stack, code, cause chain) with secrets filtered out', () => {
    const root = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    const wrapped = new Error('Failed query: insert into users', { cause: root });
    const out = redactSecrets({ err: wrapped, leaked: new Error(JWT, { cause: new Error(API_KEY) }) }) as unknown as Record<string, Record<string, unknown>>;
    expect(out.err).toMatchObject({
      name: 'Error',
      message: 'Failed query: insert into users',
      stack: expect.stringContaining('Failed query: insert into users'),
      cause: { name: 'Error', message: 'duplicate key value violates unique constraint', code: '23505', stack: expect.any(String) },
    });
    expect(out.leaked?.message).toBe(REDACTED);
    expect((out.leaked?.cause as Record<string, unknown>).message).toBe(REDACTED);
    expect(JSON.stringify(out)).not.toContain(API_KEY);

    const selfCaused = new Error('loop');
    (selfCaused as { cause?: unknown }).cause = selfCaused;
    expect((redactSecrets(selfCaused) as unknown as Record<string, unknown>).cause).toBe('[Circular]');
  });
});

describe('names that end in the word key', () => {
  it.each(['signingKey', 'accessKey', 'sessionKey', 'encryption_key', 'hmacKey', 'x-access-key', 'ENCRYPTION-KEY', 'keys', 'mnemonic', 'seedPhrase'])(
    'redacts %s',
    (name) => {
      expect(isSecretKey(name)).toBe(true);
      expect(redactSecrets({ [name]: 'value-123' })).toEqual({ [name]: REDACTED });
    },
  );
  it.each(['monkey', 'hockey', 'apiKeyId', 'accessKeyId', 'keyboard'])('keeps %s', (name) => {
    expect(isSecretKey(name)).toBe(false);
  });
});
