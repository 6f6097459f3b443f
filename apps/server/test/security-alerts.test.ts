import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertView } from '@tapevision/api/schemas';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { ticket } from './support/trading.ts';
import { seedUser, signIn } from './support/users.ts';
import { errorData, rejectionOf, wsClient } from './support/clients.ts';

const alert = (n: number) => ({ type: 'threshold', severity: 'HIGH' as const, title: `Alert ${n}`, message: `m${n}`, incidentId: null, ip: '203.0.113.7', userId: null, details: { n } });

describe('security alerts', () => {
  let server: TestServer;
  let received: { body: string; headers: http.IncomingHttpHeaders }[] = [];
  let receiverUp = false;
  let receiver: http.Server;
  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (!receiverUp) return res.writeHead(500).end();
        received.push({ body, headers: req.headers });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    server = await startTestServer({ securityWebhook: { url, secret: 'hook-secret', backoffBaseMs: 50, backoffMaxMs: 200, pollMs: 100, timeoutMs: 1_000 } });
  });
  afterAll(async () => {
    await server.close();
    receiver.close();
  });

  it('streams to an admin, not a trader; list carries kind; acknowledge is idempotent and needs security.manage; webhook delivers signed, in order, after an outage', async () => {
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const trader = await signIn(server, await seedUser(server, 'trader'));
    const got: { id: string; data: AlertView }[] = [];
    const ws = wsClient(server, { token: admin.token });
    ws.trpc.alerts.onAlert.subscribe({ kind: 'security' }, { onData: (e) => got.push(e as { id: string; data: AlertView }) });
    await new Promise((r) => setTimeout(r, 300));

    for (let i = 1; i <= 3; i++) await server.app.deps.securityResponse.raiseAlert(alert(i));
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(3);
    expect(got.map((e) => e.data.kind)).toEqual(['security', 'security', 'security']);
    expect(got.map((e) => e.data.security?.title)).toEqual(['Alert 1', 'Alert 2', 'Alert 3']);

    const adminList = await admin.client.alerts.list.query();
    expect(adminList.filter((a) => a.kind === 'security')).toHaveLength(3);
    const traderList = await trader.client.alerts.list.query();
    expect(traderList.some((a) => a.kind === 'security')).toBe(false);

    // Resume after the first: the two others, once each.
    const resumed: AlertView[] = [];
    const ws2 = wsClient(server, { token: admin.token });
    ws2.trpc.alerts.onAlert.subscribe({ kind: 'security', lastEventId: got[0]!.id }, { onData: (e) => resumed.push((e as { data: AlertView }).data) });
    await expect.poll(() => resumed.length, { timeout: 5_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(resumed.map((a) => a.security?.title)).toEqual(['Alert 2', 'Alert 3']);

    const id = got[0]!.data.id;
    expect(errorData(await rejectionOf(trader.client.alerts.acknowledge.mutate({ id }))).code).toBe('FORBIDDEN');
    const first = await admin.client.alerts.acknowledge.mutate({ id });
    const again = await admin.client.alerts.acknowledge.mutate({ id });
    expect(first.security?.acknowledgedAt).toBeTruthy();
    expect(again.security?.acknowledgedAt).toBe(first.security?.acknowledgedAt);
    await expect.poll(() => got.some((e) => e.data.event === 'acknowledged'), { timeout: 5_000 }).toBe(true);

    // The receiver was answering 500 all along: nothing lost once it is back, in order, none twice.
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toHaveLength(0);
    receiverUp = true;
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(3);
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toHaveLength(3);
    for (const [i, r] of received.entries()) {
      const body = JSON.parse(r.body) as { text: string; alert: { title: string } };
      expect(body.alert.title).toBe(`Alert ${i + 1}`);
      const t = r.headers['x-tapevision-timestamp'] as string;
      const expected = createHmac('sha256', 'hook-secret').update(`${t}.${r.body}`).digest('hex');
      expect(r.headers['x-tapevision-signature']).toBe(`t=${t},v1=${expected}`);
      expect(Math.abs(Date.now() / 1000 - Number(t))).toBeLessThan(60);
    }
    await ws.close();
    await ws2.close();
  });

  it('resumes each kind from its own place after trading and security alerts interleave', async () => {
    const admin = await signIn(server, await seedUser(server, 'admin'));
    const got: { id: string; data: AlertView }[] = [];
    const ws = wsClient(server, { token: admin.token });
    ws.trpc.alerts.onAlert.subscribe(undefined, { onData: (e) => got.push(e as { id: string; data: AlertView }) });
    await new Promise((r) => setTimeout(r, 300));
    // A rejected order raises a trading alert; the port raises security ones.
    const tradingAlert = () => rejectionOf(admin.client.trading.execute.mutate(ticket({ symbol: 'ZZ' })));
    const step = async (n: number, action: () => Promise<unknown>) => {
      await action();
      await expect.poll(() => got.length, { timeout: 5_000 }).toBe(n);
    };
    await step(1, tradingAlert);
    await step(2, () => server.app.deps.securityResponse.raiseAlert(alert(11)));
    await step(3, tradingAlert);
    await step(4, () => server.app.deps.securityResponse.raiseAlert(alert(12)));
    expect(got.map((e) => e.data.kind)).toEqual(['trading', 'security', 'trading', 'security']);
    expect(got.every((e) => /^\d+:\d+$/.test(e.id))).toBe(true);

    // From the second id: the third and fourth, once each, whatever kind each is.
    const resumed: { id: string; data: AlertView }[] = [];
    const ws2 = wsClient(server, { token: admin.token });
    ws2.trpc.alerts.onAlert.subscribe({ lastEventId: got[1]!.id }, { onData: (e) => resumed.push(e as { id: string; data: AlertView }) });
    await expect.poll(() => resumed.length, { timeout: 5_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(resumed.map((e) => e.data.id).sort()).toEqual([got[2]!.data.id, got[3]!.data.id].sort());

    // From the first id, a trading alert's: the three after it, and none of the security alerts
    // raised before the stream opened (the earlier test's).
    const fromStart: AlertView[] = [];
    const ws3 = wsClient(server, { token: admin.token });
    ws3.trpc.alerts.onAlert.subscribe({ lastEventId: got[0]!.id }, { onData: (e) => fromStart.push((e as { data: AlertView }).data) });
    await expect.poll(() => fromStart.length, { timeout: 5_000 }).toBe(3);
    await new Promise((r) => setTimeout(r, 300));
    expect(fromStart).toHaveLength(3);
    await Promise.all([ws.close(), ws2.close(), ws3.close()]);
  });

  it('on two servers sharing one Postgres: raised on one, streamed and acknowledged on the other, delivered once', async () => {
    const hits: string[] = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hits.push((JSON.parse(body) as { alert: { title: string } }).alert.title);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    const webhook = { url, secret: 'two-servers', backoffBaseMs: 50, backoffMaxMs: 200, pollMs: 100, timeoutMs: 1_000 };
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    const one = await startTestServer({ databaseUrl: fresh.url, securityWebhook: webhook });
    const two = await startTestServer({ databaseUrl: fresh.url, securityWebhook: webhook });
    try {
      const adminUser = await seedUser(one, 'admin');
      const onOne = await signIn(one, adminUser);
      const onTwo = await signIn(two, adminUser);
      const seenOnTwo: AlertView[] = [];
      const seenOnOne: AlertView[] = [];
      const wsTwo = wsClient(two, { token: onTwo.token });
      const wsOne = wsClient(one, { token: onOne.token });
      wsTwo.trpc.alerts.onAlert.subscribe({ kind: 'security' }, { onData: (e) => seenOnTwo.push((e as { data: AlertView }).data) });
      wsOne.trpc.alerts.onAlert.subscribe({ kind: 'security' }, { onData: (e) => seenOnOne.push((e as { data: AlertView }).data) });
      await new Promise((r) => setTimeout(r, 300));

      await one.app.deps.securityResponse.raiseAlert(alert(21));
      await two.app.deps.securityResponse.raiseAlert(alert(22));
      await expect.poll(() => seenOnTwo.length, { timeout: 5_000 }).toBe(2);
      await expect.poll(() => seenOnOne.length, { timeout: 5_000 }).toBe(2);
      expect(seenOnTwo.map((a) => a.security?.title)).toEqual(['Alert 21', 'Alert 22']);

      await onTwo.client.alerts.acknowledge.mutate({ id: seenOnOne[0]!.id });
      await expect.poll(() => seenOnOne.some((a) => a.event === 'acknowledged' && a.id === seenOnOne[0]!.id), { timeout: 5_000 }).toBe(true);
      expect((await onOne.client.alerts.list.query({ kind: 'security' })).find((a) => a.id === seenOnOne[0]!.id)?.security?.acknowledgedAt).toBeTruthy();

      // One delivery per alert, whichever process leads the webhook worker.
      await expect.poll(() => hits.length, { timeout: 10_000 }).toBe(2);
      await new Promise((r) => setTimeout(r, 600));
      expect(hits.sort()).toEqual(['Alert 21', 'Alert 22']);
      await Promise.all([wsOne.close(), wsTwo.close()]);
    } finally {
      await one.close();
      await two.close();
      await fresh.drop();
      hook.close();
    }
  });

  it('a receiver that hangs never holds up a request: the alert is stored at once, retried past the timeout, delivered once it answers', async () => {
    let answering = false;
    const hits: string[] = [];
    const hung: http.ServerResponse[] = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (!answering) return void hung.push(res); // never answers: the worker's timeout ends it
        hits.push((JSON.parse(body) as { alert: { title: string } }).alert.title);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    await using slow = await startTestServer({ securityWebhook: { url, secret: 'slow', backoffBaseMs: 50, backoffMaxMs: 200, pollMs: 100, timeoutMs: 300 } });
    try {
      const admin = await signIn(slow, await seedUser(slow, 'admin'));
      await slow.app.deps.securityResponse.raiseAlert(alert(31));
      // Stored and listed straight away, whatever the receiver does.
      expect((await admin.client.alerts.list.query({ kind: 'security' })).map((a) => a.security?.title)).toEqual(['Alert 31']);
      await expect.poll(() => hung.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
      // Requests go on being answered while deliveries hang and time out.
      for (let i = 0; i < 5; i++) await admin.client.alerts.list.query({ kind: 'security' });
      expect(hits).toEqual([]);
      answering = true;
      await expect.poll(() => hits.length, { timeout: 10_000 }).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(hits).toEqual(['Alert 31']);
    } finally {
      for (const res of hung) res.destroy();
      hook.closeAllConnections();
      hook.close();
    }
  });
});
