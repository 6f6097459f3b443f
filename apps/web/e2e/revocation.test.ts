import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, signIn as signInOverHttp } from '../../server/test/support/users.ts';
import { mainNav, signIn, startHarness, tableRows, waitForLoginPage, type Harness } from './support/app.ts';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.close();
});

const UA_A = 'Mozilla/5.0 (X11; Linux x86_64) TapeVisionE2E-BrowserA';
const UA_B = 'Mozilla/5.0 (X11; Linux x86_64) TapeVisionE2E-BrowserB';

describe('session revocation', () => {
  it('revoking a session from another browser signs it out on its own, whatever page it is on', async () => {
    const trader = await seedUser(harness.server, 'trader');
    const a = await harness.newPage({ userAgent: UA_A });
    const b = await harness.newPage({ userAgent: UA_B });

    // A signs in and stays on the dashboard (its landing page), with live session updates connected.
    await signIn(harness, a.page, trader);
    await a.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await a.page.locator('[data-live-state="live"]').waitFor();
    // The dashboard's first calls answered: one still in flight when the session ends would find
    // the refresh refused too and sign out as "expired", racing the notice under test.
    await a.page.locator('[data-desk-ready="true"]').waitFor();

    // B signs in and opens "My sessions": A's session is listed, B's is this device.
    await signIn(harness, b.page, trader);
    await mainNav(b.page).getByRole('link', { name: 'My sessions' }).click();
    await b.page.getByRole('heading', { name: 'My sessions' }).waitFor();
    const rowA = tableRows(b.page).filter({ hasText: 'TapeVisionE2E-BrowserA' });
    const rowB = tableRows(b.page).filter({ hasText: 'TapeVisionE2E-BrowserB' });
    await rowA.waitFor();
    await rowB.getByText('This device').waitFor();
    expect(await rowA.getByText('This device').count()).toBe(0);

    const revokedAt = Date.now();
    await rowA.getByRole('button', { name: /Revoke/ }).click();

    // A: nobody touches it, yet within seconds it shows the sign-in page and why.
    await waitForLoginPage(a.page, 5_000);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    await a.page.getByText('Your session was ended').waitFor();
    expect(await mainNav(a.page).count()).toBe(0);

    // B: the list refetched by itself on the revocation event.
    await rowA.waitFor({ state: 'detached' });
    expect(await tableRows(b.page).count()).toBe(1);

    // A cannot come back with its old refresh cookie.
    await a.page.reload();
    await waitForLoginPage(a.page);
    expect(await mainNav(a.page).count()).toBe(0);

    await b.page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await waitForLoginPage(b.page);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('"Sign out everywhere else" ends the other browser and keeps this one', async () => {
    const viewer = await seedUser(harness.server, 'viewer');
    const a = await harness.newPage({ userAgent: UA_A });
    const b = await harness.newPage({ userAgent: UA_B });

    await signIn(harness, a.page, viewer);
    await a.page.locator('[data-live-state="live"]').waitFor();
    // The dashboard's first calls answered: one still in flight when the session ends would find
    // the refresh refused too and sign out as "expired", racing the notice under test.
    await a.page.locator('[data-desk-ready="true"]').waitFor();
    await signIn(harness, b.page, viewer);
    await mainNav(b.page).getByRole('link', { name: 'My sessions' }).click();
    await tableRows(b.page).filter({ hasText: 'TapeVisionE2E-BrowserA' }).waitFor();

    await b.page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await b.page.getByText('Signed out 1 other session.').waitFor();
    await waitForLoginPage(a.page, 5_000);
    await a.page.getByText('Your session was ended').waitFor();

    // B is still signed in and alone.
    await tableRows(b.page).filter({ hasText: 'TapeVisionE2E-BrowserA' }).waitFor({ state: 'detached' });
    expect(await tableRows(b.page).count()).toBe(1);
    expect(await mainNav(b.page).getByRole('link', { name: 'My sessions' }).count()).toBe(1);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('a socket closed by the server with 4001 signs the tab out, even when the revocation event is lost', async () => {
    const trader = await seedUser(harness.server, 'trader');
    const a = await harness.newPage({ userAgent: UA_A });
    // Relay A's WebSocket to the real server, but drop session events: A can only learn of the
    // revocation from the server closing the socket with 4001.
    let dropped = 0;
    // (tRPC adds ?connectionParams=1 to the URL.)
    await a.page.routeWebSocket(/\/trpc\/?(\?|$)/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        if (typeof message === 'string' && message.includes('"type":"revoked"')) dropped += 1;
        else ws.send(message);
      });
      server.onClose((code, reason) => ws.close({ code, reason }));
      ws.onClose((code, reason) => server.close({ code, reason }));
    });

    await signIn(harness, a.page, trader);
    await a.page.locator('[data-live-state="live"]').waitFor();
    // The dashboard's first calls answered: one still in flight when the session ends would find
    // the refresh refused too and sign out as "expired", racing the notice under test.
    await a.page.locator('[data-desk-ready="true"]').waitFor();

    // Revoke A's session from a plain API client.
    const other = await signInOverHttp(harness.server, trader);
    const sessionA = (await other.client.sessions.list.query()).find((s) => !s.current);
    expect(sessionA).toBeDefined();
    await other.client.sessions.revoke.mutate({ sessionId: sessionA?.id ?? '' });

    await waitForLoginPage(a.page, 5_000);
    await a.page.getByText('Your session was ended').waitFor();
    expect(dropped).toBeGreaterThanOrEqual(1);
    expect(a.errors).toEqual([]);
  });
});
