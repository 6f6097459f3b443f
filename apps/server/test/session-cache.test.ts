/**
 * The per-process session and API-key caches (services/sessions.ts, services/api-keys.ts) through
 * the real stack: two server processes on one Postgres database, each with its caches warm, and
 * every change that ends or narrows a session or a key made on one process is honoured at once on
 * that process, and on the other as soon as the bus notice arrives (milliseconds). Each check on
 * the other process allows 1 s, half the caches' 2 s lifetime: were the notice not acted on, the
 * stale entry would still be answering then, and the check would fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawCall } from './support/probe.ts';
import { startCluster, type Cluster, type ClusterNode } from './support/cluster.ts';
import { loginFrom, uniqueIp } from './support/rate-limits.ts';
import { strongPassword } from './support/users.ts';

/** A call the viewer role may make, which reads nothing but the principal's rights. */
const prices = (node: ClusterNode, token: string) => rawCall(node, 'market.lastPrices', 'query', { token });

async function warm(node: ClusterNode, token: string) {
  for (let i = 0; i < 3; i += 1) expect((await prices(node, token)).status).toBe(200);
}

const keyPrices = (node: ClusterNode, apiKey: string) => rawCall(node, 'market.lastPrices', 'query', { headers: { 'x-api-key': apiKey } });

/** Repeats `call` until `done` holds of its result (at most 1 s, see above); returns the last result. */
async function within1s<T>(call: () => Promise<T>, done: (result: T) => boolean): Promise<T> {
  const deadline = Date.now() + 1_000;
  for (;;) {
    const result = await call();
    if (done(result) || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('session cache across two server processes', () => {
  let cluster: Cluster;
  let a: ClusterNode;
  let b: ClusterNode;
  let adminToken: string;

  async function createViewer(): Promise<{ id: string; email: string; password: string }> {
    const email = `cached-${Math.random().toString(36).slice(2, 10)}@desk.example`;
    const created = await rawCall(a, 'users.create', 'mutation', { token: adminToken, input: { email, role: 'viewer' } });
    if (created.status !== 200) throw new Error(`users.create failed: ${created.text}`);
    const { user, oneTimePassword } = (created.json as { result: { data: { user: { id: string }; oneTimePassword: string } } }).result.data;
    return { id: user.id, email, password: oneTimePassword };
  }

  async function signedInViewer(): Promise<{ id: string; email: string; password: string; token: string }> {
    const person = await createViewer();
    const first = await loginFrom(a, person, uniqueIp());
    const password = strongPassword();
    const changed = await rawCall(a, 'auth.changePassword', 'mutation', { token: first, input: { currentPassword: person.password, newPassword: password } });
    if (changed.status !== 200) throw new Error(`auth.changePassword failed: ${changed.text}`);
    return { ...person, password, token: first };
  }

  beforeAll(async () => {
    cluster = await startCluster(2, { TRUST_PROXY: '1' });
    [a, b] = cluster.nodes as [ClusterNode, ClusterNode];
    adminToken = await loginFrom(a, cluster.admin, uniqueIp());
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('a logout on one process is refused at once on the other, whose cache holds the session', async () => {
    const viewer = await signedInViewer();
    await warm(a, viewer.token);
    await warm(b, viewer.token);

    expect((await rawCall(a, 'auth.logout', 'mutation', { token: viewer.token })).status).toBe(200);

    const onB = await within1s(() => prices(b, viewer.token), (r) => r.status === 401);
    expect(onB.status).toBe(401);
    expect(onB.error?.data?.reason).toBe('UNAUTHENTICATED');
    expect((await prices(a, viewer.token)).status).toBe(401);
  });

  it("an admin's role change on one process ends the user's cached session on the other at once", async () => {
    const viewer = await signedInViewer();
    await warm(a, viewer.token);
    await warm(b, viewer.token);

    const updated = await rawCall(b, 'users.update', 'mutation', { token: adminToken, input: { id: viewer.id, role: 'trader' } });
    expect(updated.status).toBe(200);

    expect((await prices(b, viewer.token)).status).toBe(401);
    expect((await within1s(() => prices(a, viewer.token), (r) => r.status === 401)).status).toBe(401);
  });

  it('a password change clears the pending-change flag for the session kept, on the other process too', async () => {
    const person = await createViewer();
    const token = await loginFrom(a, person, uniqueIp());
    // Cached on B with the forced password change pending: refused, but the session is live.
    for (let i = 0; i < 3; i += 1) {
      const pending = await prices(b, token);
      expect(pending.status).toBe(403);
      expect(pending.error?.data?.reason).toBe('PASSWORD_CHANGE_REQUIRED');
    }

    const changed = await rawCall(a, 'auth.changePassword', 'mutation', { token, input: { currentPassword: person.password, newPassword: strongPassword() } });
    expect(changed.status).toBe(200);

    expect((await prices(a, token)).status).toBe(200);
    expect((await within1s(() => prices(b, token), (r) => r.status === 200)).status).toBe(200);
  });

  it('a key revoked on one process is refused at once on the other, whose cache holds it', async () => {
    const created = await rawCall(a, 'apiKeys.create', 'mutation', { token: adminToken, input: { name: 'cached', permissions: ['trading.view'] } });
    expect(created.status).toBe(200);
    const { key, apiKey } = (created.json as { result: { data: { key: string; apiKey: { id: string } } } }).result.data;
    for (const node of [a, b]) for (let i = 0; i < 3; i += 1) expect((await keyPrices(node, key)).status).toBe(200);

    expect((await rawCall(b, 'apiKeys.revoke', 'mutation', { token: adminToken, input: { id: apiKey.id } })).status).toBe(200);

    for (const node of [b, a]) {
      const refused = await within1s(() => keyPrices(node, key), (r) => r.status === 401);
      expect(refused.status).toBe(401);
      expect(refused.error?.data?.reason).toBe('API_KEY_REVOKED');
    }
  });

  it('a key rolled without grace on one process: the old secret is refused at once on the other', async () => {
    const created = await rawCall(a, 'apiKeys.create', 'mutation', { token: adminToken, input: { name: 'rolled', permissions: ['trading.view'] } });
    const { key, apiKey } = (created.json as { result: { data: { key: string; apiKey: { id: string } } } }).result.data;
    for (const node of [a, b]) for (let i = 0; i < 3; i += 1) expect((await keyPrices(node, key)).status).toBe(200);

    const rolled = await rawCall(a, 'apiKeys.roll', 'mutation', { token: adminToken, input: { id: apiKey.id, graceSeconds: 0 } });
    expect(rolled.status).toBe(200);
    const successor = (rolled.json as { result: { data: { key: string } } }).result.data.key;

    for (const node of [a, b]) {
      const refused = await within1s(() => keyPrices(node, key), (r) => r.status === 401);
      expect(refused.status).toBe(401);
      expect(refused.error?.data?.reason).toBe('API_KEY_ROLLED');
      expect((await keyPrices(node, successor)).status).toBe(200);
    }
  });
});
