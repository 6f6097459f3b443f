/**
 * API keys end to end: a trader creates a key in the SPA, copies the once-shown key into the
 * example service (examples/key-auditor, run as a child process), rolls it and revokes it, and the
 * service sees each change. Also: what an admin and a viewer see, a server refusal shown as it is,
 * and @tapevision/client's browser build running in Chromium.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedUser, signIn as signInOverHttp } from '../../server/test/support/users.ts';
import { countCalls, mainNav, signIn, startHarness, type Harness } from './support/app.ts';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.close();
});

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const AUDITOR_DIR = path.join(repoRoot, 'examples/key-auditor');
const SCREENSHOT = '/tmp/tapevision-api-keys-page.png';
const KEY_FORMAT = /^tvk_[a-z0-9]{10}_[A-Za-z0-9_-]{43}$/;
const unique = () => randomBytes(4).toString('hex');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The example service, as its README runs it: `node --import tsx src/main.ts`, configured by env only. */
function runKeyAuditor(apiKey: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(AUDITOR_DIR, 'src/main.ts')], {
      cwd: AUDITOR_DIR,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TAPEVISION_URL: harness.server.url, TAPEVISION_API_KEY: apiKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The key shown once after create or roll. */
async function revealedKey(page: Page): Promise<string> {
  const field = page.getByTestId('one-time-api-key');
  await field.waitFor();
  return ((await field.textContent()) ?? '').trim();
}

function keyRow(page: Page, name: string) {
  return page.locator(`tr[data-api-key-name="${name}"]`);
}

async function openApiKeysPage(page: Page): Promise<void> {
  await mainNav(page).getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
}

describe('API keys page', () => {
  it('a trader creates a key, the example service uses it, and rolling and revoking it reach the service', async () => {
    const trader = await seedUser(harness.server, 'trader');
    const { context, page, errors } = await harness.newPage();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: harness.server.url });
    await signIn(harness, page, trader);
    await openApiKeysPage(page);
    await page.getByText('No API keys yet.').waitFor();

    // Only what a trader holds may be granted, and never account.self.
    const form = page.getByRole('form', { name: 'Create an API key' });
    const offered = await form.getByRole('checkbox').evaluateAll((boxes) =>
      boxes.map((box) => box.closest('.permission-check')?.querySelector('code')?.textContent ?? ''),
    );
    expect(offered.sort()).toEqual(
      ['alerts.view', 'apikeys.manage', 'bots.delete', 'bots.read', 'bots.write', 'positions.manage', 'trading.execute', 'trading.view'].sort(),
    );

    // Checked in the browser with the server's schema before anything is sent.
    const creates = countCalls(page, 'apiKeys.create');
    await form.getByRole('button', { name: 'Create API key' }).click();
    await form.getByText('Name the key').waitFor();
    await form.getByText('Choose at least one permission').waitFor();
    expect(creates.count).toBe(0);

    const name = `key-auditor-${unique()}`;
    const inThreeDays = new Date(Date.now() + 3 * 24 * 3600_000);
    const day = `${inThreeDays.getFullYear()}-${String(inThreeDays.getMonth() + 1).padStart(2, '0')}-${String(inThreeDays.getDate()).padStart(2, '0')}`;
    await form.getByLabel('Name').fill(name);
    await form.getByRole('checkbox', { name: /apikeys\.manage/ }).check();
    await form.getByLabel('Expires (optional)').fill(day);
    await form.getByLabel('Rate limit (optional)').fill('120');
    await form.getByRole('button', { name: 'Create API key' }).click();

    // Shown once, with a copy button and the warning.
    const key = await revealedKey(page);
    expect(key).toMatch(KEY_FORMAT);
    expect(creates.count).toBe(1);
    await page.getByText('Copy it now: it will not be shown again.').waitFor();
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);

    const prefix = key.slice(0, 'tvk_'.length + 10);
    const row = keyRow(page, name);
    await row.waitFor();
    const rowText = (await row.textContent()) ?? '';
    expect(rowText).toContain(prefix);
    expect(rowText).toContain('apikeys.manage');
    expect(rowText).toContain('120/min');
    expect(rowText).toContain('Never');
    expect(rowText).toContain('active');
    expect(rowText).not.toContain(key);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByRole('button', { name: 'Done, hide it' }).click();
    expect(await page.getByTestId('one-time-api-key').count()).toBe(0);
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(key.slice(prefix.length + 1));

    // The example service, with the key from the page: a report naming the key.
    const ok = await runKeyAuditor(key);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Expiring within 7 days (1)');
    expect(ok.stdout).toContain(`${name} [${prefix}] (this key)`);
    expect(ok.stdout).toMatch(/Never used \(1\)/);
    expect(ok.stdout).toContain('Revoked (0)');

    // Roll with no grace: a new key, shown once; the old one is refused at once.
    await row.getByRole('button', { name: `Roll ${name}` }).click();
    const panel = page.getByRole('region', { name: `Roll ${name}` });
    await panel.getByLabel('Grace period (seconds)').fill('0');
    await panel.getByRole('button', { name: 'Roll key' }).click();
    await panel.getByText(`Roll ${name}? The old key stops working at once.`).waitFor();
    await panel.getByRole('button', { name: 'Yes, roll' }).click();
    await page.getByRole('region', { name: `New key for "${name}"` }).waitFor();
    const rolled = await revealedKey(page);
    expect(rolled).toMatch(KEY_FORMAT);
    expect(rolled).not.toBe(key);
    expect(rolled.startsWith(`${prefix}_`)).toBe(true);

    const old = await runKeyAuditor(key);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('API_KEY_ROLLED');
    expect((await runKeyAuditor(rolled)).code).toBe(0);

    // Revoke, after confirming: the service is refused with the reason.
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByText(`Revoked ${name}. It no longer works.`).waitFor();
    await row.getByText('revoked').waitFor();
    expect(await row.getByRole('button', { name: /Roll|Revoke/ }).count()).toBe(0);

    const refused = await runKeyAuditor(rolled);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('The API key has been revoked');
    expect(refused.stderr).toContain('API_KEY_REVOKED');

    expect(errors).toEqual([]);
  });

  it("an admin sees every owner's keys and can revoke but not roll them; a viewer has no API keys page", async () => {
    const trader = await seedUser(harness.server, 'trader');
    const traderApi = await signInOverHttp(harness.server, trader);
    const name = `trader-svc-${unique()}`;
    const { apiKey } = await traderApi.client.apiKeys.create.mutate({ name, permissions: ['trading.view'] });

    const admin = await seedUser(harness.server, 'admin');
    const { page, errors } = await harness.newPage();
    await signIn(harness, page, admin);
    await openApiKeysPage(page);
    await page.getByRole('heading', { name: 'All API keys' }).waitFor();
    await page.getByRole('columnheader', { name: 'Owner' }).waitFor();
    const row = keyRow(page, name);
    await row.waitFor();
    expect(await row.textContent()).toContain(trader.email);
    // An admin may grant everything but the session-only permission.
    const form = page.getByRole('form', { name: 'Create an API key' });
    await form.getByRole('checkbox', { name: /users\.manage/ }).waitFor();
    expect(await form.getByRole('checkbox', { name: /account\.self/ }).count()).toBe(0);

    // An admin can revoke anyone's key but not roll it: rolling would hand over a working secret.
    expect(await row.getByRole('button', { name: `Roll ${name}` }).count()).toBe(0);
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await row.getByText('revoked').waitFor();
    await page.screenshot({ path: '/tmp/tapevision-api-keys-admin.png', fullPage: true });
    await expect(traderApi.client.apiKeys.list.query()).resolves.toEqual([expect.objectContaining({ id: apiKey.id, status: 'revoked' })]);

    const viewer = await seedUser(harness.server, 'viewer');
    const viewerSide = await harness.newPage();
    await signIn(harness, viewerSide.page, viewer);
    expect(await mainNav(viewerSide.page).getByRole('link', { name: 'API keys' }).count()).toBe(0);
    await viewerSide.page.goto(harness.url('/api-keys'));
    await viewerSide.page.getByRole('heading', { name: 'Not allowed' }).waitFor();

    expect(errors).toEqual([]);
    expect(viewerSide.errors).toEqual([]);
  });
});

describe('@tapevision/client in the browser', () => {
  it('its browser build calls over fetch and subscribes over the global WebSocket', async () => {
    // The package's default (browser) entry, bundled as a browser app would bundle it.
    const clientDir = path.join(repoRoot, 'packages/client');
    const output = await build({
      configFile: false,
      root: clientDir,
      logLevel: 'silent',
      build: {
        write: false,
        minify: false,
        lib: { entry: path.join(clientDir, 'src/index.ts'), formats: ['iife'], name: 'TapeVision', fileName: 'client' },
      },
    });
    const bundle = (Array.isArray(output) ? output : [output])
      .flatMap((o) => ('output' in o ? o.output : []))
      .map((c) => ('code' in c ? c.code : ''))
      .join('\n');

    const trader = await seedUser(harness.server, 'trader');
    const traderApi = await signInOverHttp(harness.server, trader);
    const { key } = await traderApi.client.apiKeys.create.mutate({ name: `browser-${unique()}`, permissions: ['apikeys.manage'] });

    // A page the server itself serves (same origin: no CORS; and a page Chromium knows came from
    // this host, so its WebSocket is not stopped by local-network checks), holding only the bundle.
    // The CSP is bypassed for this page alone: the bundle goes in as an inline script.
    const context = await harness.browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    try {
      await page.goto(harness.url('/healthz'));
      await page.addScriptTag({ content: bundle });

      const result = await page.evaluate(
        async ({ apiKey, token }) => {
          type Sub = { unsubscribe(): void };
          type Client = {
            apiKeys: { list: { query(): Promise<{ name: string }[]> } };
            sessions: { onEvent: { subscribe(input: undefined, opts: Record<string, (arg?: unknown) => void>): Sub } };
            close(): Promise<void>;
          };
          const { createTapeVisionClient } = (window as unknown as { TapeVision: { createTapeVisionClient(o: object): Client } }).TapeVision;
          const withKey = createTapeVisionClient({ url: location.origin, apiKey });
          const keys = await withKey.apiKeys.list.query();
          // A key may not watch sessions: refused over the socket with a typed error.
          const refused = await new Promise<unknown>((resolve) => {
            withKey.sessions.onEvent.subscribe(undefined, { onError: (err) => resolve((err as { data?: unknown }).data) });
          });
          await withKey.close();

          const withToken = createTapeVisionClient({ url: location.origin, getAccessToken: () => token });
          const started = await new Promise<string>((resolve) => {
            const sub = withToken.sessions.onEvent.subscribe(undefined, {
              onStarted: () => {
                sub.unsubscribe();
                resolve('started');
              },
              onError: (err) => resolve(`error: ${String(err)}`),
            });
          });
          await withToken.close();
          return { names: keys.map((k) => k.name), refused, started, hasWebSocket: typeof WebSocket === 'function' };
        },
        { apiKey: key, token: traderApi.token },
      );

      expect(result.hasWebSocket).toBe(true);
      expect(result.names).toHaveLength(1);
      expect(result.refused).toMatchObject({ code: 'FORBIDDEN', permission: 'account.self' });
      expect(result.started).toBe('started');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
