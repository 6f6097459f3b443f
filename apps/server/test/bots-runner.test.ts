/**
 * The bot runner: a running bot trades its owner's account through trading.execute's path as
 * itself (placedBy bot:<id>, botId, actor bot), with a clientOrderId derived from the print that
 * triggered it, under its own rate limit and the same risk checks and audit; a rejection is kept as
 * the bot's lastError; a bot whose owner is disabled or demoted stops; and on one Postgres exactly
 * one process runs the bots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_RUNNER_LOCK_KEY } from '@tapevision/api';
import { orders, type OrderRow } from '@tapevision/db';
import { botRow } from './support/bots.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { auditRows, waitFor } from './support/session-helpers.ts';
import { lastPrice, openDesk, printOnTape, type Desk } from './support/trading.ts';
import { seedUser, signIn } from './support/users.ts';

/** A few orders a minute per bot, so the rate limit is reached on purpose in one test. */
const BOT_ORDERS_PER_MINUTE = 3;

let server: TestServer;
let desk: Desk;

beforeAll(async () => {
  server = await startTestServer({ market: { printsPerSecond: 20, seed: 11 }, rateLimits: { 'trading.execute': { points: BOT_ORDERS_PER_MINUTE, durationSeconds: 60 } } });
  desk = await openDesk(server);
  // From here on only the tests' prints reach the bots: the simulator's fall behind and are dropped.
  for (const symbol of ['ES', 'NQ', 'CL']) await printOnTape(server, symbol, lastPrice(server, symbol));
});
afterAll(async () => {
  await server?.close();
});

let made = 0;
/** A momentum bot that buys on any 1-tick rise over 2 prints (no cooldown), started and loaded by the runner. */
async function runningBot(client: Desk['alice']['client'], symbol: string, over: Record<string, unknown> = {}) {
  made += 1;
  const bot = await client.bots.create.mutate({
    name: `Runner ${made}-${Math.random().toString(36).slice(2, 7)}`,
    strategy: 'momentum',
    symbols: [symbol],
    parameters: { lookback: 2, thresholdTicks: 1, quantity: 1, maxPosition: 50, cooldownPrints: 0, ...over },
    credentials: { apiKey: `runner-key-${made}`, apiSecret: `runner-secret-${made}` },
  });
  await client.bots.start.mutate({ id: bot.id });
  await waitFor(() => server.app.botRunner.running.includes(bot.id), 10_000, 'the runner to load the bot');
  return bot;
}

/** Puts prints on the tape and waits until the runner has handled each. */
async function feed(symbol: string, prices: number[]) {
  const prints = [];
  for (const price of prices) {
    prints.push(await printOnTape(server, symbol, price));
    await server.app.botRunner.idle();
  }
  return prints;
}

async function ordersOfBot(botId: string): Promise<OrderRow[]> {
  const rows = await server.app.deps.db.select().from(orders);
  return rows.filter((o) => o.botId === botId).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

describe('a running bot', () => {
  it('is run by this process (PGlite: always; Postgres: it holds the lock)', () => {
    expect(server.app.botRunner.leading).toBe(true);
    expect(BOT_RUNNER_LOCK_KEY).toBe(7_401_236_122);
  });

  it('places orders through the order path as itself: its identity, the triggering print, the reason, audited', async () => {
    const bot = await runningBot(desk.alice.client, 'ES');
    const [, , third] = await feed('ES', [5000, 5000, 5000.5]);
    const placed = await ordersOfBot(bot.id);
    expect(placed).toHaveLength(1);
    expect(placed[0]).toMatchObject({
      ownerId: desk.alice.id,
      botId: bot.id,
      placedBy: `bot:${bot.id}`,
      clientOrderId: `bot-${bot.id}-${third!.id}`,
      symbol: 'ES',
      side: 'BUY',
      type: 'market',
      quantity: 1,
      status: 'filled',
    });
    expect(placed[0]!.reason).toMatch(/^momentum: ES up 2 ticks over 2 prints/);

    // The owner sees it among their orders, marked as the bot's; another trader does not.
    const mine = await desk.alice.client.trading.orders.query({ botId: bot.id });
    expect(mine.items.map((o) => o.id)).toEqual([placed[0]!.id]);
    expect((await desk.bob.client.trading.orders.query()).items.map((o) => o.id)).not.toContain(placed[0]!.id);

    const [audit] = (await auditRows(server, ['trade.executed'])).filter((r) => r.resourceId === placed[0]!.id);
    expect(audit).toMatchObject({ actorType: 'bot', actorId: bot.id, outcome: 'success', userAgent: 'bot-runner' });
    expect(audit!.details).toMatchObject({ ownerId: desk.alice.id, botId: bot.id });

    // Stopped, it is dropped by the runner and trades no more.
    expect((await botRow(server, bot.id)).lastError).toBeNull();
    await desk.alice.client.bots.stop.mutate({ id: bot.id });
    await waitFor(() => !server.app.botRunner.running.includes(bot.id), 10_000, 'the runner to drop the stopped bot');
    await feed('ES', [5001, 5002, 5003]);
    expect(await ordersOfBot(bot.id)).toHaveLength(1);
  });

  it('keeps within its strategy limits: never beyond maxPosition', async () => {
    const bot = await runningBot(desk.bob.client, 'NQ', { maxPosition: 2 });
    await feed('NQ', [18000, 18000.25, 18000.5, 18000.75, 18001]);
    const placed = await ordersOfBot(bot.id);
    expect(placed.map((o) => `${o.side}${o.quantity}`)).toEqual(['BUY1', 'BUY1']);
    await desk.bob.client.bots.stop.mutate({ id: bot.id });
  });

  it('is rate-limited under its own key: beyond the limit it places nothing, notes why, and the denial is audited', async () => {
    const bot = await runningBot(desk.alice.client, 'CL', { maxPosition: 50 });
    const prices = Array.from({ length: BOT_ORDERS_PER_MINUTE + 4 }, (_, i) => Number((80 + i * 0.01).toFixed(2)));
    await feed('CL', prices);
    // Every print from the third on signals; only the limit's worth get through.
    expect(await ordersOfBot(bot.id)).toHaveLength(BOT_ORDERS_PER_MINUTE);
    const row = await botRow(server, bot.id);
    expect(row.status).toBe('running');
    expect(row.lastError).toMatch(/^Rate limited/);
    const denied = (await auditRows(server, ['ratelimit.denied'])).filter((r) => r.actorType === 'bot' && r.actorId === bot.id);
    expect(denied.length).toBeGreaterThanOrEqual(1);
    expect(denied[0]!.details).toMatchObject({ policy: 'trading.execute', limitedBy: `b:${bot.id}` });
    // The owner's own budget is another key: the bot did not use it up.
    const own = await desk.alice.client.trading.execute.mutate({ action: 'SELL', symbol: 'CL', quantity: 1, type: 'market', reason: 'Manual trim of the bot position', clientOrderId: `manual-${bot.id}` });
    expect(own.placedBy).toBe(`user:${desk.alice.id}`);
    await desk.alice.client.bots.stop.mutate({ id: bot.id });
  });

  it('records a risk rejection as its lastError and keeps running', async () => {
    const bot = await runningBot(desk.bob.client, 'ES');
    await desk.admin.client.system.stop.mutate();
    try {
      await feed('ES', [5100, 5100, 5100.5]);
      const [rejected] = await ordersOfBot(bot.id);
      expect(rejected).toMatchObject({ status: 'rejected', rejectRule: 'engine_stopped', placedBy: `bot:${bot.id}` });
      const row = await botRow(server, bot.id);
      expect(row).toMatchObject({ status: 'running' });
      expect(row.lastError).toMatch(/engine_stopped/);
      expect(server.app.botRunner.running).toContain(bot.id);
      const [audit] = (await auditRows(server, ['trade.rejected'])).filter((r) => r.resourceId === rejected!.id);
      expect(audit).toMatchObject({ actorType: 'bot', actorId: bot.id, outcome: 'failure' });
    } finally {
      await desk.admin.client.system.start.mutate();
    }
    // The next order that goes through clears the error.
    await feed('ES', [5101]);
    expect((await botRow(server, bot.id)).lastError).toBeNull();
    await desk.bob.client.bots.stop.mutate({ id: bot.id });
  });

  it.each([
    ['disabled', { status: 'disabled' }],
    ['demoted to viewer', { role: 'viewer' }],
  ] as const)('stops, audited, when its owner is %s, and places nothing more', async (_label, change) => {
    const owner = await seedUser(server, 'trader');
    const session = await signIn(server, owner);
    const bot = await runningBot(session.client, 'NQ');
    await desk.admin.client.users.update.mutate({ id: owner.id, ...change });
    await feed('NQ', [18100, 18100, 18100.5]);
    expect(await ordersOfBot(bot.id)).toEqual([]);
    const row = await botRow(server, bot.id);
    expect(row.status).toBe('stopped');
    expect(row.lastError).toMatch(/owner is disabled or no longer holds trading.execute/);
    expect(server.app.botRunner.running).not.toContain(bot.id);
    const [audit] = (await auditRows(server, ['bot.stopped'])).filter((r) => r.resourceId === bot.id);
    expect(audit).toMatchObject({ actorType: 'bot', actorId: bot.id, details: expect.objectContaining({ reason: 'owner_may_not_trade' }) });
  });
});

// Two processes on one database: the bots run in exactly one of them, which places each signal once.
describe('bot runner leadership on one Postgres', { timeout: 120_000 }, () => {
  let db: { url: string; drop(): Promise<void> };
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    db = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    const market = { printsPerSecond: 20, seed: 5, leaderRetryMs: 300 };
    a = await startTestServer({ databaseUrl: db.url, market });
    b = await startTestServer({ databaseUrl: db.url, market });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('runs the bots in one process only, and another takes over when it goes', async () => {
    expect([a.app.botRunner.leading, b.app.botRunner.leading].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.app.botRunner.leading ? [a, b] : [b, a];
    const deskOnLeader = await openDesk(leader);
    const bot = await deskOnLeader.alice.client.bots.create.mutate({
      name: 'Shared',
      strategy: 'momentum',
      symbols: ['CL'],
      parameters: { lookback: 2, thresholdTicks: 1, quantity: 1, maxPosition: 50, cooldownPrints: 0 },
      credentials: {},
    });
    await deskOnLeader.alice.client.bots.start.mutate({ id: bot.id });
    await waitFor(() => leader.app.botRunner.running.includes(bot.id), 10_000, 'the leader to load the bot');
    expect(follower.app.botRunner.running).toEqual([]);

    await leader.close();
    await waitFor(() => follower.app.botRunner.leading, 10_000, 'the follower to take over');
    await waitFor(() => follower.app.botRunner.running.includes(bot.id), 10_000, 'the new leader to load the bot');
  });
});
