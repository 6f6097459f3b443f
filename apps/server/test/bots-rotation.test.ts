/**
 * Key rotation of bot secrets: with a new primary key in front of the old one, every sealed value
 * is re-encrypted under it (key id changes, plaintext the same, the old key no longer needed);
 * a second run changes nothing; a value that does not open is reported and left alone; and
 * `pnpm secrets:rotate` does it from the command line, printing counts and never a secret.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_KEY_FILE, isEncrypted, openBotSecrets, parseEncryptionKeys, rotateBotSecrets, secretKeyId, type Keyring } from '@tapevision/api';
import type { Bot } from '@tapevision/db';
import { botRow, overwriteBot, plaintextHits } from './support/bots.ts';
import { runServerCli, type CliResult } from './support/process.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, type SignedIn } from './support/users.ts';

const NEW_KEY = randomBytes(32).toString('base64');

function sealedValues(row: Bot): string[] {
  return [...Object.values(row.credentials), ...Object.values(row.parameters)].filter(isEncrypted);
}

let made = 0;
async function makeBot(client: SignedIn['client']) {
  made += 1;
  const tag = `${made}-${Math.random().toString(36).slice(2, 10)}`;
  const secrets = { apiKey: `rot-api-key-${tag}`, apiSecret: `rot-api-secret-${tag}`, webhookToken: `rot-webhook-token-${tag}` };
  const bot = await client.bots.create.mutate({
    name: `Rotating ${tag}`,
    strategy: 'momentum',
    symbols: ['CL'],
    parameters: { lookback: 5, webhookToken: secrets.webhookToken },
    credentials: { apiKey: secrets.apiKey, apiSecret: secrets.apiSecret, label: '' },
  });
  return { bot, secrets };
}

describe('rotateBotSecrets', () => {
  let server: TestServer;
  let dataDir: string;
  let trader: SignedIn;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tv-rotate-'));
    server = await startTestServer({ dataDir });
    trader = await signIn(server, await seedUser(server, 'trader'));
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('re-encrypts every value under the new primary key, keeps the plaintext, and is idempotent', async () => {
    const made = [await makeBot(trader.client), await makeBot(trader.client), await makeBot(trader.client)];
    const oldKeyId = server.app.deps.keyring.activeKeyId;
    const devKey = readFileSync(path.join(dataDir, DEV_KEY_FILE), 'utf8');
    const during: Keyring = parseEncryptionKeys(`k2:${NEW_KEY},${devKey}`);
    const after: Keyring = parseEncryptionKeys(`k2:${NEW_KEY}`);
    expect([...during.keys.keys()]).toEqual(['k2', oldKeyId]);

    const before = await Promise.all(made.map(({ bot }) => botRow(server, bot.id)));
    for (const row of before) for (const v of sealedValues(row)) expect(secretKeyId(v)).toBe(oldKeyId);
    // Each bot: apiKey, apiSecret and webhookToken; the empty label stays empty and unsealed.
    expect(before.every((r) => sealedValues(r).length === 3 && r.credentials.label === '')).toBe(true);

    const first = await rotateBotSecrets({ db: server.app.deps.db, keyring: during });
    expect(first).toMatchObject({ activeKeyId: 'k2', failed: [] });
    expect(first.botsRewritten).toBeGreaterThanOrEqual(3);
    expect(first.valuesRewritten).toBe(first.botsRewritten * 3);

    for (const [i, { bot, secrets }] of made.entries()) {
      const row = await botRow(server, bot.id);
      for (const v of sealedValues(row)) expect(secretKeyId(v)).toBe('k2');
      // Opens with the new key alone: the old one can go.
      const opened = openBotSecrets({ keyring: after }, row);
      expect(opened.credentials).toEqual({ apiKey: secrets.apiKey, apiSecret: secrets.apiSecret, label: '' });
      expect(opened.parameters.webhookToken).toBe(secrets.webhookToken);
      // Nothing else about the row changed.
      expect({ ...row, parameters: undefined, credentials: undefined }).toEqual({ ...before[i], parameters: undefined, credentials: undefined });
    }

    const rowsAfterFirst = await Promise.all(made.map(({ bot }) => botRow(server, bot.id)));
    const second = await rotateBotSecrets({ db: server.app.deps.db, keyring: during });
    expect(second).toEqual({ bots: first.bots, botsRewritten: 0, valuesRewritten: 0, activeKeyId: 'k2', failed: [] });
    expect(await Promise.all(made.map(({ bot }) => botRow(server, bot.id)))).toEqual(rowsAfterFirst);
    expect(await plaintextHits(server, made.flatMap((m) => Object.values(m.secrets)))).toEqual([]);
  });

  it('reports a bot whose value does not open, leaves it as it is, and rotates the rest', async () => {
    const good = await makeBot(trader.client);
    const bad = await makeBot(trader.client);
    const badRow = await botRow(server, bad.bot.id);
    const goodRow = await botRow(server, good.bot.id);
    // The good bot's sealed apiKey moved into the bad one: it is bound to the good bot.
    await overwriteBot(server, bad.bot.id, { credentials: { ...badRow.credentials, apiKey: goodRow.credentials.apiKey! } });
    const tampered = await botRow(server, bad.bot.id);

    const devKey = readFileSync(path.join(dataDir, DEV_KEY_FILE), 'utf8');
    const report = await rotateBotSecrets({ db: server.app.deps.db, keyring: parseEncryptionKeys(`k3:${randomBytes(32).toString('base64')},k2:${NEW_KEY},${devKey}`) });
    expect(report.failed).toEqual([{ botId: bad.bot.id, code: 'SECRET_TAMPERED' }]);
    expect(await botRow(server, bad.bot.id)).toEqual(tampered);
    for (const v of sealedValues(await botRow(server, good.bot.id))) expect(secretKeyId(v)).toBe('k3');
  });
});

function runRotate(env: Record<string, string | undefined>, args: string[] = [], via: 'node' | 'pnpm' = 'node'): Promise<CliResult> {
  return runServerCli({ file: 'rotate-keys.ts', script: 'secrets:rotate' }, env, args, via);
}

// The command runs beside a live server, so it needs a database two processes can share: Postgres.
describe('pnpm secrets:rotate', { timeout: 120_000 }, () => {
  let db: { url: string; drop(): Promise<void> };
  let dataDir: string;
  let server: TestServer;
  let trader: SignedIn;
  beforeAll(async () => {
    db = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tv-rotate-cli-'));
    server = await startTestServer({ databaseUrl: db.url, dataDir });
    trader = await signIn(server, await seedUser(server, 'trader'));
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rotates under the first key, prints counts and key ids but no secret, and a second run rewrites nothing', async () => {
    const made = [await makeBot(trader.client), await makeBot(trader.client)];
    const devKey = readFileSync(path.join(dataDir, DEV_KEY_FILE), 'utf8');
    const env = { DATABASE_URL: db.url, ENCRYPTION_KEY: `k2026:${NEW_KEY},${devKey}` };
    const secretsOf = [...made.flatMap((m) => Object.values(m.secrets)), NEW_KEY, devKey];

    const first = await runRotate(env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/primary key id:\s+k2026/);
    expect(first.stdout).toMatch(/bots:\s+2\n/);
    expect(first.stdout).toMatch(/bots rewritten:\s+2\n/);
    expect(first.stdout).toMatch(/values rewritten:\s+6\n/);
    for (const s of secretsOf) expect(first.stdout + first.stderr).not.toContain(s);
    expect(first.stdout).not.toMatch(/tv1\./);

    for (const { bot, secrets } of made) {
      const row = await botRow(server, bot.id);
      for (const v of sealedValues(row)) expect(secretKeyId(v)).toBe('k2026');
      expect(openBotSecrets({ keyring: parseEncryptionKeys(`k2026:${NEW_KEY}`) }, row).credentials.apiSecret).toBe(secrets.apiSecret);
    }

    const second = await runRotate(env, ['--json'], 'pnpm');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ bots: 2, botsRewritten: 0, valuesRewritten: 0, activeKeyId: 'k2026', failed: [] });
  });

  it('refuses a bad key without echoing it, and bad arguments with the usage', async () => {
    const bad = await runRotate({ DATABASE_URL: db.url, ENCRYPTION_KEY: 'hunter2-is-not-a-key' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ENCRYPTION_KEY/);
    expect(bad.stderr).not.toContain('hunter2');
    const usage = await runRotate({ DATABASE_URL: db.url, ENCRYPTION_KEY: NEW_KEY }, ['--bogus']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Usage: pnpm secrets:rotate/);
  });
});
