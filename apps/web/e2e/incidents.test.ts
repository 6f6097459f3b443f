/**
 * The security centre's incidents: a detection reported on the server shows up live in the
 * admin's list; the admin opens it, moves it to investigating, adds a note and closes it.
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

describe('incidents in the security centre', () => {
  it('a reported detection appears live; the admin investigates, notes and closes it', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security centre' }).click();
    await page.getByRole('heading', { name: 'Incidents' }).waitFor();
    // Subscribed before the detection, so it arrives through onIncident, not a reload.
    await page.locator('[data-incidents-live="pending"]').waitFor();

    const { incidentId } = await harness.server.app.deps.securityResponse.reportDetection({
      rule: 'payload',
      severity: 'MEDIUM',
      summary: 'three script-tag payloads from one address',
      ip: '203.0.113.77',
      userId: null,
      apiKeyId: null,
      correlationKey: 'ip:203.0.113.77',
      count: 3,
      threshold: 3,
      windowSeconds: 300,
      details: {},
      at: new Date(),
    });
    const row = page.locator(`tr[data-incident-id="${incidentId}"]`);
    await row.waitFor({ timeout: 5_000 });
    expect(await row.textContent()).toContain('payload from 203.0.113.77');

    await row.click();
    const detail = page.locator(`[data-incident-detail="${incidentId}"]`);
    await detail.waitFor();
    await detail.getByRole('button', { name: 'Move to investigating' }).click();
    await detail.locator('[data-status="investigating"]').waitFor();

    await detail.getByLabel('Note').fill('Payload probes from a known scanner range.');
    await detail.getByRole('button', { name: 'Add note' }).click();
    await detail.getByRole('list', { name: 'Timeline' }).getByText('Payload probes from a known scanner range.').waitFor();

    // An empty resolution is refused by the form (the server's own rule), and nothing is sent.
    await detail.getByRole('button', { name: 'Close incident' }).click();
    await detail.locator('.field-error').waitFor();
    await detail.getByLabel('Resolution').fill('Blocked the range at the edge; no account touched.');
    await detail.getByRole('button', { name: 'Close incident' }).click();
    await detail.locator('[data-resolution]').getByText('Blocked the range at the edge; no account touched.').waitFor();
    await row.locator('[data-status="closed"]').waitFor();

    const api = await apiSignIn(harness.server, admin);
    const stored = await api.client.incidents.get.query({ id: incidentId! });
    expect(stored.incident).toMatchObject({ status: 'closed', resolution: 'Blocked the range at the edge; no account touched.' });
    expect(stored.timeline.map((t) => t.kind)).toEqual(['opened', 'action', 'action', 'status', 'note', 'closed']);
    expect(errors).toEqual([]);
  }, 60_000);
});
