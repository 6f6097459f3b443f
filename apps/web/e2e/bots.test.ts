/**
 * The bots page end to end, through the real server and Chromium: a trader creates a bot with a
 * secret, which is never sent back (the edit form shows it masked and keeps it), starts it, and
 * watches its fills arrive; a viewer only reads; nobody else reaches the bot.
 */
import type { Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_MASK } from '@tapevision/api/schemas';
import { lastPrice, printOnTape } from '../../server/test/support/trading.ts';
import { seedUser, signIn as signInOverHttp, type SeededUser } from '../../server/test/support/users.ts';
import { mainNav, signIn, startHarness, type Harness } from './support/app.ts';

let harness: Harness;
let trader: SeededUser;
let viewer: SeededUser;
beforeAll(async () => {
  harness = await startHarness({ server: { market: { printsPerSecond: 20, seed: 11, leaderRetryMs: 300 } } });
  const admin = await seedUser(harness.server, 'admin');
  [trader, viewer] = await Promise.all([seedUser(harness.server, 'trader'), seedUser(harness.server, 'viewer')]);
  await (await signInOverHttp(harness.server, admin)).client.system.start.mutate();
});
afterAll(async () => {
  await harness?.close();
});

const SECRET = `sk-live-${Math.random().toString(36).slice(2)}-do-not-leak`;
const BOT_NAME = 'ES momentum e2e';

async function openBots(page: Page, user: SeededUser): Promise<void> {
  await signIn(harness, page, user);
  await mainNav(page).getByRole('link', { name: 'Bots' }).click();
  await page.getByRole('heading', { name: 'Bots', exact: true }).waitFor();
}

/** Every body the server sends to this page from a bots.* procedure. */
function botResponses(page: Page): string[] {
  const bodies: string[] = [];
  page.on('response', (response: Response) => {
    if (new URL(response.url()).pathname.includes('/trpc/bots.')) void response.text().then((t) => bodies.push(t), () => undefined);
  });
  return bodies;
}

function botRow(page: Page) {
  return page.getByRole('table', { name: 'Bots' }).locator('tr[data-bot-id]').filter({ hasText: BOT_NAME });
}

describe('bots page', () => {
  it('a trader creates a bot with a secret, sees it masked on edit, starts it, and watches its fills arrive', async () => {
    const { page, errors } = await harness.newPage();
    const bodies = botResponses(page);
    await openBots(page, trader);
    await page.getByText('No bots yet.').waitFor();

    await page.getByRole('button', { name: 'New bot' }).click();
    const form = page.getByRole('form', { name: 'New bot' });
    // Checked in the browser with the server's schema first: no name, no symbol.
    await form.getByRole('button', { name: 'Create bot' }).click();
    await form.getByText('Name the bot').waitFor();
    await form.getByText('Choose at least one symbol').waitFor();

    await form.getByLabel('Name', { exact: true }).fill(BOT_NAME);
    await form.getByLabel(/^ES/).check();
    await form.getByLabel('Lookback (prints)').fill('2');
    await form.getByLabel('Threshold (ticks)').fill('1');
    await form.getByLabel('Order quantity').fill('1');
    await form.getByLabel('Cool-down (prints)').fill('0');
    await form.getByLabel('Credential name').fill('apiKey');
    await form.getByLabel('Secret value').fill(SECRET);
    await form.getByRole('button', { name: 'Create bot' }).click();
    await page.getByText(`Bot ${BOT_NAME} created (stopped).`).waitFor();
    await botRow(page).and(page.locator('[data-bot-status="stopped"]')).waitFor();

    // On edit the secret is the mask, not the value; saved untouched, the server keeps it.
    await page.getByRole('button', { name: `Edit ${BOT_NAME}` }).click();
    const edit = page.getByRole('form', { name: `Edit bot ${BOT_NAME}` });
    const secretField = edit.getByLabel('Secret value');
    expect(await secretField.inputValue()).toBe(SECRET_MASK);
    expect(await edit.getByLabel('Credential name').inputValue()).toBe('apiKey');
    expect(await edit.getByLabel('Lookback (prints)').inputValue()).toBe('2');
    await edit.getByLabel('Largest position').fill('3');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText(`Bot ${BOT_NAME} saved.`).waitFor();
    const api = await signInOverHttp(harness.server, trader);
    const [saved] = await api.client.bots.list.query();
    expect(saved?.credentials).toEqual({ apiKey: SECRET_MASK });
    expect(saved?.parameters).toMatchObject({ lookback: 2, thresholdTicks: 1, maxPosition: 3 });

    // Started, it trades on the next move of at least a tick over two prints: put one on the tape.
    await page.getByRole('button', { name: `Start ${BOT_NAME}` }).click();
    await botRow(page).and(page.locator('[data-bot-status="running"]')).waitFor();
    await page.getByRole('button', { name: `Fills of ${BOT_NAME}` }).click();
    await page.getByRole('heading', { name: `Fills of ${BOT_NAME}` }).waitFor();
    const from = lastPrice(harness.server, 'ES');
    for (const step of [1, 2, 3]) await printOnTape(harness.server, 'ES', from + step);
    const fills = page.getByRole('table', { name: 'Bot fills' }).locator('tr[data-fill-id]');
    await fills.first().waitFor({ timeout: 20_000 });
    expect(await fills.first().textContent()).toContain('ES');
    expect((await api.client.trading.trades.query({ botId: saved?.id ?? '' })).items.length).toBeGreaterThan(0);

    await page.getByRole('button', { name: `Stop ${BOT_NAME}` }).click();
    await botRow(page).and(page.locator('[data-bot-status="stopped"]')).waitFor();
    await page.screenshot({ path: '/tmp/tapevision-bots.png', fullPage: true });

    // The secret never came back to the browser, in any answer, nor sits in the page.
    expect(bodies.length).toBeGreaterThan(0);
    for (const body of bodies) expect(body).not.toContain(SECRET);
    expect(await page.content()).not.toContain(SECRET);
    expect(errors).toEqual([]);
  });

  it('a viewer reads the bots but has no controls; the server refuses a viewer and another trader', async () => {
    const { page, errors } = await harness.newPage();
    await openBots(page, viewer);
    await botRow(page).waitFor();
    expect(await page.getByRole('button', { name: 'New bot' }).count()).toBe(0);
    for (const action of ['Edit', 'Start', 'Stop']) {
      expect(await page.getByRole('button', { name: `${action} ${BOT_NAME}` }).count()).toBe(0);
    }
    expect(await page.getByRole('button', { name: 'Delete', exact: true }).count()).toBe(0);

    const asTrader = await signInOverHttp(harness.server, trader);
    const [bot] = await asTrader.client.bots.list.query();
    const asViewer = await signInOverHttp(harness.server, viewer);
    await expect(asViewer.client.bots.start.mutate({ id: bot?.id ?? '' })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(asViewer.client.bots.create.mutate({ name: 'nope', strategy: 'momentum', symbols: ['ES'] })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
    });
    const other = await signInOverHttp(harness.server, await seedUser(harness.server, 'trader'));
    await expect(other.client.bots.get.query({ id: bot?.id ?? '' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    await expect(other.client.bots.update.mutate({ id: bot?.id ?? '', name: 'taken over' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
    expect(await other.client.bots.list.query()).toEqual([]);
    expect(errors).toEqual([]);
  });
});
