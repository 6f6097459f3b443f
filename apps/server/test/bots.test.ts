/**
 * Bots (bots.*): CRUD through the real stack; secrets encrypted at rest and masked in every
 * answer and audit row; masks on update keep what is saved; sealed values bound to their bot;
 * object-level access for another trader over HTTP, in a batch and over WebSocket; viewers read
 * but do not write; admins read all and may stop or delete any; concurrent edits stay consistent.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isEncrypted, openBotSecrets, SECRET_MASK, secretKeyId } from '@tapevision/api';
import type { BotView } from '@tapevision/api/schemas';
import { errorData, httpClient, rejectionOf, wsClient, type ApiClient, type WsTestClient } from './support/clients.ts';
import { botRow, botRowOrNull, overwriteBot, plaintextHits } from './support/bots.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { auditRows } from './support/session-helpers.ts';
import { seedUser, signIn, type SeededUser, type SignedIn } from './support/users.ts';

type Who = { user: SeededUser; session: SignedIn };

let server: TestServer;
let admin: Who;
let alice: Who;
let bob: Who;
let viewer: Who;

let counter = 0;
/** Secrets unique to one test, so a hit in the database names its source. */
function secrets() {
  counter += 1;
  const tag = `${counter}-${Math.random().toString(36).slice(2, 10)}`;
  return {
    apiKey: `AKIA-plain-api-key-${tag}`,
    apiSecret: `plain-api-secret-${tag}`,
    webhookUrl: `https://hooks.example/plain-webhook-${tag}`,
    webhookToken: `plain-webhook-token-${tag}`,
  };
}

function botInput(s: ReturnType<typeof secrets>, over: Record<string, unknown> = {}) {
  counter += 1;
  return {
    name: `Momentum ${counter}`,
    strategy: 'momentum' as const,
    symbols: ['ES', 'NQ'],
    parameters: { lookback: 10, thresholdTicks: 3, quantity: 1, maxPosition: 3, cooldownPrints: 5, webhookToken: s.webhookToken, note: 'public note' },
    credentials: { apiKey: s.apiKey, apiSecret: s.apiSecret, webhookUrl: s.webhookUrl },
    ...over,
  };
}

function expectMasked(view: BotView, s?: ReturnType<typeof secrets>) {
  expect(view.credentials).toEqual({ apiKey: SECRET_MASK, apiSecret: SECRET_MASK, webhookUrl: SECRET_MASK });
  expect(view.parameters.webhookToken).toBe(SECRET_MASK);
  expect(view.parameters.note).toBe('public note');
  const json = JSON.stringify(view);
  expect(json).not.toMatch(/tv1\./);
  if (s) for (const value of Object.values(s)) expect(json).not.toContain(value);
}

async function signedIn(role: SeededUser['role']): Promise<Who> {
  const user = await seedUser(server, role);
  return { user, session: await signIn(server, user) };
}

beforeAll(async () => {
  server = await startTestServer();
  admin = await signedIn('admin');
  alice = await signedIn('trader');
  bob = await signedIn('trader');
  viewer = await signedIn('viewer');
});
afterAll(async () => {
  await server?.close();
});

const sockets: WsTestClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
});

describe('bots CRUD', () => {
  it('creates a stopped bot with defaults filled in, and masks its secrets in every answer', async () => {
    const s = secrets();
    const c = alice.session.client;
    const input = botInput(s, { parameters: { lookback: 8, webhookToken: s.webhookToken, note: 'public note' } });
    const created = await c.bots.create.mutate(input);
    expect(created).toMatchObject({
      ownerId: alice.user.id,
      name: input.name,
      strategy: 'momentum',
      symbols: ['ES', 'NQ'],
      status: 'stopped',
      lastError: null,
      startedAt: null,
      version: 0,
    });
    expect(created.parameters).toMatchObject({ lookback: 8, thresholdTicks: 4, quantity: 1, maxPosition: 5, cooldownPrints: 10 });
    expectMasked(created, s);
    expectMasked(await c.bots.get.query({ id: created.id }), s);
    const listed = await c.bots.list.query();
    expect(listed.map((b) => b.id)).toContain(created.id);
    for (const b of listed) expectMasked(b);

    const row = await botRow(server, created.id);
    for (const v of Object.values(row.credentials)) expect(isEncrypted(v)).toBe(true);
    expect(isEncrypted(row.parameters.webhookToken)).toBe(true);
    expect(row.parameters.note).toBe('public note');
    expect(openBotSecrets(server.app.deps, row)).toMatchObject({ credentials: input.credentials, parameters: { webhookToken: s.webhookToken } });

    const [audit] = (await auditRows(server, ['bot.created'])).filter((r) => r.resourceId === created.id);
    expect(audit).toMatchObject({ actorType: 'user', actorId: alice.user.id, resourceType: 'bot', outcome: 'success' });
    expect(audit!.details).toMatchObject({
      name: input.name,
      strategy: 'momentum',
      sealedFields: ['credentials.apiKey', 'credentials.apiSecret', 'credentials.webhookUrl', 'parameters.webhookToken'],
    });
    expect(JSON.stringify(audit)).not.toMatch(/tv1\./);
  });

  it('updates with masked secrets sent back: the saved ones are kept; a new value replaces; omitted credentials keep all', async () => {
    const s = secrets();
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(s));
    const before = await botRow(server, created.id);

    // The form as shown, sent back with a new name: every secret is the mask.
    const renamed = await c.bots.update.mutate({ id: created.id, name: `${created.name} v2`, parameters: created.parameters as never, credentials: created.credentials });
    expect(renamed).toMatchObject({ name: `${created.name} v2`, version: 1 });
    expectMasked(renamed, s);
    const kept = await botRow(server, created.id);
    // Untouched secrets keep their very ciphertext, and still open to the originals.
    expect(kept.credentials).toEqual(before.credentials);
    expect(kept.parameters.webhookToken).toBe(before.parameters.webhookToken);
    expect(openBotSecrets(server.app.deps, kept).credentials).toEqual({ apiKey: s.apiKey, apiSecret: s.apiSecret, webhookUrl: s.webhookUrl });

    // One new secret, one kept, one removed (a sent credentials object is the whole set).
    const next = secrets();
    const replaced = await c.bots.update.mutate({ id: created.id, credentials: { apiKey: SECRET_MASK, apiSecret: next.apiSecret } });
    expect(replaced.credentials).toEqual({ apiKey: SECRET_MASK, apiSecret: SECRET_MASK });
    const afterReplace = openBotSecrets(server.app.deps, await botRow(server, created.id));
    expect(afterReplace.credentials).toEqual({ apiKey: s.apiKey, apiSecret: next.apiSecret });
    expect(afterReplace.parameters.webhookToken).toBe(s.webhookToken);

    // Credentials omitted: all kept, while parameters change.
    const tuned = await c.bots.update.mutate({ id: created.id, parameters: { lookback: 30, webhookToken: SECRET_MASK } });
    expect(tuned.parameters).toMatchObject({ lookback: 30, thresholdTicks: 4, webhookToken: SECRET_MASK });
    expect(tuned.parameters).not.toHaveProperty('note');
    const afterTune = openBotSecrets(server.app.deps, await botRow(server, created.id));
    expect(afterTune.credentials).toEqual({ apiKey: s.apiKey, apiSecret: next.apiSecret });
    expect(afterTune.parameters.webhookToken).toBe(s.webhookToken);

    const updates = (await auditRows(server, ['bot.updated'])).filter((r) => r.resourceId === created.id);
    expect(updates.map((u) => u.details)).toEqual([
      expect.objectContaining({ changed: ['name'], sealedFieldsChanged: [] }),
      expect.objectContaining({ changed: ['credentials'], sealedFieldsChanged: ['credentials.apiSecret', 'credentials.webhookUrl'] }),
      expect.objectContaining({ changed: ['parameters'], sealedFieldsChanged: [] }),
    ]);
    for (const u of updates) expect(JSON.stringify(u)).not.toMatch(/tv1\.|plain-/);

    // Nothing changed, whatever the order of the keys: no new version, no audit row.
    const reordered = Object.fromEntries(Object.entries(tuned.parameters).reverse());
    const same = await c.bots.update.mutate({ id: created.id, parameters: reordered as never, credentials: { apiSecret: SECRET_MASK, apiKey: SECRET_MASK } });
    expect(same.version).toBe(tuned.version);
    expect((await auditRows(server, ['bot.updated'])).filter((r) => r.resourceId === created.id)).toHaveLength(3);
  });

  it('refuses a mask where no secret is saved, and saves nothing', async () => {
    const s = secrets();
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(s));
    for (const patch of [{ credentials: { apiKey: SECRET_MASK, brokerPassword: SECRET_MASK } }, { parameters: { apiToken: SECRET_MASK } }]) {
      const err = await rejectionOf(c.bots.update.mutate({ id: created.id, ...patch }));
      expect(errorData(err)).toMatchObject({ code: 'BAD_REQUEST', reason: 'MASK_WITHOUT_SECRET' });
    }
    const err = await rejectionOf(c.bots.create.mutate(botInput(secrets(), { credentials: { apiKey: SECRET_MASK } })));
    expect(errorData(err)).toMatchObject({ code: 'BAD_REQUEST' });
    expect((await botRow(server, created.id)).version).toBe(0);
  });

  it('answers bad input with BAD_REQUEST: unknown fields, strategies, symbols, and sizes beyond the limits', async () => {
    const c = alice.session.client;
    const s = secrets();
    const bad: Record<string, unknown>[] = [
      { ...botInput(s), extra: 1 },
      botInput(s, { name: '' }),
      botInput(s, { name: 'x'.repeat(81) }),
      botInput(s, { strategy: 'martingale' }),
      botInput(s, { symbols: [] }),
      botInput(s, { symbols: ['ES', 'ES'] }),
      botInput(s, { symbols: ['BTCUSDT'] }),
      botInput(s, { parameters: { lookback: 1 } }),
      botInput(s, { parameters: { quantity: 1000 } }),
      botInput(s, { parameters: { nested: { a: 1 } } }),
      botInput(s, { parameters: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`p${i}`, i])) }),
      botInput(s, { parameters: { note: 'x'.repeat(1001) } }),
      botInput(s, { credentials: { apiKey: 'x'.repeat(4097) } }),
      botInput(s, { credentials: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`key${i}`, 'v'])) }),
      botInput(s, { credentials: { ['x'.repeat(65)]: 'v' } }),
      botInput(s, { credentials: { 'bad key': 'v' } }),
      botInput(s, { credentials: { apiKey: 7 } }),
    ];
    const before = (await c.bots.list.query()).length;
    for (const input of bad) {
      const err = await rejectionOf(c.bots.create.mutate(input as never));
      expect(errorData(err).code, JSON.stringify(input).slice(0, 200)).toBe('BAD_REQUEST');
    }
    const created = await c.bots.create.mutate(botInput(secrets()));
    for (const input of [{ id: created.id, bogus: true }, { id: 'not-a-uuid' }, { id: created.id, parameters: { lookback: 0 } }, { id: created.id, version: -1 }]) {
      expect(errorData(await rejectionOf(c.bots.update.mutate(input as never))).code).toBe('BAD_REQUEST');
    }
    expect((await c.bots.list.query()).length).toBe(before + 1);
    // A duplicate name of one's own is a conflict; another owner may reuse it.
    const dup = await rejectionOf(c.bots.create.mutate(botInput(secrets(), { name: created.name })));
    expect(errorData(dup)).toMatchObject({ code: 'CONFLICT', reason: 'BOT_NAME_TAKEN' });
    await expect(bob.session.client.bots.create.mutate(botInput(secrets(), { name: created.name }))).resolves.toMatchObject({ ownerId: bob.user.id });
  });

  it('starts and stops idempotently, each change audited once', async () => {
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(secrets()));
    const started = await c.bots.start.mutate({ id: created.id });
    expect(started).toMatchObject({ status: 'running', version: 1 });
    expect(started.startedAt).not.toBeNull();
    expect(await c.bots.start.mutate({ id: created.id })).toMatchObject({ status: 'running', version: 1 });
    const stopped = await c.bots.stop.mutate({ id: created.id });
    expect(stopped).toMatchObject({ status: 'stopped', version: 2 });
    expect(await c.bots.stop.mutate({ id: created.id })).toMatchObject({ status: 'stopped', version: 2 });
    const rows = (await auditRows(server, ['bot.started', 'bot.stopped'])).filter((r) => r.resourceId === created.id);
    expect(rows.map((r) => r.action)).toEqual(['bot.started', 'bot.stopped']);
    expect(rows.every((r) => r.actorId === alice.user.id)).toBe(true);
  });

  it('deletes, audited, and the id then answers NOT_FOUND', async () => {
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(secrets()));
    expect(await c.bots.delete.mutate({ id: created.id })).toEqual({ id: created.id, deleted: true });
    expect(await botRowOrNull(server, created.id)).toBeNull();
    expect(errorData(await rejectionOf(c.bots.get.query({ id: created.id })))).toMatchObject({ code: 'NOT_FOUND' });
    expect(errorData(await rejectionOf(c.bots.delete.mutate({ id: created.id })))).toMatchObject({ code: 'NOT_FOUND' });
    const [row] = (await auditRows(server, ['bot.deleted'])).filter((r) => r.resourceId === created.id);
    expect(row).toMatchObject({ severity: 'HIGH', actorId: alice.user.id });
  });
});

describe('secrets at rest', () => {
  it('leaves no plaintext secret anywhere in the database, audit log included', async () => {
    const s = secrets();
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(s));
    const next = secrets();
    await c.bots.update.mutate({ id: created.id, credentials: { apiKey: next.apiKey, apiSecret: SECRET_MASK, webhookUrl: SECRET_MASK } });
    await c.bots.start.mutate({ id: created.id });
    await c.bots.stop.mutate({ id: created.id });
    // The secrets are really there, sealed: the scan is not vacuous.
    const opened = openBotSecrets(server.app.deps, await botRow(server, created.id));
    expect(opened.credentials).toEqual({ apiKey: next.apiKey, apiSecret: s.apiSecret, webhookUrl: s.webhookUrl });
    expect(await plaintextHits(server, [created.name])).not.toEqual([]);
    expect(await plaintextHits(server, [...Object.values(s), next.apiKey])).toEqual([]);
  });

  it('binds each sealed value to its bot: altered or moved values do not open and the bot will not start', async () => {
    const c = alice.session.client;
    const one = await c.bots.create.mutate(botInput(secrets()));
    const two = await c.bots.create.mutate(botInput(secrets()));
    const rowOne = await botRow(server, one.id);
    const rowTwo = await botRow(server, two.id);

    // Moved: bot one's sealed apiSecret copied into bot two, same column and key.
    await overwriteBot(server, two.id, { credentials: { ...rowTwo.credentials, apiSecret: rowOne.credentials.apiSecret! } });
    const moved = await botRow(server, two.id);
    expect(() => openBotSecrets(server.app.deps, moved)).toThrow(/failed authentication/);
    expect(errorData(await rejectionOf(c.bots.start.mutate({ id: two.id })))).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'BOT_SECRETS_UNREADABLE' });
    expect(errorData(await rejectionOf(c.bots.update.mutate({ id: two.id, name: `${two.name} x` })))).toMatchObject({ code: 'BAD_REQUEST', reason: 'SECRET_REFUSED' });
    // Sending the ciphertext itself as a "new" value is refused too.
    expect(errorData(await rejectionOf(c.bots.update.mutate({ id: two.id, credentials: { apiKey: rowOne.credentials.apiKey! } })))).toMatchObject({
      code: 'BAD_REQUEST',
      reason: 'SECRET_REFUSED',
    });

    // Altered: one character of bot one's ciphertext changed.
    const sealed = rowOne.credentials.apiKey!;
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.at(-1)}`;
    await overwriteBot(server, one.id, { credentials: { ...rowOne.credentials, apiKey: flipped } });
    expect(() => openBotSecrets(server.app.deps, { ...rowOne, credentials: { ...rowOne.credentials, apiKey: flipped } })).toThrow();
    expect(errorData(await rejectionOf(c.bots.start.mutate({ id: one.id })))).toMatchObject({ reason: 'BOT_SECRETS_UNREADABLE' });
    // The answers still show masks, never the stored text.
    expectMasked(await c.bots.get.query({ id: one.id }));
    expect(secretKeyId(sealed)).toBe(server.app.deps.keyring.activeKeyId);
  });
});

describe('object-level access', () => {
  function socket(who: Who): WsTestClient {
    const ws = wsClient(server, { token: who.session.token });
    sockets.push(ws);
    return ws;
  }

  /** Every bot call another trader could try on `id`, through `client`. */
  function attempts(client: ApiClient, id: string) {
    return {
      get: () => client.bots.get.query({ id }),
      update: () => client.bots.update.mutate({ id, name: 'taken over' }),
      updateCredentials: () => client.bots.update.mutate({ id, credentials: { apiKey: 'attacker-key' } }),
      start: () => client.bots.start.mutate({ id }),
      stop: () => client.bots.stop.mutate({ id }),
      delete: () => client.bots.delete.mutate({ id }),
    };
  }

  async function expectUntouched(id: string, before: Awaited<ReturnType<typeof botRow>>) {
    expect(await botRow(server, id)).toEqual(before);
  }

  it("answers NOT_FOUND for another trader's bot, as for a missing id, over HTTP, in a batch and over WebSocket", async () => {
    const mine = await alice.session.client.bots.create.mutate(botInput(secrets()));
    await alice.session.client.bots.start.mutate({ id: mine.id });
    const before = await botRow(server, mine.id);
    const missing = '00000000-0000-4000-8000-000000000000';

    const plain = httpClient(server, { token: bob.session.token, batch: false });
    const batched = httpClient(server, { token: bob.session.token, batch: true });
    const ws = socket(bob).trpc;
    for (const [transport, client] of [['http', plain], ['ws', ws]] as const) {
      for (const [name, call] of Object.entries(attempts(client, mine.id))) {
        const err = await rejectionOf(call());
        expect(errorData(err), `${transport} ${name}`).toMatchObject({ code: 'NOT_FOUND', reason: 'BOT_NOT_FOUND' });
        const missingErr = await rejectionOf(attempts(client, missing)[name as keyof ReturnType<typeof attempts>]());
        // The same answer, word for word, as for an id that does not exist.
        expect(missingErr.message).toBe(err.message);
        expect(errorData(missingErr)).toMatchObject({ code: 'NOT_FOUND', reason: 'BOT_NOT_FOUND' });
      }
      const listed = await client.bots.list.query();
      expect(listed.map((b) => b.id)).not.toContain(mine.id);
      expect(listed.every((b) => b.ownerId === bob.user.id)).toBe(true);
      expect(errorData(await rejectionOf(client.bots.list.query({ ownerId: alice.user.id })))).toMatchObject({ code: 'FORBIDDEN' });
    }

    // One HTTP batch mixing a legitimate call with every attempt: each attempt fails on its own.
    const own = await bob.session.client.bots.create.mutate(botInput(secrets()));
    const a = attempts(batched, mine.id);
    const results = await Promise.allSettled([batched.bots.get.query({ id: own.id }), a.get(), a.update(), a.updateCredentials(), a.start(), a.stop(), a.delete(), batched.bots.list.query()]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { id: own.id } });
    for (const r of results.slice(1, -1)) {
      expect(r.status).toBe('rejected');
      expect(errorData((r as PromiseRejectedResult).reason)).toMatchObject({ code: 'NOT_FOUND' });
    }
    const list = results.at(-1) as PromiseFulfilledResult<BotView[]>;
    expect(list.value.map((b) => b.id)).toContain(own.id);
    expect(list.value.map((b) => b.id)).not.toContain(mine.id);
    expect(list.value.every((b) => b.ownerId === bob.user.id)).toBe(true);

    await expectUntouched(mine.id, before);
    const audits = (await auditRows(server)).filter((r) => r.resourceId === mine.id && r.actorId === bob.user.id);
    expect(audits).toEqual([]);
  });

  it('lets a viewer read every bot, masked, but not write', async () => {
    const mine = await alice.session.client.bots.create.mutate(botInput(secrets()));
    const before = await botRow(server, mine.id);
    const v = viewer.session.client;
    expectMasked(await v.bots.get.query({ id: mine.id }));
    const all = await v.bots.list.query();
    expect(all.map((b) => b.ownerId)).toEqual(expect.arrayContaining([alice.user.id, bob.user.id]));
    expect((await v.bots.list.query({ ownerId: alice.user.id })).every((b) => b.ownerId === alice.user.id)).toBe(true);
    for (const [name, call] of Object.entries(attempts(v, mine.id))) {
      if (name === 'get') continue;
      const permission = name === 'delete' ? 'bots.delete' : 'bots.write';
      expect(errorData(await rejectionOf(call())), name).toMatchObject({ code: 'FORBIDDEN', permission });
    }
    expect(errorData(await rejectionOf(v.bots.create.mutate(botInput(secrets()))))).toMatchObject({ code: 'FORBIDDEN', permission: 'bots.write' });
    await expectUntouched(mine.id, before);
  });

  it("lets an admin read, stop and delete anyone's bot, but not edit or start it", async () => {
    const c = admin.session.client;
    const mine = await alice.session.client.bots.create.mutate(botInput(secrets()));
    expectMasked(await c.bots.get.query({ id: mine.id }));
    expect((await c.bots.list.query({ ownerId: alice.user.id })).map((b) => b.id)).toContain(mine.id);
    for (const call of [() => c.bots.update.mutate({ id: mine.id, credentials: { apiKey: 'admin-key' } }), () => c.bots.start.mutate({ id: mine.id })]) {
      expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'FORBIDDEN', reason: 'BOT_OWNER_ONLY' });
    }
    await alice.session.client.bots.start.mutate({ id: mine.id });
    expect(await c.bots.stop.mutate({ id: mine.id })).toMatchObject({ status: 'stopped' });
    const [stop] = (await auditRows(server, ['bot.stopped'])).filter((r) => r.resourceId === mine.id);
    expect(stop).toMatchObject({ actorId: admin.user.id, details: expect.objectContaining({ ownerId: alice.user.id }) });
    expect(await c.bots.delete.mutate({ id: mine.id })).toEqual({ id: mine.id, deleted: true });
  });

  it('refuses to start a bot for a caller without trading.execute (an API key with bots.write only)', async () => {
    const mine = await alice.session.client.bots.create.mutate(botInput(secrets()));
    const { key } = await alice.session.client.apiKeys.create.mutate({ name: `bots only ${counter}`, permissions: ['bots.read', 'bots.write'] });
    const viaKey = httpClient(server, { headers: { 'x-api-key': key } });
    expect((await viaKey.bots.get.query({ id: mine.id })).id).toBe(mine.id);
    expect(errorData(await rejectionOf(viaKey.bots.start.mutate({ id: mine.id })))).toMatchObject({ code: 'FORBIDDEN', permission: 'trading.execute' });
    expect((await botRow(server, mine.id)).status).toBe('stopped');
  });
});

describe('concurrency', () => {
  it('serialises parallel updates and starts: every change counted once, none lost', async () => {
    const c = alice.session.client;
    const created = await c.bots.create.mutate(botInput(secrets()));
    const names = Array.from({ length: 8 }, (_, i) => `${created.name} #${i}`);
    const updated = await Promise.all(names.map((name) => c.bots.update.mutate({ id: created.id, name })));
    expect(new Set(updated.map((u) => u.version))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
    const last = updated.find((u) => u.version === 8)!;
    expect((await botRow(server, created.id)).name).toBe(last.name);

    const starts = await Promise.all(Array.from({ length: 6 }, () => c.bots.start.mutate({ id: created.id })));
    expect(starts.every((s) => s.status === 'running' && s.version === 9)).toBe(true);
    const audits = (await auditRows(server, ['bot.started'])).filter((r) => r.resourceId === created.id);
    expect(audits).toHaveLength(1);

    // An update that read an older version is refused rather than saved over the newer one.
    const stale = await rejectionOf(c.bots.update.mutate({ id: created.id, name: 'stale form', version: 3 }));
    expect(errorData(stale)).toMatchObject({ code: 'CONFLICT', reason: 'BOT_VERSION_CONFLICT' });
    expect(await c.bots.update.mutate({ id: created.id, name: 'fresh form', version: 9 })).toMatchObject({ name: 'fresh form', version: 10 });
    const opened = openBotSecrets(server.app.deps, await botRow(server, created.id));
    expect(Object.keys(opened.credentials).sort()).toEqual(['apiKey', 'apiSecret', 'webhookUrl']);
  });
});
