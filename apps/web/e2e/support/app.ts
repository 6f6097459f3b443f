import type { Browser, BrowserContext, Locator, Page, Response } from 'playwright-core';
import { inject } from 'vitest';
import { startTestServer, type TestServer, type TestServerOptions } from '../../../server/test/support/server.ts';
import { launchChromium } from './chromium.ts';

/** A real server (PGlite in memory, or Postgres with TEST_DATABASE_URL) serving the built SPA, and a browser. */
export interface Harness {
  server: TestServer;
  browser: Browser;
  url(path?: string): string;
  /** A fresh browser profile (own cookies); closed with the harness. */
  newPage(opts?: { userAgent?: string }): Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** `server`: options for the test server (a faster tape, say); it always serves this run's build. */
export async function startHarness(opts: { server?: Omit<TestServerOptions, 'webDist'> } = {}): Promise<Harness> {
  // The build of apps/web/dist made by global-setup.ts for this run.
  const server = await startTestServer({ ...opts.server, webDist: inject('webDist') });
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (err) {
    await server.close();
    throw err;
  }
  const contexts: BrowserContext[] = [];
  return {
    server,
    browser,
    url: (path = '/') => `${server.url}${path}`,
    async newPage(opts = {}) {
      const context = await browser.newContext({ ...(opts.userAgent ? { userAgent: opts.userAgent } : {}), viewport: { width: 1280, height: 860 } });
      contexts.push(context);
      const page = await context.newPage();
      // Uncaught exceptions in the app fail the test that caused them.
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      if (process.env.E2E_DEBUG) {
        const tag = opts.userAgent?.slice(-8) ?? `page${contexts.length}`;
        page.on('console', (m) => console.log(`[${tag}] console.${m.type()}: ${m.text()}`));
        page.on('pageerror', (err) => console.log(`[${tag}] pageerror: ${err.message}`));
        page.on('response', (r) => {
          if (r.url().includes('/trpc')) console.log(`[${tag}] ${r.status()} ${r.request().method()} ${r.url().replace(server.url, '')}`);
        });
        page.on('framenavigated', (f) => {
          if (f === page.mainFrame()) console.log(`[${tag}] navigated ${f.url()}`);
        });
      }
      return { context, page, errors };
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
      await server.close();
    },
  };
}

export function mainNav(page: Page): Locator {
  return page.getByRole('navigation', { name: 'Main' });
}

export function header(page: Page): Locator {
  return page.getByRole('banner');
}

export async function waitForLoginPage(page: Page, timeout?: number): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor(timeout ? { timeout } : undefined);
}

/** Fills the sign-in form (the page must show it) and submits it. */
export async function submitLogin(page: Page, user: { email: string; password: string }): Promise<void> {
  await waitForLoginPage(page);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Opens the app, signs in, and waits for the signed-in layout with its navigation loaded. */
export async function signIn(harness: Harness, page: Page, user: { email: string; password: string }): Promise<string> {
  await page.goto(harness.url('/login'));
  const response = page.waitForResponse((r) => r.url().includes('/trpc/auth.login'));
  await submitLogin(page, user);
  const token = await accessTokenFrom(await response);
  await waitForSignedIn(page, user.email);
  return token;
}

export async function waitForSignedIn(page: Page, email: string): Promise<void> {
  await header(page).getByText(email, { exact: true }).waitFor();
  // The navigation is built from auth.me: "My sessions" appears once permissions have loaded.
  await mainNav(page).getByRole('link', { name: 'My sessions' }).waitFor();
}

/** The access token from an auth.login (batched) response. */
export async function accessTokenFrom(response: Response): Promise<string> {
  const body = (await response.json()) as { result?: { data?: { accessToken?: string } } }[];
  const token = body[0]?.result?.data?.accessToken;
  if (!token) throw new Error(`auth.login answered without a token: ${JSON.stringify(body).slice(0, 300)}`);
  return token;
}

/** Everything script-readable storage holds: web storage and non-HttpOnly cookies. */
export async function readableStorage(page: Page): Promise<{ local: [string, string][]; session: [string, string][]; cookie: string }> {
  return page.evaluate(() => {
    const dump = (s: Storage) =>
      Array.from({ length: s.length }, (_, i): [string, string] => {
        const key = s.key(i) ?? '';
        return [key, s.getItem(key) ?? ''];
      });
    return { local: dump(window.localStorage), session: dump(window.sessionStorage), cookie: document.cookie };
  });
}

export const JWT_PATTERN = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

/** Rows of the first table on the page. */
export function tableRows(page: Page): Locator {
  return page.getByRole('table').first().locator('tbody tr');
}

/** Counts requests to one tRPC procedure (batched or not). */
export function countCalls(page: Page, procedure: string): { readonly count: number } {
  let count = 0;
  page.on('request', (request) => {
    const { pathname } = new URL(request.url());
    if (pathname.startsWith('/trpc/') && pathname.slice('/trpc/'.length).split(',').includes(procedure)) count += 1;
  });
  return {
    get count() {
      return count;
    },
  };
}

export function pathnameOf(page: Page): string {
  return new URL(page.url()).pathname;
}
