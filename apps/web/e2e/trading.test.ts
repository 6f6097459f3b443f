/**
 * The trading dashboard end to end, through the real server: the tape moving, the engine
 * started and stopped by those allowed, and what each role sees.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function openDashboard(page: Page, user: SeededUser): Promise<void> {
  await signIn(harness, page, user);
  await page.getByRole('heading', { name: 'Dashboard', exact: true }).waitFor();
  await page.locator('[data-tape-state="live"]').waitFor();
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
    const { page, errors } = await harness.newPage();
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
    const { page, errors } = await harness.newPage();
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
    const a = await harness.newPage();
    const v = await harness.newPage();
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
});
