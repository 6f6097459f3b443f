import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin, createUser } from '@tapevision/api';
import { strongPassword } from '../../server/test/support/users.ts';
import { mainNav, pathnameOf, startHarness, submitLogin, waitForSignedIn, type Harness } from './support/app.ts';
import type { Page } from 'playwright-core';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.close();
});

async function expectOnlyPasswordChange(page: Page): Promise<void> {
  await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  expect(await mainNav(page).count()).toBe(0);
  expect(await page.getByRole('heading', { name: 'Users', exact: true }).count()).toBe(0);
  expect(await page.getByRole('heading', { name: 'My sessions' }).count()).toBe(0);
}

describe('forced password change', () => {
  // Runs first, on an empty database: the first-run admin has a one-time password.
  it('the first admin must replace the one-time password before reaching any page', async () => {
    const first = await bootstrapAdmin(harness.server.app.deps, { email: 'admin@tapevision.local' });
    expect(first?.oneTimePassword).toBeTruthy();
    const oneTimePassword = first?.oneTimePassword ?? '';
    const { page, errors } = await harness.newPage();

    await page.goto(harness.url('/login'));
    await submitLogin(page, { email: 'admin@tapevision.local', password: oneTimePassword });
    await expectOnlyPasswordChange(page);

    // Typed addresses (full reloads, restored through the refresh cookie) lead to the same page.
    for (const path of ['/users', '/sessions', '/']) {
      await page.goto(harness.url(path));
      await expectOnlyPasswordChange(page);
    }
    expect(pathnameOf(page)).toBe('/');

    // A wrong current password is refused by the server, and the answer lands on that field.
    const strong = `amber-tundra-${randomBytes(3).toString('hex')}-violin-cascade`;
    await page.getByLabel('Current password').fill('this is not the one-time password');
    await page.getByLabel('New password', { exact: true }).fill(strong);
    await page.getByLabel('Confirm new password').fill(strong);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('The current password is not correct').waitFor();
    await expectOnlyPasswordChange(page);

    await page.getByLabel('Current password').fill(oneTimePassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await waitForSignedIn(page, 'admin@tapevision.local');
    await mainNav(page).getByRole('link', { name: 'Users' }).click();
    await page.locator('tr[data-user-email="admin@tapevision.local"]').waitFor();

    // And the new password is the one that works from now on.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await submitLogin(page, { email: 'admin@tapevision.local', password: strong });
    await waitForSignedIn(page, 'admin@tapevision.local');
    expect(errors).toEqual([]);
  });

  it('a user created with mustChangePassword cannot reach other pages until the password is changed', async () => {
    const email = `viewer-${randomBytes(4).toString('hex')}@desk.example`;
    const password = strongPassword();
    await createUser(harness.server.app.deps, { email, role: 'viewer', password, mustChangePassword: true }, null);
    const { page, errors } = await harness.newPage();

    await page.goto(harness.url('/sessions'));
    await submitLogin(page, { email, password });
    await expectOnlyPasswordChange(page);
    await page.goto(harness.url('/users'));
    await expectOnlyPasswordChange(page);

    // Mismatched confirmation is caught before anything is sent.
    const next = strongPassword();
    await page.getByLabel('Current password').fill(password);
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('Confirm new password').fill(`${next}x`);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('The two new passwords do not match').waitFor();

    await page.getByLabel('Confirm new password').fill(next);
    await page.getByRole('button', { name: 'Change password' }).click();
    await waitForSignedIn(page, email);

    // Now the app opens, and the viewer's missing permission is shown as such.
    expect(pathnameOf(page)).toBe('/users');
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    expect(await mainNav(page).getByRole('link', { name: 'Users' }).count()).toBe(0);
    await mainNav(page).getByRole('link', { name: 'My sessions' }).click();
    await page.getByRole('heading', { name: 'My sessions' }).waitFor();
    await page.getByText('This device').waitFor();
    expect(errors).toEqual([]);
  });
});
