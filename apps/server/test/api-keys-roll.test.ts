/**
 * apiKeys.roll under concurrency and in a row: rolls of one key queue on its row, so every secret
 * a caller was handed is the current one or inside the grace it was promised, and a roll during
 * an earlier grace period leaves that grace to run its course. Revoke still ends them all.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpClient } from './support/clients.ts';
import { apiKeyRow, keyClient, sha256Hex, splitKey } from './support/api-keys.ts';
import { rawCall } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from './support/users.ts';

let server: TestServer;
let owner: SignedIn;
let ownerUser: SeededUser;
beforeAll(async () => {
  server = await startTestServer();
  ownerUser = await seedUser(server, 'trader');
});
// Signed in afresh for each test: one of them moves the clock past the access token's lifetime.
beforeEach(async () => {
  owner = await signIn(server, ownerUser);
});
afterAll(async () => {
  await server?.close();
});

/** 200, or the refusal's reason (API_KEY_ROLLED, …), for one call with `key`. */
async function answerTo(key: string): Promise<string> {
  const res = await rawCall(server, 'apiKeys.list', 'query', { headers: { 'x-api-key': key } });
  return res.status === 200 ? 'ok' : String((res.error?.data as { reason?: string } | undefined)?.reason);
}

describe('apiKeys.roll', () => {
  it('serialises concurrent rolls: every returned secret works, one is current, and each answer is its own roll', async () => {
    const { key: original, apiKey } = await owner.client.apiKeys.create.mutate({ name: 'raced', permissions: ['apikeys.manage'] });
    const rolls = await Promise.all(
      Array.from({ length: 6 }, () => httpClient(server, { token: owner.token, batch: false }).apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 3600 })),
    );
    const row = await apiKeyRow(server, apiKey.id);
    const current = rolls.filter((r) => sha256Hex(splitKey(r.key).secret) === row.secretHash);
    expect(current).toHaveLength(1);
    // Each caller's view is of its own roll: the latest one ran last.
    expect(current[0]!.apiKey.rolledAt).toBe([...rolls.map((r) => r.apiKey.rolledAt as string)].sort().at(-1));
    for (const secret of [original, ...rolls.map((r) => r.key)]) expect(await answerTo(secret)).toBe('ok');
    expect(new Set(rolls.map((r) => r.key)).size).toBe(6);
  });

  it('keeps an earlier grace period running when the key is rolled again, until that grace ends', async () => {
    const { key: first, apiKey } = await owner.client.apiKeys.create.mutate({ name: 'grace-kept', permissions: ['apikeys.manage'] });
    const second = await owner.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 600 });
    // Rolled again at once, with no grace for the second secret: the first keeps its 10 minutes.
    const third = await owner.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 0 });
    expect(await answerTo(first)).toBe('ok');
    expect(await answerTo(second.key)).toBe('API_KEY_ROLLED');
    expect(await answerTo(third.key)).toBe('ok');
    // The list says when the last old secret stops working.
    expect(Date.parse(third.apiKey.previousExpiresAt as string)).toBe(Date.parse(second.apiKey.rolledAt as string) + 600_000);

    server.clock.advance(599_000);
    expect(await answerTo(first)).toBe('ok');
    server.clock.advance(2_000);
    expect(await answerTo(first)).toBe('API_KEY_ROLLED');
    expect(await answerTo(third.key)).toBe('ok');
  });

  it('ends every secret still in its grace at once on revoke', async () => {
    const { key: first, apiKey } = await owner.client.apiKeys.create.mutate({ name: 'revoked-all', permissions: ['apikeys.manage'] });
    const second = await owner.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 600 });
    const third = await owner.client.apiKeys.roll.mutate({ id: apiKey.id, graceSeconds: 600 });
    for (const key of [first, second.key, third.key]) expect(await answerTo(key)).toBe('ok');
    await owner.client.apiKeys.revoke.mutate({ id: apiKey.id });
    for (const key of [first, second.key, third.key]) expect(await answerTo(key)).toBe('API_KEY_REVOKED');
  });
});
