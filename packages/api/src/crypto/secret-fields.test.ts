import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSecretKey } from '../audit/redact.ts';
import { encryptSecret, isEncrypted, TamperedSecretError, type Keyring } from './secret-box.ts';
import { isSecretField, MaskedSecretError, maskSecrets, openSecrets, SECRET_MASK, sealSecrets } from './secret-fields.ts';

const ring: Keyring = { activeKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) };

const SECRETS = {
  apiKey: 'AKIA-live-7Qm2xY4p',
  apiSecret: 'Zq8uV0c3nM1sLk5rT9wE',
  passphrase: 'violet harbor ninety three',
  webhookSecret: 'whsec_5c1d9a7e3b',
  authorization: 'Basic dXNlcjpodW50ZXIy',
  privateKey: '-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
  walletPassword: 'correct-horse-battery',
  listed: 'tok-in-a-list-31337',
  deep: 'nested-credential-u5er9',
};

function botParams() {
  return {
    name: 'Mean reversion BTC',
    symbol: 'BTCUSDT',
    passiveOnly: 'yes',
    footprintMode: 'delta',
    pinBarRatio: 0.66,
    tokenCount: 3,
    apiKeyId: 'key_8f2a',
    exchange: {
      id: 'binance',
      API_KEY: SECRETS.apiKey,
      'api-secret': SECRETS.apiSecret,
      PassPhrase: SECRETS.passphrase,
      sandbox: false,
    },
    webhooks: [
      { url: 'https://hooks.example/a', WebhookSecret: SECRETS.webhookSecret, headers: { Authorization: SECRETS.authorization, accept: 'json' } },
      { url: 'https://hooks.example/b', webhookSecret: '' },
    ],
    signer: { privateKey: SECRETS.privateKey, publicKey: '04a1b2c3d4' },
    wallet_PASSWORD: SECRETS.walletPassword,
    tokens: [SECRETS.listed],
    credentials: { username: SECRETS.deep, retries: 2 },
  };
}

describe('isSecretField', () => {
  const secret = [
    'apiKey', 'api_key', 'API_KEY', 'APIKey', 'apikey', 'X-Api-Key', 'api_secret', 'apiSecret', 'APISECRET', 'secret', 'secretKey',
    'SECRET_KEY', 'clientSecret', 'password', 'Password', 'walletPassword', 'passwd', 'pwd', 'passphrase', 'pass_phrase', 'token',
    'accessToken', 'refresh-token', 'botToken', 'webhookSecret', 'WEBHOOK_SECRET', 'privateKey', 'private_key', 'accessKey',
    'signingKey', 'credentials', 'Authorization', 'set-cookie', 'otp', 'totpSeed', 'mnemonic', 'seedPhrase', 'key', 'pin', 'smtpPass',
  ];
  const kept = [
    'apiKeyId', 'api_key_id', 'apiKeyIds', 'tokenId', 'token_id', 'secretKeyId', 'name', 'symbol', 'exchange', 'publicKey', 'sortKey',
    'keyboard', 'monkey', 'passiveOnly', 'passive', 'footprintBars', 'bypassCache', 'compassHeading', 'pinBarRatio', 'id', '',
  ];
  it.each(secret)('treats %s as secret', (name) => expect(isSecretField(name)).toBe(true));
  it.each(kept)('keeps %s', (name) => expect(isSecretField(name)).toBe(false));

  // The audit redactor matches substrings, for logs; here words matter. Where they differ, it is on purpose.
  it('differs from the audit redactor only where listed', () => {
    const fieldOnly = ['pin'];
    for (const name of secret) expect(isSecretKey(name), name).toBe(!fieldOnly.includes(name));
    // The redactor also hides any name ending in "key" (publicKey included): over-redacting a log is harmless.
    const redactorOnly = ['passiveOnly', 'passive', 'footprintBars', 'bypassCache', 'compassHeading', 'publicKey', 'sortKey'];
    for (const name of kept) expect(isSecretKey(name), name).toBe(redactorOnly.includes(name));
  });
});

describe('sealSecrets / openSecrets', () => {
  it('encrypts every secret-named string at any depth and in any casing, and leaves the rest intact', () => {
    const params = botParams();
    const sealed = sealSecrets(ring, params, 'bot:42:params');
    const json = JSON.stringify(sealed);
    for (const plaintext of Object.values(SECRETS)) expect(json).not.toContain(plaintext);

    expect(isEncrypted(sealed.exchange.API_KEY)).toBe(true);
    expect(isEncrypted(sealed.exchange['api-secret'])).toBe(true);
    expect(isEncrypted(sealed.exchange.PassPhrase)).toBe(true);
    expect(isEncrypted(sealed.webhooks[0]!.WebhookSecret)).toBe(true);
    expect(isEncrypted(sealed.webhooks[0]!.headers!.Authorization)).toBe(true);
    expect(isEncrypted(sealed.signer.privateKey)).toBe(true);
    expect(isEncrypted(sealed.wallet_PASSWORD)).toBe(true);
    expect(isEncrypted(sealed.tokens[0])).toBe(true);
    expect(isEncrypted(sealed.credentials.username)).toBe(true);

    const { exchange, webhooks, signer, wallet_PASSWORD, tokens, credentials, ...plain } = sealed;
    expect(plain).toEqual({
      name: 'Mean reversion BTC', symbol: 'BTCUSDT', passiveOnly: 'yes', footprintMode: 'delta', pinBarRatio: 0.66, tokenCount: 3, apiKeyId: 'key_8f2a',
    });
    expect([exchange.id, exchange.sandbox, signer.publicKey, credentials.retries]).toEqual(['binance', false, '04a1b2c3d4', 2]);
    expect(webhooks[0]!.url).toBe('https://hooks.example/a');
    expect(webhooks[0]!.headers!.accept).toBe('json');
    expect(webhooks[1]).toEqual({ url: 'https://hooks.example/b', webhookSecret: '' });
    expect(params).toEqual(botParams());
  });

  it('opens what it sealed, with the same prefix', () => {
    const sealed = sealSecrets(ring, botParams(), 'bot:42:params');
    expect(openSecrets(ring, sealed, 'bot:42:params')).toEqual(botParams());
  });

  it('binds each value to its owner and field: moved values do not open', () => {
    const sealed = sealSecrets(ring, botParams(), 'bot:42:params');
    expect(() => openSecrets(ring, sealed, 'bot:43:params')).toThrow(TamperedSecretError);
    const swapped = { ...sealed, exchange: { ...sealed.exchange, API_KEY: sealed.exchange['api-secret'] } };
    expect(() => openSecrets(ring, swapped, 'bot:42:params')).toThrow(TamperedSecretError);
  });

  it('keeps entries of a list readable when one before them is removed', () => {
    const sealed = sealSecrets(ring, { tokens: ['first', 'second'] }, 'bot:1');
    expect(openSecrets(ring, { tokens: sealed.tokens.slice(1) }, 'bot:1')).toEqual({ tokens: ['second'] });
  });

  it('is idempotent, and refuses a pasted ciphertext that belongs elsewhere', () => {
    const once = sealSecrets(ring, botParams(), 'bot:42:params');
    expect(sealSecrets(ring, once, 'bot:42:params')).toEqual(once);
    const foreign = encryptSecret(ring, 'stolen', JSON.stringify(['bot:7:params', 'apiSecret']));
    expect(() => sealSecrets(ring, { apiSecret: foreign }, 'bot:42:params')).toThrow(TamperedSecretError);
  });

  it('refuses the mask as a new secret, so a form sent back unchanged cannot overwrite one', () => {
    expect(() => sealSecrets(ring, { apiSecret: SECRET_MASK }, 'bot:1')).toThrow(MaskedSecretError);
  });

  it('keeps a "__proto__" key as data', () => {
    const input = JSON.parse('{"__proto__": {"password": "pw-in-proto"}}') as Record<string, unknown>;
    const sealed = sealSecrets(ring, input, 'bot:1');
    expect(Object.getPrototypeOf(sealed)).toBe(Object.prototype);
    expect(JSON.stringify(sealed)).not.toContain('pw-in-proto');
    expect(openSecrets(ring, sealed, 'bot:1')).toEqual(input);
  });
});

describe('maskSecrets', () => {
  it('replaces sealed and plaintext secrets by a fixed mask and reveals nothing of them', () => {
    for (const source of [sealSecrets(ring, botParams(), 'bot:42:params'), botParams()]) {
      const masked = maskSecrets(source);
      const json = JSON.stringify(masked);
      for (const plaintext of Object.values(SECRETS)) {
        expect(json).not.toContain(plaintext);
        expect(json).not.toContain(plaintext.slice(-4));
      }
      expect(json).not.toMatch(/tv1\./);
      expect(masked.exchange.API_KEY).toBe(SECRET_MASK);
      expect(masked.webhooks[0]!.headers!.Authorization).toBe(SECRET_MASK);
      expect(masked.tokens).toEqual([SECRET_MASK]);
      expect(masked.credentials).toEqual({ username: SECRET_MASK, retries: 2 });
      expect(masked.webhooks[1]!.webhookSecret).toBe('');
      expect(masked.name).toBe('Mean reversion BTC');
      expect(masked.footprintMode).toBe('delta');
    }
  });

  it('masks an encrypted value wherever it sits, and every secret to the same text whatever its length', () => {
    const stray = encryptSecret(ring, 'x');
    expect(maskSecrets({ note: stray })).toEqual({ note: SECRET_MASK });
    expect(maskSecrets({ password: 'a' })).toEqual(maskSecrets({ password: 'a much longer password than that' }));
  });
});
