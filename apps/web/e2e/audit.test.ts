/**
 * The audit log and security report pages end to end: rows made by real actions (failed sign-ins,
 * a lock-out) and rows seeded through the server's own recorder, filtered, scrolled through a
 * page at a time, followed live, opened, exported and verified; the report's charts and tables;
 * and what someone without logs.view sees.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient } from '../../server/test/support/clients.ts';
import { seedUser, signIn as signInOverHttp, type SeededUser } from '../../server/test/support/users.ts';
import { countCalls, mainNav, pathnameOf, signIn, startHarness, submitLogin, type Harness } from './support/app.ts';

let harness: Harness;
let admin: SeededUser;
beforeAll(async () => {
  harness = await startHarness();
  admin = await seedUser(harness.server, 'admin');
});
afterAll(async () => {
  await harness?.close();
});

const unique = () => randomBytes(4).toString('hex');
const CSV_HEADER = 'id,at,actorType,actorId,action,outcome,severity,resourceType,resourceId,ip,userAgent,requestId,details,chainId,seq,hash';

/** A sign-in the server refuses, over HTTP from this machine (so from 127.0.0.1, as the browser's). */
async function failSignIn(email: string, password = 'not-the-password-at-all'): Promise<void> {
  const anon = httpClient(harness.server);
  await expect(anon.auth.login.mutate({ email, password })).rejects.toThrow();
}

async function openAuditLog(page: Page): Promise<void> {
  await mainNav(page).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', exact: true }).waitFor();
}

/** Rows the table holds in the DOM (the virtualiser keeps only those near the viewport). */
function auditRows(page: Page) {
  return page.locator('tr[data-audit-id]');
}

async function loadedCount(page: Page): Promise<number> {
  return Number(await page.locator('[data-loaded-count]').getAttribute('data-loaded-count'));
}

function filters(page: Page) {
  return page.getByRole('form', { name: 'Audit log filters' });
}

async function applyFilters(page: Page): Promise<void> {
  await filters(page).getByRole('button', { name: 'Apply filters' }).click();
}

/** Waits until every row in the DOM satisfies `check`, and there is at least one. */
async function waitForRows(page: Page, check: (row: { action: string | null; text: string }) => boolean, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const rows = await auditRows(page).evaluateAll((trs) => trs.map((tr) => ({ action: tr.getAttribute('data-action'), text: tr.textContent ?? '' })));
    if (rows.length > 0 && rows.every(check)) return;
    if (Date.now() > deadline) throw new Error(`rows never matched: ${JSON.stringify(rows.slice(0, 5))}`);
    await page.waitForTimeout(100);
  }
}

describe('audit log page', () => {
  it('shows a failed sign-in made in a browser, narrows with the filters and opens an entry', async () => {
    // A real action: someone fails to sign in, in another browser.
    const stranger = `nobody-${unique()}@desk.example`;
    const other = await harness.newPage();
    await other.page.goto(harness.url('/login'));
    await submitLogin(other.page, { email: stranger, password: 'guessing-wildly-123' });
    await other.page.getByRole('alert').getByText('Invalid email or password').waitFor();

    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    expect(await mainNav(page).getByRole('link').allTextContents()).toEqual(['Dashboard', 'Bots', 'My sessions', 'Users', 'API keys', 'Audit log', 'Security', 'Security centre']);
    await openAuditLog(page);
    await page.getByRole('table', { name: 'Audit log' }).waitFor();
    expect(await auditRows(page).count()).toBeGreaterThan(0);
    // Newest first: the admin's own sign-in is there, and so is the stranger's failure.
    await page.locator('tr[data-action="auth.login"]').first().waitFor();
    await page.locator('tr[data-action="auth.login_failed"]').first().waitFor();
    // People by email, not by id.
    expect(await page.locator('tr[data-action="auth.login"]').first().locator('.col-actor').textContent()).toBe(admin.email);

    // Narrow to failed sign-ins: only those remain, and the filters are in the URL.
    const lists = countCalls(page, 'audit.list');
    const form = filters(page);
    await form.getByLabel('Action').selectOption('auth.login_failed');
    await form.getByLabel('Outcome').selectOption('failure');
    await form.getByLabel('Minimum severity').selectOption('MEDIUM');
    await applyFilters(page);
    await waitForRows(page, (r) => r.action === 'auth.login_failed');
    expect(lists.count).toBeGreaterThan(0);
    const search = new URL(page.url()).searchParams;
    expect(search.get('action')).toBe('auth.login_failed');
    expect(search.get('outcome')).toBe('failure');
    expect(search.get('minSeverity')).toBe('MEDIUM');
    // A reload keeps them.
    await page.reload();
    await waitForRows(page, (r) => r.action === 'auth.login_failed');
    expect(await filters(page).getByLabel('Action').inputValue()).toBe('auth.login_failed');

    // The detail panel: every field, the details as JSON, the chain position.
    await page.getByRole('button', { name: /^Show details: auth\.login_failed at / }).first().click();
    const detail = page.getByRole('region', { name: 'Audit entry details' });
    await detail.waitFor();
    const json = JSON.parse((await detail.getByLabel('Details (JSON)').textContent()) ?? '{}') as Record<string, unknown>;
    expect(json).toMatchObject({ email: stranger });
    const text = (await detail.textContent()) ?? '';
    for (const field of ['Outcome', 'Severity', 'Actor type', 'IP address', 'User agent', 'Request ID', 'Chain ID', 'Sequence', 'Hash', 'Previous hash']) {
      expect(text).toContain(field);
    }
    expect(text).toContain('failure');
    expect(text).toContain('MEDIUM');
    expect(text).toMatch(/[0-9a-f]{64}/);
    await page.screenshot({ path: '/tmp/tapevision-audit-detail.png', fullPage: true });
    await detail.getByRole('button', { name: 'Close details' }).click();
    expect(await detail.count()).toBe(0);

    // A filter nothing matches: the empty state.
    await filters(page).getByLabel('IP address').fill('192.0.2.123');
    await applyFilters(page);
    await page.getByText('No entries match these filters.').waitFor();

    // Checked in the browser with the server's schema: nothing is sent.
    const before = lists.count;
    await filters(page).getByLabel('From', { exact: true }).fill('2030-01-02T10:00:00');
    await filters(page).getByLabel('To', { exact: true }).fill('2030-01-01T10:00:00');
    await applyFilters(page);
    await filters(page).getByText('Must be after "From"').waitFor();
    await filters(page).getByLabel('IP address').fill('x'.repeat(65));
    await applyFilters(page);
    await filters(page).locator('input[aria-invalid="true"]').and(filters(page).getByLabel('IP address')).waitFor();
    expect(lists.count).toBe(before);

    await filters(page).getByRole('button', { name: 'Clear filters' }).click();
    await page.locator('tr[data-action="auth.login"]').first().waitFor();
    expect(new URL(page.url()).search).toBe('');

    expect(errors).toEqual([]);
    expect(other.errors).toEqual([]);
  });

  it('loads more as it scrolls, exports what the filters select as CSV and NDJSON, and verifies the chains', async () => {
    // A few hundred rows, through the server's own recorder (chained and committed like any other).
    const seedType = `e2e-seed-${unique()}`;
    const SEEDED = 350;
    for (let i = 0; i < SEEDED; i += 1) {
      await harness.server.app.deps.audit.record({
        action: 'user.enabled',
        outcome: 'success',
        actor: { type: 'system' },
        origin: { ip: '198.51.100.7', userAgent: 'seeder', requestId: null },
        resource: { type: seedType, id: `row-${i}` },
        details: { i, note: 'seeded by the browser test' },
      });
    }
    await harness.server.app.deps.audit.flush();

    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await openAuditLog(page);
    await filters(page).getByLabel('Resource type').fill(seedType);
    await applyFilters(page);
    await waitForRows(page, (r) => r.text.includes(seedType));
    expect(await loadedCount(page)).toBe(100);
    await page.getByText('scroll for more').waitFor();

    // Scrolling to the end fetches the next page, until there is none.
    const scroller = page.getByTestId('audit-scroll');
    const deadline = Date.now() + 20_000;
    while ((await loadedCount(page)) < SEEDED) {
      if (Date.now() > deadline) throw new Error(`only ${await loadedCount(page)} rows loaded`);
      await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
      await page.waitForTimeout(150);
    }
    await page.getByText(`${SEEDED} matching entries.`).waitFor();
    expect(await page.getByText('scroll for more').count()).toBe(0);
    // Virtualised: only the rows near the viewport are in the DOM.
    const inDom = await auditRows(page).count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(80);
    // Scrolled to the very bottom, the last of them is the one shown (row 1 is the header).
    await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await page.locator(`tr[data-audit-id][aria-rowindex="${SEEDED + 1}"]`).waitFor();
    expect(await page.getByRole('table', { name: 'Audit log' }).getAttribute('aria-rowcount')).toBe(String(SEEDED + 1));
    await page.screenshot({ path: '/tmp/tapevision-audit-page.png', fullPage: true });

    // A row the live tail puts on top does not move the rows being read at the bottom.
    const tail = page.getByRole('switch', { name: 'Live tail' });
    await tail.click();
    await page.locator('[data-tail-state="live"]').waitFor();
    const distanceToBottom = () => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    // CI has twice seen the scroller back at the top right after the switch (cause not found; not
    // the screenshot, which leaves it in place). The reader is put at the bottom again once the
    // tail is live, and the live row must then leave them there.
    await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await expect.poll(distanceToBottom, { timeout: 5_000 }).toBeLessThan(2);
    const scrollState = () =>
      scroller.evaluate((el) =>
        JSON.stringify({
          top: el.scrollTop,
          height: el.scrollHeight,
          client: el.clientHeight,
          rowIndexes: [...el.querySelectorAll('tr[aria-rowindex]')].map((r) => r.getAttribute('aria-rowindex')).join(','),
          count: document.querySelector('.audit-count')?.textContent,
        }),
      );
    expect(await distanceToBottom(), await scrollState()).toBeLessThan(2);
    await harness.server.app.deps.audit.record({
      action: 'user.enabled',
      outcome: 'success',
      actor: { type: 'system' },
      origin: { ip: '198.51.100.7', userAgent: 'seeder', requestId: null },
      resource: { type: seedType, id: `row-${SEEDED}` },
      details: { i: SEEDED, note: 'seeded by the browser test' },
    });
    await page.getByText(`${SEEDED + 1} matching entries (1 from the live tail).`).waitFor({ timeout: 10_000 });
    expect(await distanceToBottom(), await scrollState()).toBeLessThan(2);
    await page.locator(`tr[data-audit-id][aria-rowindex="${SEEDED + 2}"]`).waitFor();
    await tail.click();
    const TOTAL = SEEDED + 1;

    // CSV export of exactly those rows, streamed and saved as a file.
    const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(csvDownload.suggestedFilename()).toMatch(/^audit-log-.+\.csv$/);
    const csv = await readFile(await csvDownload.path(), 'utf8');
    const lines = csv.split('\r\n').filter((l) => l !== '');
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines).toHaveLength(TOTAL + 1);
    expect(lines.slice(1).every((l) => l.includes(`,user.enabled,success,`) && l.includes(seedType))).toBe(true);
    expect(new Set(lines.slice(1).map((l) => l.split(',')[8])).size).toBe(TOTAL);
    await page.getByText(`Exported ${TOTAL} entries as CSV`).waitFor();

    const [ndjsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
    expect(ndjsonDownload.suggestedFilename()).toMatch(/^audit-log-.+\.ndjson$/);
    const ndjson = (await readFile(await ndjsonDownload.path(), 'utf8')).split('\n').filter((l) => l !== '');
    expect(ndjson).toHaveLength(TOTAL);
    const first = JSON.parse(ndjson[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ action: 'user.enabled', resourceType: seedType, ip: '198.51.100.7', details: { note: 'seeded by the browser test' } });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);

    // The exports are themselves on record.
    await filters(page).getByLabel('Resource type').fill('');
    await filters(page).getByLabel('Action').selectOption('audit.exported');
    await applyFilters(page);
    await waitForRows(page, (r) => r.action === 'audit.exported');
    expect(await loadedCount(page)).toBeGreaterThanOrEqual(2);

    // Integrity: every chain verifies.
    await page.getByRole('button', { name: 'Verify integrity' }).click();
    const ok = page.getByRole('status').filter({ hasText: 'Integrity OK.' });
    await ok.waitFor({ timeout: 20_000 });
    expect(await ok.textContent()).toMatch(/no row was changed, deleted or reordered/);

    expect(errors).toEqual([]);
  });

  it('the live tail shows a new entry without a reload', async () => {
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await openAuditLog(page);
    await filters(page).getByLabel('Action').selectOption('auth.login_failed');
    await applyFilters(page);
    await page.getByRole('table', { name: 'Audit log' }).or(page.getByText('No entries match these filters.')).first().waitFor();

    const tail = page.getByRole('switch', { name: 'Live tail' });
    expect(await tail.getAttribute('aria-checked')).toBe('false');
    await tail.click();
    expect(await tail.getAttribute('aria-checked')).toBe('true');
    await page.locator('[data-tail-state="live"]').waitFor();

    const lists = countCalls(page, 'audit.list');
    await page.evaluate(() => ((window as unknown as { tailMarker: number }).tailMarker = 42));
    const stranger = `tail-${unique()}@desk.example`;
    await failSignIn(stranger);

    await page.getByText('(1 from the live tail)').waitFor({ timeout: 10_000 });
    const newest = auditRows(page).first();
    expect(await newest.getAttribute('data-action')).toBe('auth.login_failed');
    await newest.getByRole('button', { name: /^Show details: / }).click();
    const detail = page.getByRole('region', { name: 'Audit entry details' });
    expect(JSON.parse((await detail.getByLabel('Details (JSON)').textContent()) ?? '{}')).toMatchObject({ email: stranger });

    // Same page, no reload, and the table was not re-queried: the row came over the socket.
    expect(await page.evaluate(() => (window as unknown as { tailMarker?: number }).tailMarker)).toBe(42);
    expect(lists.count).toBe(0);

    // Switched off, nothing more arrives.
    await tail.click();
    await page.locator('[data-tail-state="off"]').waitFor();
    await failSignIn(`tail-off-${unique()}@desk.example`);
    await page.waitForTimeout(1_000);
    expect(await page.getByText('(1 from the live tail)').count()).toBe(1);

    expect(errors).toEqual([]);
  });
});

describe('security report page', () => {
  it('charts the period and lists failed-login IPs and lock-outs', async () => {
    // Real failures from this machine: a trader's account locked by wrong passwords, and unknown
    // emails, more than ten from one IP in all.
    const trader = await seedUser(harness.server, 'trader');
    for (let i = 0; i < 5; i += 1) await failSignIn(trader.email);
    for (let i = 0; i < 6; i += 1) await failSignIn(`ghost-${i}-${unique()}@desk.example`);

    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await mainNav(page).getByRole('link', { name: 'Security', exact: true }).click();
    await page.getByRole('heading', { name: 'Security report' }).waitFor();
    expect(pathnameOf(page)).toBe('/security');

    // The last 7 days by default.
    const form = page.getByRole('form', { name: 'Report period' });
    const from = new Date(`${await form.getByLabel('From', { exact: true }).inputValue()}T00:00:00`);
    const to = new Date(`${await form.getByLabel('To (included)').inputValue()}T00:00:00`);
    expect(Math.round((to.getTime() - from.getTime()) / 86_400_000)).toBe(6);

    const perDay = page.getByRole('figure', { name: 'Events per day' });
    await perDay.locator('svg.recharts-surface').first().waitFor();
    expect(await perDay.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    const topActions = page.getByRole('figure', { name: 'Top actions' });
    await topActions.locator('svg.recharts-surface').first().waitFor();
    expect(await topActions.textContent()).toContain('auth.login_failed');

    const failedIps = page.getByRole('table', { name: 'Failed sign-ins by IP' });
    await failedIps.waitFor();
    const ipRow = failedIps.locator('tbody tr').filter({ hasText: '127.0.0.1' });
    await ipRow.waitFor();
    const failures = Number(((await ipRow.locator('td').nth(1).textContent()) ?? '').replace(/\D/g, ''));
    expect(failures).toBeGreaterThan(10);

    const lockouts = page.getByRole('table', { name: 'Account lock-outs' });
    await lockouts.locator('tbody tr').filter({ hasText: trader.email }).waitFor();

    // Nothing of the kind happened: an empty state, not an empty table.
    expect(await page.getByRole('table', { name: 'Refresh token reuse' }).count()).toBe(0);
    await page.getByText('No refresh token was reused.').waitFor();
    await page.screenshot({ path: '/tmp/tapevision-security-report.png', fullPage: true });

    // The range is checked with the server's schema before anything is sent.
    const reports = countCalls(page, 'security.report');
    await form.getByLabel('From', { exact: true }).fill('2025-03-10');
    await form.getByLabel('To (included)').fill('2025-03-01');
    await form.getByRole('button', { name: 'Show report' }).click();
    await form.getByText('Must be on or before the last day').waitFor();
    await form.getByLabel('From', { exact: true }).fill('2023-01-01');
    await form.getByLabel('To (included)').fill('2025-01-01');
    await form.getByRole('button', { name: 'Show report' }).click();
    await form.getByText('At most 366 days per report').waitFor();
    expect(reports.count).toBe(0);

    // A quiet period long ago: every section says so.
    await form.getByLabel('From', { exact: true }).fill('2020-01-01');
    await form.getByLabel('To (included)').fill('2020-01-07');
    await form.getByRole('button', { name: 'Show report' }).click();
    await page.getByText('No address had more than 10 failed sign-ins.').waitFor();
    await page.getByText('No account was locked.').waitFor();
    await page.getByText('No events in this range.').waitFor();
    expect(reports.count).toBe(1);

    expect(errors).toEqual([]);
  });
});

describe('without logs.view', () => {
  it('a trader has neither page in the navigation and is not allowed in by URL', async () => {
    const trader = await seedUser(harness.server, 'trader');
    const { page, errors } = await harness.newPage();
    const lists = countCalls(page, 'audit.list');
    const reports = countCalls(page, 'security.report');
    await signIn(harness, page, trader);
    const links = await mainNav(page).getByRole('link').allTextContents();
    expect(links).not.toContain('Audit log');
    expect(links).not.toContain('Security');

    await page.goto(harness.url('/audit'));
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    expect(await page.getByText('logs.view').count()).toBeGreaterThan(0);
    await page.goto(harness.url('/security'));
    await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    expect(lists.count).toBe(0);
    expect(reports.count).toBe(0);

    // The server refuses them anyway.
    const api = await signInOverHttp(harness.server, trader);
    await expect(api.client.audit.list.query({})).rejects.toMatchObject({ data: { code: 'FORBIDDEN', permission: 'logs.view' } });
    await expect(api.client.security.report.query({ from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date().toISOString() })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
    });

    expect(errors).toEqual([]);
  });
});
