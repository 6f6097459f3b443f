import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser } from '../../server/test/support/users.ts';
import {
  countCalls,
  header,
  mainNav,
  signIn,
  startHarness,
  submitLogin,
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

const SCREENSHOT = '/tmp/tapevision-users-page.png';
const unique = () => randomBytes(4).toString('hex');

describe('user administration', () => {
  it('an admin creates a trader, who signs in with the one-time password and must choose a strong one', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const adminSide = await harness.newPage();
    const page = adminSide.page;
    await adminSide.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: harness.server.url });

    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    await page.locator(`tr[data-user-email="${admin.email}"]`).waitFor();

    // Create a trader without a password: a one-time password is generated and shown once.
    const email = `new-trader-${unique()}@desk.example`;
    const form = page.getByRole('form', { name: 'Create a user' });
    await form.getByLabel('Email').fill(email);
    await form.getByLabel('Role').selectOption('trader');
    const mustChange = form.getByLabel('Must change password at first sign-in');
    expect(await mustChange.isChecked()).toBe(true);
    await form.getByRole('button', { name: 'Create user' }).click();

    const otpValue = page.getByTestId('one-time-password');
    await otpValue.waitFor();
    const oneTimePassword = (await otpValue.textContent())?.trim() ?? '';
    expect(oneTimePassword.length).toBeGreaterThanOrEqual(12);
    await page.getByText('Shown only this once.').waitFor();
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(oneTimePassword);

    const row = page.locator(`tr[data-user-email="${email}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('trader');
    expect(await row.textContent()).toContain('must change password');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await page.getByTestId('one-time-password').count()).toBe(0);

    // The trader, in another browser, signs in with it and is sent to the password change only.
    const traderSide = await harness.newPage();
    const tp = traderSide.page;
    await tp.goto(harness.url('/login'));
    await submitLogin(tp, { email, password: oneTimePassword });
    await tp.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    expect(await mainNav(tp).count()).toBe(0);

    const changes = countCalls(tp, 'auth.changePassword');
    await tp.getByLabel('Current password').fill(oneTimePassword);
    await tp.getByLabel('New password', { exact: true }).fill('password1234');
    await tp.getByLabel('Confirm new password').fill('password1234');
    // The meter scores it with the server's own function.
    const meter = tp.getByRole('meter', { name: 'Password strength' });
    await meter.waitFor();
    expect(Number(await meter.getAttribute('aria-valuenow'))).toBeLessThan(3);
    await tp.getByRole('button', { name: 'Change password' }).click();
    // Refused in the browser, with zxcvbn's feedback, before anything is sent.
    await tp.getByRole('alert').getByText(/too easy to guess/).waitFor();
    const feedback = await tp.locator('.strength-warning, .strength-suggestions li').allTextContents();
    expect(feedback.join(' ').length).toBeGreaterThan(0);
    expect(changes.count).toBe(0);
    await tp.getByRole('heading', { name: 'Choose a new password' }).waitFor();

    const strong = `quartz-meadow-${unique()}-lantern-orbit`;
    await tp.getByLabel('New password', { exact: true }).fill(strong);
    await tp.getByLabel('Confirm new password').fill(strong);
    expect(Number(await meter.getAttribute('aria-valuenow'))).toBeGreaterThanOrEqual(3);
    await tp.getByRole('button', { name: 'Change password' }).click();

    // Accepted: the trader sees the app, without "Users".
    await waitForSignedIn(tp, email);
    expect(changes.count).toBe(1);
    expect(await mainNav(tp).getByRole('link').allTextContents()).toEqual(['Dashboard', 'Bots', 'My sessions', 'API keys']);
    expect(await header(tp).textContent()).toContain('trader');

    // The admin's list catches up: the trader no longer has to change their password.
    await page.reload();
    await row.waitFor();
    expect(await row.textContent()).not.toContain('must change password');

    // The server's refusal is shown as it is: the only admin cannot demote themselves.
    await page.getByRole('button', { name: `Manage ${admin.email}` }).click();
    await page.getByLabel(`Role for ${admin.email}`).selectOption('viewer');
    await page.getByRole('button', { name: 'Change role' }).click();
    await page.getByRole('alert').getByText('The last active admin cannot be demoted or disabled').waitFor();
    expect(await header(page).textContent()).toContain('admin');

    expect(adminSide.errors).toEqual([]);
    expect(traderSide.errors).toEqual([]);
  });

  it('resetting a password signs the user out at once and shows the admin a one-time password', async () => {
    const admin = await seedUser(harness.server, 'admin');
    const trader = await seedUser(harness.server, 'trader');
    const adminSide = await harness.newPage();
    const traderSide = await harness.newPage();

    await signIn(harness, traderSide.page, trader);
    await traderSide.page.locator('[data-live-state="live"]').waitFor();

    const page = adminSide.page;
    await signIn(harness, page, admin);
    await page.goto(harness.url('/users'));
    await page.getByRole('button', { name: `Manage ${trader.email}` }).click();
    const panel = page.getByRole('region', { name: `Manage ${trader.email}` });
    await panel.getByRole('button', { name: 'View sessions' }).click();
    await panel.getByRole('table').locator('tbody tr').first().waitFor();
    expect(await panel.getByRole('table').locator('tbody tr').count()).toBe(1);

    await panel.getByRole('button', { name: 'Reset password' }).click();
    await panel.getByRole('button', { name: 'Yes, reset password' }).click();
    const otpValue = panel.getByTestId('one-time-password');
    await otpValue.waitFor();
    const oneTimePassword = (await otpValue.textContent())?.trim() ?? '';

    // The trader's browser signs itself out, and the admin sees no live session left.
    await waitForLoginPage(traderSide.page, 5_000);
    await traderSide.page.getByText('Your session was ended').waitFor();
    await panel.getByText('No active sessions.').waitFor();

    // The one-time password works once more, straight into the forced change.
    await submitLogin(traderSide.page, { email: trader.email, password: oneTimePassword });
    await traderSide.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();

    // Disabling works too, and shows in the list.
    await panel.getByRole('button', { name: 'Disable user' }).click();
    await panel.getByRole('button', { name: 'Yes, disable' }).click();
    await panel.getByText(`${trader.email} is disabled and signed out.`).waitFor();
    await page.locator(`tr[data-user-email="${trader.email}"]`).getByText('disabled').waitFor();
    // ...which ends the session that was waiting on its password change as soon as it calls the server.
    await traderSide.page.getByLabel('Current password').fill(oneTimePassword);
    const strong = `cobalt-ferry-${unique()}-marigold-anchor`;
    await traderSide.page.getByLabel('New password', { exact: true }).fill(strong);
    await traderSide.page.getByLabel('Confirm new password').fill(strong);
    await traderSide.page.getByRole('button', { name: 'Change password' }).click();
    await waitForLoginPage(traderSide.page, 10_000);

    expect(adminSide.errors).toEqual([]);
    expect(traderSide.errors).toEqual([]);
  });
});
