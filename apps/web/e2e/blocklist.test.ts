/**
 * The security centre's blocklist: the form refuses garbage (the server's own schema), the admin
 * blocks a range (shown in its normal form) and removes it again (kept in the history).
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

describe('the blocklist in the security centre', () => {
  it('blocks a range and removes it again', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security centre' }).click();
    const section = page.locator('section[aria-labelledby="blocklist-title"]');
    await section.getByRole('heading', { name: 'Blocklist' }).waitFor();

    await section.getByLabel('Address or CIDR').fill('not an address');
    await section.getByLabel('Reason').fill('scanner range');
    await section.getByRole('button', { name: 'Block' }).click();
    await section.locator('.field-error').first().waitFor();

    await section.getByLabel('Address or CIDR').fill('198.51.100.77/24');
    await section.getByRole('button', { name: 'Block' }).click();
    const row = section.locator('tr[data-block-cidr="198.51.100.0/24"]');
    await row.waitFor({ timeout: 5_000 });
    expect(await row.textContent()).toContain('scanner range');
    expect(await row.textContent()).toContain(admin.email);

    await row.getByRole('button', { name: 'Remove' }).click();
    await row.getByRole('button', { name: 'Unblock' }).click();
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    await section.getByLabel('Show expired and removed').check();
    await section.locator('tr[data-block-cidr="198.51.100.0/24"][data-block-status="removed"]').waitFor();

    const api = await apiSignIn(harness.server, admin);
    expect((await api.client.security.blocks.list.query({ status: 'active' })).map((b) => b.cidr)).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);
});
