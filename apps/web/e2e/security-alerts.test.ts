/**
 * The security centre's alerts: one raised on the server shows up live; the admin acknowledges it
 * and it leaves the unacknowledged list, stored as acknowledged.
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

describe('security alerts in the security centre', () => {
  it('a raised alert appears live; acknowledging it moves it out of the unacknowledged list', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security centre' }).click();
    await page.getByRole('heading', { name: 'Security alerts' }).waitFor();
    await page.locator('[data-security-alerts-live="pending"]').waitFor();

    await harness.server.app.deps.securityResponse.raiseAlert({
      type: 'threshold',
      severity: 'HIGH',
      title: 'Credential stuffing from 198.51.100.23',
      message: '10 accounts failed sign-in in 10 minutes',
      incidentId: null,
      ip: '198.51.100.23',
      userId: null,
      details: {},
    });
    const table = page.getByRole('table', { name: 'Security alerts' });
    const row = table.locator('tr', { hasText: 'Credential stuffing from 198.51.100.23' });
    await row.waitFor({ timeout: 5_000 });
    expect(await row.textContent()).toContain('198.51.100.23');

    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    await page.getByLabel('Unacknowledged only').uncheck();
    await table.locator('tr', { hasText: 'Credential stuffing from 198.51.100.23' }).locator('[data-acknowledged]').waitFor();

    const api = await apiSignIn(harness.server, admin);
    const [stored] = await api.client.alerts.list.query({ kind: 'security' });
    expect(stored?.security).toMatchObject({ title: 'Credential stuffing from 198.51.100.23', acknowledgedBy: admin.id });
    expect(errors).toEqual([]);
  }, 60_000);
});
