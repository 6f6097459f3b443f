/**
 * The lockdown in the SPA: the admin engages it from the security centre and the banner shows;
 * lifted elsewhere (another tab, another process), the banner goes live; the dashboard's kill
 * switch asks first, then cancels and flattens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, signIn as apiSignIn } from '../../server/test/support/users.ts';
import { mainNav, signIn, startHarness, type Harness } from './support/app.ts';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.close();
});

describe('emergency lockdown and the kill switch', () => {
  it('engages from the security centre, shows the banner, and drops it live when lifted elsewhere', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security centre' }).click();
    await page.getByRole('heading', { name: 'Emergency lockdown' }).waitFor();
    await page.locator('[data-lockdown-state="none"]').waitFor();

    await page.getByLabel('Lockdown reason').fill('Suspected credential leak');
    await page.getByRole('button', { name: 'Engage lockdown' }).click();
    await page.getByRole('button', { name: 'Engage', exact: true }).click();
    await page.locator('[data-lockdown-state="active"]').waitFor();
    const banner = page.locator('[data-lockdown="active"]');
    await banner.waitFor();
    expect(await banner.textContent()).toContain('Suspected credential leak');

    const api = await apiSignIn(harness.server, admin);
    await api.client.security.lift.mutate({ reason: 'false alarm' });
    // Through security.onStatus: no reload.
    await banner.waitFor({ state: 'detached', timeout: 10_000 });
    expect(await api.client.security.status.query()).toMatchObject({ active: false });
    expect(errors).toEqual([]);
  }, 60_000);

  it('the dashboard kill switch asks first, then cancels and flattens', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    const kill = page.getByRole('region', { name: 'Kill switch' });
    await kill.waitFor();
    expect(await kill.textContent()).toContain('every account');
    await kill.getByRole('button', { name: 'Cancel all + flatten all' }).click();
    await kill.getByRole('button', { name: 'Cancel all and flatten' }).click();
    await kill.getByText(/order\(s\) cancelled, \d+ position\(s\) flattened/).waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
  }, 60_000);
});
