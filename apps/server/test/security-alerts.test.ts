import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertView } from '@tapevision/api/schemas';
import { startTestServer, type TestServer } from './support/server.ts';
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
});
