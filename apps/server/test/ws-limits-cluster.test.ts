import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authedRawSocket } from './support/raw-ws.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn } from './support/users.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

// Two servers on one database and one Redis, as behind a load balancer: the per-principal
// connection cap counts sockets on both.
describe('WebSocket connection cap across server processes', () => {
  let a: TestServer;
  let b: TestServer;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    drop = db.drop;
    const shared = { databaseUrl: db.url, redisUrl: REDIS_URL, jwtSecret: randomBytes(32), wsLimits: { maxConnectionsPerPrincipal: 2 } };
    a = await startTestServer(shared);
    b = await startTestServer(shared);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
  });

  it('closes the connection over the cap even when the others are on another process', async () => {
    const trader = await seedUser(a, 'trader');
    const { token } = await signIn(a, trader);
    const first = await authedRawSocket(a, { accessToken: token });
    const second = await authedRawSocket(b, { accessToken: token });
    const third = await authedRawSocket(b, { accessToken: token }).catch(() => null);
    // Either refused before its probe was answered, or closed right after: never kept open.
    if (third) {
      const closed = await Promise.race([third.closed, new Promise<null>((r) => setTimeout(() => r(null), 3_000))]);
      expect(closed?.code).toBe(1008);
    }
    expect(first.isClosed).toBe(false);
    expect(second.isClosed).toBe(false);

    // A freed slot on one process can be used from the other.
    await first.close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await authedRawSocket(b, { accessToken: token });
    await new Promise((r) => setTimeout(r, 300));
    expect(again.isClosed).toBe(false);
    await again.close();
    await second.close();
  });
});
