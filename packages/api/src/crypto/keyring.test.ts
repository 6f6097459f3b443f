import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deriveKeyId, EncryptionConfigError, loadEncryptionKeyring, parseEncryptionKeys } from './keyring.ts';
import { decryptSecret, encryptSecret } from './secret-box.ts';

const KEY = randomBytes(32);
const OLD_KEY = randomBytes(32);
const ID = createHash('sha256').update(KEY).digest('hex').slice(0, 8);

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EncryptionConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a throw');
}

describe('parseEncryptionKeys', () => {
  it.each([
    ['base64', KEY.toString('base64')],
    ['base64 without padding', KEY.toString('base64').replace(/=+$/, '')],
    ['base64url', KEY.toString('base64url')],
    ['hex', KEY.toString('hex')],
    ['upper-case hex', KEY.toString('hex').toUpperCase()],
    ['with surrounding white space', `  ${KEY.toString('base64')}\n`],
  ])('reads one key as %s, with a key id derived from its SHA-256', (_name, material) => {
    const ring = parseEncryptionKeys(material);
    expect(ring.activeKeyId).toBe(ID);
    expect([...ring.keys.keys()]).toEqual([ID]);
    expect(ring.keys.get(ID)!.equals(KEY)).toBe(true);
    expect(deriveKeyId(KEY)).toBe(ID);
  });

  it('reads a list whose first key is active, with given ids, commas or new lines, derived ids where none', () => {
    const ring = parseEncryptionKeys(`k2026:${KEY.toString('base64url')}, k2025:${OLD_KEY.toString('hex')}`);
    expect(ring.activeKeyId).toBe('k2026');
    expect([...ring.keys.keys()]).toEqual(['k2026', 'k2025']);
    expect(ring.keys.get('k2025')!.equals(OLD_KEY)).toBe(true);

    const mixed = parseEncryptionKeys(`${KEY.toString('base64')}\nold:${OLD_KEY.toString('base64')}\n`);
    expect(mixed.activeKeyId).toBe(ID);
    expect([...mixed.keys.keys()]).toEqual([ID, 'old']);
  });

  it('lets the old key of a list decrypt and the new one encrypt', () => {
    const before = parseEncryptionKeys(`old:${OLD_KEY.toString('base64')}`);
    const stored = encryptSecret(before, 'secret');
    const after = parseEncryptionKeys(`new:${KEY.toString('base64')},old:${OLD_KEY.toString('base64')}`);
    expect(decryptSecret(after, stored)).toBe('secret');
    expect(encryptSecret(after, 'secret').split('.')[1]).toBe('new');
  });

  it.each([
    ['16 bytes', randomBytes(16).toString('base64'), /ENCRYPTION_KEY is 16 bytes long: it needs 32 random bytes/],
    ['48 bytes', randomBytes(48).toString('base64'), /ENCRYPTION_KEY is 48 bytes long/],
    ['31 bytes of hex', randomBytes(31).toString('hex'), /ENCRYPTION_KEY is 31 bytes long/],
    ['a passphrase', 'correct horse battery staple', /ENCRYPTION_KEY entry 1 is 5 bytes long/],
    ['text that is no encoding', 'not*a*key!', /ENCRYPTION_KEY is not base64, base64url or hex/],
    ['an empty value', ' , ', /ENCRYPTION_KEY is empty/],
    ['a bad key id', `bad.id:${KEY.toString('base64')}`, /invalid key id/],
    ['a repeated key id', `a:${KEY.toString('base64')},a:${OLD_KEY.toString('base64')}`, /ENCRYPTION_KEY entry 2 repeats the key id/],
  ])('refuses %s with a message naming ENCRYPTION_KEY and none of its text', (_name, material, expected) => {
    const message = messageOf(() => parseEncryptionKeys(material));
    expect(message).toMatch(expected);
    expect(message).toContain('ENCRYPTION_KEY');
    for (const piece of material.split(/[\s,:]+/).filter((p) => p.length >= 3)) {
      expect(message).not.toContain(piece);
    }
  });

  it('never names a key id, which could be part of a mistyped key', () => {
    const message = messageOf(() => parseEncryptionKeys(`hunter2:${randomBytes(8).toString('hex')}`));
    expect(message).not.toContain('hunter2');
  });
});

describe('loadEncryptionKeyring', () => {
  const dirs: string[] = [];
  function tempDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'tv-keyring-'));
    dirs.push(dir);
    return dir;
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('uses ENCRYPTION_KEY when set, in production too', () => {
    const env = { ENCRYPTION_KEY: `new:${KEY.toString('base64')},old:${OLD_KEY.toString('base64')}` };
    const ring = loadEncryptionKeyring(env, { production: true, dataDir: tempDir() });
    expect(ring.activeKeyId).toBe('new');
    expect(ring.keys.size).toBe(2);
  });

  it('reads ENCRYPTION_KEY_FILE, and names it when unreadable or invalid', () => {
    const dir = tempDir();
    const file = path.join(dir, 'key');
    writeFileSync(file, `${KEY.toString('hex')}\n`);
    expect(loadEncryptionKeyring({ ENCRYPTION_KEY_FILE: file }, { production: true, dataDir: dir }).activeKeyId).toBe(ID);

    const missing = path.join(dir, 'missing');
    expect(messageOf(() => loadEncryptionKeyring({ ENCRYPTION_KEY_FILE: missing }, { production: true, dataDir: dir }))).toBe(
      `ENCRYPTION_KEY_FILE (${missing}) cannot be read`,
    );
    const short = randomBytes(20).toString('base64');
    writeFileSync(file, short);
    const message = messageOf(() => loadEncryptionKeyring({ ENCRYPTION_KEY_FILE: file }, { production: true, dataDir: dir }));
    expect(message).toMatch(`ENCRYPTION_KEY_FILE (${file}) is 20 bytes long`);
    expect(message).not.toContain(short);
  });

  it('refuses to start in production without a key, and writes nothing', () => {
    const dir = tempDir();
    const message = messageOf(() => loadEncryptionKeyring({}, { production: true, dataDir: dir }));
    expect(message).toMatch(/^ENCRYPTION_KEY \(or ENCRYPTION_KEY_FILE\) is required when NODE_ENV=production/);
    expect(() => statSync(path.join(dir, 'encryption-key'))).toThrow();
  });

  it('generates a development key once in DATA_DIR with mode 0600, reuses it, and warns without printing it', () => {
    const dataDir = path.join(tempDir(), 'nested', 'data');
    const warn = vi.fn();
    const first = loadEncryptionKeyring({}, { production: false, dataDir, logger: { warn } as never });
    const file = path.join(dataDir, 'encryption-key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const contents = readFileSync(file, 'utf8');
    expect(Buffer.from(contents, 'base64url')).toHaveLength(32);

    const second = loadEncryptionKeyring({ ENCRYPTION_KEY: '' }, { production: false, dataDir });
    expect(readFileSync(file, 'utf8')).toBe(contents);
    expect(second.activeKeyId).toBe(first.activeKeyId);
    expect(second.keys.get(second.activeKeyId)!.equals(first.keys.get(first.activeKeyId)!)).toBe(true);
    expect(decryptSecret(second, encryptSecret(first, 'kept across restarts'))).toBe('kept across restarts');

    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith({ file }, expect.stringMatching(/^ENCRYPTION_KEY is not set: using a generated development key kept in DATA_DIR/));
    expect(JSON.stringify(warn.mock.calls)).not.toContain(contents);
  });
});
