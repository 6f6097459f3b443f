import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser } from '../../server/test/support/users.ts';
import {
  countCalls,
  header,
  JWT_PATTERN,
  mainNav,
  pathnameOf,
  readableStorage,
  signIn,
  startHarness,
  tableRows,
  waitForLoginPage,
  waitForSignedIn,
  type Harness,
} from './support/app.ts';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.close();
});

describe('signing in and out', () => {
  it('a trader signs in, sees only their pages and this device, signs out, and stays out after a reload', async () => {
    const trader = await seedUser(harness.server, 'trader');
    const { context, page, errors } = await harness.newPage();

    // Signed out, any page leads to the sign-in form.
    await page.goto(harness.url('/'));
    await waitForLoginPage(page);
    expect(pathnameOf(page)).toBe('/login');

    await signIn(harness, page, trader);
    const nav = mainNav(page);
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Dashboard', 'Bots', 'My sessions', 'API keys']);
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await header(page).textContent()).toContain('trader');
    // The home page lists what the role may do.
    await page.getByRole('list', { name: 'Your permissions' }).getByText('trading.execute').waitFor();
    expect(await page.getByRole('list', { name: 'Your permissions' }).getByText('users.manage').count()).toBe(0);

    await nav.getByRole('link', { name: 'My sessions' }).click();
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    const rows = tableRows(page);
    await rows.first().getByText('This device').waitFor();
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getByRole('button', { name: /Revoke/ }).count()).toBe(0);

    // An admin-only page is refused by the app too (the server refuses it regardless).
    await page.goto(harness.url('/users'));
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await waitForLoginPage(page);
    expect(pathnameOf(page)).toBe('/login');
    // The server cleared the refresh cookie.
    expect((await context.cookies()).some((c) => c.name === 'tv_refresh')).toBe(false);

    const refreshes = countCalls(page, 'auth.refresh');
    await page.reload();
    await waitForLoginPage(page);
    expect(refreshes.count).toBeGreaterThanOrEqual(1);
    expect(await page.getByText(trader.email).count()).toBe(0);
    expect(await mainNav(page).count()).toBe(0);

    // A protected page still leads to the sign-in form.
    await page.goto(harness.url('/sessions'));
    await waitForLoginPage(page);
    expect(pathnameOf(page)).toBe('/login');
    expect(errors).toEqual([]);
  });

  it('shows the server’s generic message for a wrong password', async () => {
    const viewer = await seedUser(harness.server, 'viewer');
    const { page, errors } = await harness.newPage();
    await page.goto(harness.url('/login'));
    await page.getByLabel('Email').fill(viewer.email);
    await page.getByLabel('Password').fill('not-the-password-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('Invalid email or password').waitFor();
    expect(await mainNav(page).count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('restores the session on reload through the HttpOnly refresh cookie, never storing the token', async () => {
    const viewer = await seedUser(harness.server, 'viewer');
    const { context, page, errors } = await harness.newPage();
    const token = await signIn(harness, page, viewer);

    await mainNav(page).getByRole('link', { name: 'My sessions' }).click();
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();

    const refreshes = countCalls(page, 'auth.refresh');
    const logins = countCalls(page, 'auth.login');
    await page.reload();
    // Still signed in, still on the same page, restored by auth.refresh (not a new sign-in).
    await waitForSignedIn(page, viewer.email);
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    expect(refreshes.count).toBeGreaterThanOrEqual(1);
    expect(logins.count).toBe(0);
    // The same session as before the reload.
    const rows = tableRows(page);
    await rows.first().getByText('This device').waitFor();
    expect(await rows.count()).toBe(1);

    // Nothing script-readable holds a token: no web storage, and the refresh cookie is HttpOnly.
    const stored = await readableStorage(page);
    const everything = JSON.stringify(stored);
    expect(everything).not.toContain(token);
    expect(everything).not.toMatch(JWT_PATTERN);
    expect(stored.local).toEqual([]);
    expect(stored.session).toEqual([]);
    expect(stored.cookie).not.toContain('tv_refresh');
    const refreshCookie = (await context.cookies()).find((c) => c.name === 'tv_refresh');
    expect(refreshCookie).toMatchObject({ httpOnly: true, path: '/trpc', sameSite: 'Strict' });
    expect(errors).toEqual([]);
  });
});
