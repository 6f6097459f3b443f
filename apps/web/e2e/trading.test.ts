/**
 * The trading dashboard end to end, through the real server and Chromium: the tape moving; a
 * trader's orders, cancels, fills and P&L, live in a second browser on the same account; what a
 * viewer sees and may not do; an admin's stop refusing the next ticket at once.
 *
 * The tests run in order on one server: the later ones put prints on the tape by hand, which
 * freezes the simulated price where they put it (see printOnTape).
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { printOnTape, ticket } from '../../server/test/support/trading.ts';
import { seedUser, signIn as signInOverHttp, type SeededUser } from '../../server/test/support/users.ts';
import { mainNav, signIn, startHarness, type Harness } from './support/app.ts';

let harness: Harness;
let admin: SeededUser;
let trader: SeededUser;
let viewer: SeededUser;
beforeAll(async () => {
  // A quick tape, so a few seconds show plenty of prints.
  harness = await startHarness({ server: { market: { printsPerSecond: 20, seed: 7, leaderRetryMs: 300 } } });
  [admin, trader, viewer] = await Promise.all([seedUser(harness.server, 'admin'), seedUser(harness.server, 'trader'), seedUser(harness.server, 'viewer')]);
  const asAdmin = await signInOverHttp(harness.server, admin);
  await asAdmin.client.system.start.mutate();
});
afterAll(async () => {
  await harness?.close();
});

// A dashboard left open keeps rendering the tape: each test closes its browsers, so the next one
// does not share the machine with them.
const opened: BrowserContext[] = [];
afterEach(async () => {
  for (const context of opened.splice(0)) await context.close().catch(() => undefined);
});

async function newPage(): ReturnType<Harness['newPage']> {
  const made = await harness.newPage();
  opened.push(made.context);
  return made;
}

async function openDashboard(page: Page, user: SeededUser): Promise<void> {
  await signIn(harness, page, user);
  await page.getByRole('heading', { name: 'Dashboard', exact: true }).waitFor();
  await page.locator('[data-tape-state="live"]').waitFor();
  // Every list loaded and every stream connected: what happens from now on shows up live.
  await page.locator('[data-desk-ready="true"]').waitFor();
  await page.locator('[data-desk-state="live"]').waitFor();
}

function ticketForm(page: Page) {
  return page.getByRole('form', { name: 'Trade ticket' });
}

async function fillTicket(
  page: Page,
  order: { side: 'Buy' | 'Sell'; symbol: string; quantity: number; type: 'market' | 'limit'; price?: string; reason: string },
): Promise<void> {
  const form = ticketForm(page);
  await form.getByLabel(order.side, { exact: true }).check();
  await form.getByLabel('Symbol').selectOption(order.symbol);
  await form.getByLabel('Quantity').fill(String(order.quantity));
  await form.getByLabel('Order type').selectOption(order.type);
  if (order.price !== undefined) await form.getByLabel('Limit price').fill(order.price);
  await form.getByLabel('Reason').fill(order.reason);
}

function unrealized(page: Page) {
  return page.getByTestId('pnl-unrealized');
}

function realized(page: Page) {
  return page.getByTestId('pnl-realized');
}

/** The number of prints the tape has shown so far. */
async function received(page: Page): Promise<number> {
  const value = await page.locator('[data-received]').getAttribute('data-received');
  return Number(value ?? 0);
}

/** Waits until the tape has shown more than `than` prints. */
async function waitForPrints(page: Page, than: number): Promise<void> {
  await page.waitForFunction((n) => Number(document.querySelector('[data-received]')?.getAttribute('data-received') ?? 0) > n, than, { timeout: 15_000 });
}

function engineState(page: Page) {
  return page.locator('[data-engine-state]');
}

describe('dashboard', () => {
  it('is where a trader lands: the tape moves, prices and the chart follow, no engine controls', async () => {
    const { page, errors } = await newPage();
    await openDashboard(page, trader);
    expect(await mainNav(page).getByRole('link').first().textContent()).toBe('Dashboard');

    await waitForPrints(page, 5);
    const first = await received(page);
    const topRow = await page.locator('tr[data-print-id]').first().getAttribute('data-print-id');
    await waitForPrints(page, first + 5);
    // Newest on top: the top row is a later print than before.
    const newTop = await page.locator('tr[data-print-id]').first().getAttribute('data-print-id');
    expect(BigInt(newTop ?? '0')).toBeGreaterThan(BigInt(topRow ?? '0'));

    // Every symbol has a last price; the chart draws the chosen one.
    for (const symbol of ['ES', 'NQ', 'CL']) await page.getByTestId(`last-price-${symbol}`).filter({ hasText: /\d/ }).waitFor();
    await page.getByTestId('price-chart').locator('.recharts-line path').first().waitFor();
    await page.getByRole('button', { name: /^NQ/ }).click();
    await page.getByRole('figure', { name: 'Price chart: NQ' }).waitFor();

    await engineState(page).and(page.locator('[data-engine-state="running"]')).waitFor();
    expect(await page.getByRole('button', { name: 'Stop engine' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Start engine' }).count()).toBe(0);
    await page.screenshot({ path: '/tmp/tapevision-dashboard.png', fullPage: true });
    expect(errors).toEqual([]);
  });

  it('keeps the tape virtualised and capped however long it runs', async () => {
    const { page, errors } = await newPage();
    await openDashboard(page, viewer);
    await waitForPrints(page, 60);
    // Only the rows near the viewport are in the DOM.
    const inDom = await page.locator('tr[data-print-id]').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(50);
    expect(Number(await page.getByRole('table', { name: 'Live tape' }).getAttribute('aria-rowcount'))).toBeGreaterThan(60);
    expect(errors).toEqual([]);
  });

  it('lets an admin stop and start the engine, and every open dashboard sees it at once', async () => {
    const a = await newPage();
    const v = await newPage();
    await openDashboard(a.page, admin);
    await openDashboard(v.page, viewer);
    await v.page.locator('[data-engine-state="running"]').waitFor();

    await a.page.getByRole('button', { name: 'Stop engine' }).click();
    await a.page.getByRole('button', { name: 'Stop now' }).click();
    await a.page.locator('[data-engine-state="stopped"]').waitFor();
    // The viewer's page learns of it through system.onStatus, without a reload.
    await v.page.locator('[data-engine-state="stopped"]').waitFor();
    expect(await v.page.getByRole('button', { name: 'Start engine' }).count()).toBe(0);

    await a.page.getByRole('button', { name: 'Start engine' }).click();
    await a.page.locator('[data-engine-state="running"]').waitFor();
    await v.page.locator('[data-engine-state="running"]').waitFor();
    const before = await received(v.page);
    await waitForPrints(v.page, before + 3);
    expect(a.errors).toEqual([]);
    expect(v.errors).toEqual([]);
  });

  it('a trader buys at market and sees the fill and live P&L in a second browser on the same account; places and cancels a limit; closes', async () => {
    const a = await newPage();
    const b = await newPage();
    await openDashboard(a.page, trader);
    await openDashboard(b.page, trader);
    const api = await signInOverHttp(harness.server, trader);

    // Nothing has been shown to the server yet: the ticket checks with the server's schema first.
    await fillTicket(a.page, { side: 'Buy', symbol: 'ES', quantity: 2, type: 'market', reason: 'hm' });
    await ticketForm(a.page).getByRole('button', { name: 'Buy ES' }).click();
    await ticketForm(a.page).getByText('Say why, in 5 to 500 characters').waitFor();

    // A market order fills at once; browser B, on the same account, sees the fill and the position.
    await ticketForm(a.page).getByLabel('Reason').fill('Opening the e2e position');
    await ticketForm(a.page).getByRole('button', { name: 'Buy ES' }).click();
    await ticketForm(a.page).getByText(/^Filled: BUY 2 ES at market, at \d/).waitFor();
    await b.page.locator('tr[data-position="ES"][data-quantity="2"]').waitFor();
    await b.page.getByRole('table', { name: 'Recent fills' }).locator('tr[data-fill-id]').first().waitFor();
    expect(await b.page.getByRole('table', { name: 'Recent fills' }).locator('tr[data-fill-id]').first().textContent()).toContain('BUY');

    // The price moves 10 points: both browsers re-mark the position from the tape.
    const [position] = (await api.client.positions.list.query()).positions.filter((p) => p.symbol === 'ES');
    expect(position?.quantity).toBe(2);
    await printOnTape(harness.server, 'ES', (position?.averagePrice ?? 0) + 10);
    // 10 points × 2 contracts × $50 a point.
    for (const page of [a.page, b.page]) {
      await unrealized(page).and(page.locator('[data-value="1000"]')).waitFor();
      expect(await unrealized(page).textContent()).toBe('+$1,000.00');
    }

    // A limit order below the market rests; B sees it among the open orders; A cancels it.
    const limit = String((position?.averagePrice ?? 0) + 10 - 20);
    await fillTicket(a.page, { side: 'Buy', symbol: 'ES', quantity: 1, type: 'limit', price: limit, reason: 'Bid under the market' });
    await ticketForm(a.page).getByRole('button', { name: 'Buy ES' }).click();
    await ticketForm(a.page).getByText(/^Working: BUY 1 ES limit/).waitFor();
    const openInB = b.page.getByRole('table', { name: 'Open orders' }).locator('tr[data-status="working"]');
    await openInB.waitFor();
    const orderId = await openInB.getAttribute('data-order-id');
    await a.page.getByRole('button', { name: /^Cancel BUY 1 ES at / }).click();
    await a.page.locator(`tr[data-order-id="${orderId}"]`).waitFor({ state: 'detached' });
    await b.page.locator(`tr[data-order-id="${orderId}"]`).waitFor({ state: 'detached' });
    expect((await api.client.trading.orders.query({ status: 'cancelled' })).items.map((o) => o.id)).toContain(orderId);

    // Closing the position books the P&L as realised (less the paper broker's slippage on the
    // closing sell), in both browsers.
    await a.page.locator('tr[data-position="ES"]').getByRole('button', { name: 'Close' }).click();
    await a.page.getByRole('button', { name: 'Close ES' }).click();
    await a.page.locator('tr[data-position="ES"]').waitFor({ state: 'detached' });
    const booked = (await api.client.positions.list.query()).totals.realized;
    expect(booked).toBeGreaterThan(900);
    expect(booked).toBeLessThanOrEqual(1000);
    for (const page of [a.page, b.page]) {
      await page.locator('tr[data-position="ES"]').waitFor({ state: 'detached' });
      await realized(page).and(page.locator(`[data-value="${booked}"]`)).waitFor();
      await unrealized(page).and(page.locator('[data-value="0"]')).waitFor();
    }
    await a.page.screenshot({ path: '/tmp/tapevision-dashboard-trader.png', fullPage: true });
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('a send whose answer is lost goes again with the same clientOrderId and places one order; the next send gets a new one', async () => {
    const { page, errors } = await newPage();
    await openDashboard(page, trader);
    const sent: string[] = [];
    // The first send reaches the server, which places the order, but its answer never arrives.
    await page.route('**/trpc/trading.execute**', async (route) => {
      sent.push(route.request().postData() ?? '');
      if (sent.length === 1) {
        await route.fetch();
        await route.abort('connectionreset');
      } else {
        await route.continue();
      }
    });
    const clientOrderIds = () => sent.map((body) => /"clientOrderId":"([^"]+)"/.exec(body)?.[1]);

    await fillTicket(page, { side: 'Buy', symbol: 'CL', quantity: 1, type: 'market', reason: 'Retry after a lost answer' });
    await ticketForm(page).getByRole('button', { name: 'Buy CL' }).click();
    await ticketForm(page).getByRole('button', { name: 'Send again' }).click();
    await ticketForm(page).getByText(/^Filled: BUY 1 CL at market/).waitFor();
    const [first, retry] = clientOrderIds();
    expect(first).toBeTruthy();
    expect(retry).toBe(first);
    const api = await signInOverHttp(harness.server, trader);
    const placed = (await api.client.trading.orders.query({ symbol: 'CL' })).items.filter((o) => o.clientOrderId === first);
    expect(placed).toHaveLength(1);

    // A new send is a new order.
    await ticketForm(page).getByLabel('Reason').fill('A second, separate order');
    await ticketForm(page).getByRole('button', { name: 'Buy CL' }).click();
    await page.locator('tr[data-position="CL"][data-quantity="2"]').waitFor();
    expect(clientOrderIds()).toHaveLength(3);
    expect(clientOrderIds()[2]).not.toBe(first);
    expect(errors).toEqual([]);
  });

  it("a viewer watches every account but has no controls, and the server refuses a viewer's or another trader's attempt", async () => {
    const { page, errors } = await newPage();
    await openDashboard(page, viewer);
    // The trader's fills are on the desk the viewer watches.
    await page.getByRole('group', { name: 'Accounts shown' }).getByRole('button', { name: 'All accounts', pressed: true }).waitFor();
    await page.getByRole('table', { name: 'Recent fills' }).locator('tr[data-fill-id]').first().waitFor();
    expect(await ticketForm(page).count()).toBe(0);
    for (const name of ['Start engine', 'Stop engine', 'Cancel', 'Close']) {
      expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    }
    expect(await page.getByRole('button', { name: /^Cancel / }).count()).toBe(0);

    // Forced past the page: the server refuses.
    const asViewer = await signInOverHttp(harness.server, viewer);
    await expect(asViewer.client.trading.execute.mutate(ticket())).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(asViewer.client.system.stop.mutate()).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(asViewer.client.positions.close.mutate({ symbol: 'ES' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });

    // Another trader cannot see or cancel the first one's orders.
    const asTrader = await signInOverHttp(harness.server, trader);
    const mine = await asTrader.client.trading.orders.query({ limit: 1 });
    const other = await signInOverHttp(harness.server, await seedUser(harness.server, 'trader'));
    await expect(other.client.trading.orders.query({ ownerId: trader.id })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(other.client.trading.cancel.mutate({ orderId: mine.items[0]?.id ?? '' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    expect((await other.client.trading.trades.query()).items).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('an admin stops the engine and the next ticket is refused at once, naming the rule; the alert shows live', async () => {
    const t = await newPage();
    const a = await newPage();
    await openDashboard(t.page, trader);
    await openDashboard(a.page, admin);

    await a.page.getByRole('button', { name: 'Stop engine' }).click();
    await a.page.getByRole('button', { name: 'Stop now' }).click();
    await a.page.locator('[data-engine-state="stopped"]').waitFor();

    // The trader's page has not even heard of the stop yet, maybe: the server refuses regardless.
    await fillTicket(t.page, { side: 'Sell', symbol: 'NQ', quantity: 1, type: 'market', reason: 'Trying after the stop' });
    await ticketForm(t.page).getByRole('button', { name: 'Sell NQ' }).click();
    const refusal = ticketForm(t.page).locator('.ticket-refused');
    await refusal.waitFor();
    expect(await refusal.getAttribute('data-rule')).toBe('engine_stopped');
    expect(await refusal.textContent()).toContain('The trading engine is stopped');
    // The rejection raised an alert, which arrives on the alerts panel without a reload.
    await t.page.getByRole('list', { name: 'Alerts' }).locator('li[data-rule="engine_stopped"]').first().waitFor();
    // And the stop reached the trader's page live: the ticket warns before the next send.
    await t.page.locator('[data-engine-state="stopped"]').waitFor();
    await ticketForm(t.page).getByText('The engine is stopped: orders are refused until it starts again.').waitFor();
    expect(t.errors).toEqual([]);
    expect(a.errors).toEqual([]);
  });
});
