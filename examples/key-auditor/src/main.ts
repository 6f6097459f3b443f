/**
 * Key auditor: an internal service that signs in with an API key (permission `apikeys.manage`)
 * and reports the keys it can see that need attention.
 *
 *   TAPEVISION_API_KEY=tvk_... pnpm --filter @tapevision/example-key-auditor start
 *
 * Exit codes: 0 report printed, 1 the server refused (the reason is printed), 2 misconfigured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createTapeVisionClient, isRateLimited, isTapeVisionError, type RouterOutputs } from '@tapevision/client';

type ApiKey = RouterOutputs['apiKeys']['list'][number];

const DAY_MS = 24 * 60 * 60 * 1000;
const url = process.env.TAPEVISION_URL || 'http://localhost:3000';
const apiKey = process.env.TAPEVISION_API_KEY;

if (!apiKey) {
  console.error('Set TAPEVISION_API_KEY to a key with the apikeys.manage permission (create one on the API keys page).');
  process.exit(2);
}

const tv = createTapeVisionClient({ url, apiKey });

/** apiKeys.list; a rate-limited call waits as long as the server says and tries once more. */
async function listKeys(): Promise<ApiKey[]> {
  try {
    return await tv.apiKeys.list.query();
  } catch (err) {
    if (!isRateLimited(err)) throw err;
    console.error(`Rate limited (${err.policy ?? 'unknown policy'}): retrying in ${Math.ceil(err.retryAfterMs / 1000)} s`);
    await sleep(err.retryAfterMs);
    return tv.apiKeys.list.query();
  }
}

function describe(key: ApiKey, extra: string): string {
  const mine = apiKey?.startsWith(`${key.prefix}_`) ? ' (this key)' : '';
  const owner = key.ownerEmail ? `, owner ${key.ownerEmail}` : '';
  return `  - ${key.name} [${key.prefix}]${mine}${owner}: ${extra}`;
}

function section(title: string, lines: string[]): string {
  return [`${title} (${lines.length})`, ...(lines.length ? lines : ['  none'])].join('\n');
}

function report(keys: ApiKey[], now = new Date()): string {
  const soon = now.getTime() + 7 * DAY_MS;
  const active = keys.filter((k) => k.status === 'active');
  const expiring = active.filter((k) => k.expiresAt && new Date(k.expiresAt).getTime() <= soon);
  const neverUsed = active.filter((k) => !k.lastUsedAt);
  const revoked = keys.filter((k) => k.status === 'revoked');
  return [
    `Tape Vision API key audit: ${url}, ${now.toISOString()}`,
    `${keys.length} keys visible (${active.length} active).`,
    '',
    section('Expiring within 7 days', expiring.map((k) => describe(k, `expires ${k.expiresAt}`))),
    section('Never used', neverUsed.map((k) => describe(k, `created ${k.createdAt}`))),
    section('Revoked', revoked.map((k) => describe(k, `revoked ${k.revokedAt}`))),
  ].join('\n');
}

try {
  console.log(report(await listKeys()));
} catch (err) {
  if (isTapeVisionError(err) && err.data?.code === 'UNAUTHORIZED') {
    console.error(`Tape Vision refused the API key (${err.data.reason ?? 'UNAUTHORIZED'}): ${err.message}`);
  } else if (isTapeVisionError(err) && err.data) {
    console.error(`Tape Vision refused the call (${err.data.code}${err.data.reason ? `, ${err.data.reason}` : ''}): ${err.message}`);
  } else {
    console.error(`Could not reach Tape Vision at ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exitCode = 1;
} finally {
  await tv.close();
}
