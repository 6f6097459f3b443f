/**
 * The admin watches the security centre while an attack runs: a brute force from one address
 * (behind the simulated proxy) shows up as an alert, an incident and a block, live, with no reload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient, rejectionOf } from '../../server/test/support/clients.ts';
import { seedUser, strongPassword } from '../../server/test/support/users.ts';
import { mainNav, signIn, startHarness, type Harness } from './support/app.ts';

const ATTACKER = '203.0.113.99';
let harness: Harness;
beforeAll(async () => {
  harness = await startHarness({ server: { trustProxy: true } });
});
afterAll(async () => {
  await harness?.close();
});

describe('an attack seen live in the security centre', () => {
  it('the alert, the incident and the block appear while a brute force runs', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const victim = await seedUser(harness.server, 'trader');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security centre' }).click();
    await page.locator('[data-security-alerts-live="pending"]').waitFor();
    await page.locator('[data-incidents-live="pending"]').waitFor();

    const attacker = httpClient(harness.server, { headers: { 'x-forwarded-for': ATTACKER }, batch: false });
    const stranger = `nobody-${Date.now()}@desk.example`;
    for (let i = 0; i < 6; i++) {
      await rejectionOf(attacker.auth.login.mutate({ email: i % 2 === 0 ? victim.email : stranger, password: strongPassword() }));
    }

    const alerts = page.getByRole('table', { name: 'Security alerts' });
    await alerts.locator('tr', { hasText: 'Brute' }).first().waitFor({ timeout: 10_000 });
    await alerts.locator('tr', { hasText: ATTACKER }).first().waitFor({ timeout: 10_000 });
    const incident = page.getByRole('table', { name: 'Incidents' }).locator('tr[data-incident-id]').first();
    await incident.waitFor({ timeout: 10_000 });
    expect(await incident.textContent()).toContain('CRITICAL');
    await page.locator(`tr[data-block-cidr="${ATTACKER}/32"]`).waitFor({ timeout: 10_000 });

    // The attacker is refused from now on; the admin's page goes on working.
    expect((await fetch(`${harness.server.url}/trpc/auth.me`, { headers: { 'x-forwarded-for': ATTACKER } })).status).toBe(403);
    expect(errors).toEqual([]);
  }, 60_000);
});
