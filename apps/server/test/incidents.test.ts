/**
 * Incidents: detections open or join an incident (correlation window, escalation, one incident
 * under parallel reports on two servers), the automated response by severity (recorded through
 * recordSecurityActions), endSessionsOf ending sessions and sockets, and the incidents.*
 * procedures' access, forward-only status, audit rows and the report from the audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incidents as incidentsTable, lockdowns, type AuditLog } from '@tapevision/db';
import type { Detection, SecurityResponse } from '@tapevision/api';
import { errorData, httpClient, rejectionOf, wsClient } from './support/clients.ts';
import { auditRows, sessionRows } from './support/probe.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer, type TestServer } from './support/server.ts';
import { expectRevokedClose, expectTokenRejected, loginForBody, openSocket, waitFor } from './support/session-helpers.ts';
import { seedUser, signIn, type SignedIn } from './support/users.ts';

type Call = { action: keyof SecurityResponse; input: Record<string, unknown> };

let ipCounter = 0;
/** A fresh documentation-range address per call, so tests never correlate with each other. */
function freshIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

function detection(over: Partial<Detection> = {}): Detection {
  const ip = over.ip === undefined ? freshIp() : over.ip;
  return {
    rule: 'brute_force',
    severity: 'MEDIUM',
    summary: 'failed sign-ins from one address',
    ip,
    userId: null,
    apiKeyId: null,
    correlationKey: `ip:${ip ?? 'none'}`,
    count: 6,
    threshold: 5,
    windowSeconds: 300,
    details: {},
    at: new Date(),
    ...over,
  };
}

function recorder() {
  const calls: Call[] = [];
  let answers: Partial<Record<keyof SecurityResponse, unknown>> = {};
  return {
    calls,
    answer(next: Partial<Record<keyof SecurityResponse, unknown>>) {
      answers = next;
    },
    record: (action: keyof SecurityResponse, input: unknown) => {
      calls.push({ action, input: input as Record<string, unknown> });
      return answers[action];
    },
    /**
     * The port actions asked for one incident, reportDetection itself left out, and the blocklist's
     * own ip.blocked alert (raised by blockIp itself when it really blocks; see ip-blocks.test.ts).
     */
    of(incidentId: string | null) {
      return calls.filter((c) => c.action !== 'reportDetection' && c.input.incidentId === incidentId && c.input.type !== 'ip.blocked');
    },
  };
}

const MINUTE = 60_000;
const WINDOW_MS = 30 * MINUTE;

let server: TestServer;
const actions = recorder();
let admin: SignedIn;
let adminId: string;
let trader: SignedIn;
let traderId: string;
let viewer: SignedIn;

beforeAll(async () => {
  server = await startTestServer({ recordSecurityActions: actions.record, incidents: { correlationWindowMs: WINDOW_MS, autoLockdown: false } });
  const a = await seedUser(server, 'admin');
  adminId = a.id;
  admin = await signIn(server, a);
  const t = await seedUser(server, 'trader');
  traderId = t.id;
  trader = await signIn(server, t);
  viewer = await signIn(server, await seedUser(server, 'viewer'));
});
afterAll(async () => {
  await server?.close();
});

const report = (d: Detection) => server.app.deps.securityResponse.reportDetection(d);
const incidentRow = async (id: string) => (await server.app.database.db.select().from(incidentsTable)).find((r) => r.id === id)!;
const incidentAudit = (id: string) => auditRows(server, (r: AuditLog) => r.resourceType === 'incident' && r.resourceId === id);

describe('correlation', () => {
  it('joins the open incident within the window (exactly at its edge too) and opens a new one just past it', async () => {
    const ip = freshIp();
    const t0 = new Date('2026-06-01T10:00:00.000Z');
    const first = await report(detection({ ip, correlationKey: `ip:${ip}`, at: t0 }));
    expect(first.incidentId).toEqual(expect.any(String));
    // Another rule, another key, the same address: the same attack.
    const sameIp = await report(detection({ ip, rule: 'scanner', correlationKey: `scanner:${ip}`, at: new Date(t0.getTime() + 5 * MINUTE) }));
    expect(sameIp.incidentId).toBe(first.incidentId);
    // The window runs from the last detection: exactly WINDOW_MS after it still joins...
    const edge = await report(detection({ ip, correlationKey: `ip:${ip}`, at: new Date(t0.getTime() + 5 * MINUTE + WINDOW_MS) }));
    expect(edge.incidentId).toBe(first.incidentId);
    // ...one millisecond more opens a new incident, though the first is still open.
    const past = await report(detection({ ip, correlationKey: `ip:${ip}`, at: new Date(t0.getTime() + 5 * MINUTE + 2 * WINDOW_MS + 1) }));
    expect(past.incidentId).not.toBe(first.incidentId);
    const row = await incidentRow(first.incidentId!);
    expect(row).toMatchObject({ detectionCount: 3, status: 'detected', ips: [ip] });
    expect((await incidentRow(past.incidentId!)).detectionCount).toBe(1);
  });

  it('joins by a shared account, and never joins an unrelated detection or a resolved incident', async () => {
    const target = await seedUser(server, 'trader');
    const a = await report(detection({ rule: 'credential_stuffing', userId: target.id, correlationKey: `user:${target.id}` }));
    const otherIp = freshIp();
    const b = await report(detection({ rule: 'brute_force', ip: otherIp, userId: target.id, correlationKey: `ip:${otherIp}` }));
    expect(b.incidentId).toBe(a.incidentId);
    expect((await incidentRow(a.incidentId!)).ips).toContain(otherIp);
    const unrelated = await report(detection());
    expect(unrelated.incidentId).not.toBe(a.incidentId);
    // Resolved is not open: the same account's next detection is a new incident.
    await admin.client.incidents.update.mutate({ id: a.incidentId!, status: 'resolved' });
    const after = await report(detection({ userId: target.id, correlationKey: `user:${target.id}` }));
    expect(after.incidentId).not.toBe(a.incidentId);
  });

  it('escalates to a higher severity (timeline, audit, alert) and never lowers it', async () => {
    const ip = freshIp();
    const { incidentId } = await report(detection({ ip, severity: 'MEDIUM' }));
    await report(detection({ ip, severity: 'HIGH', rule: 'api_abuse', correlationKey: `ip:${ip}` }));
    expect((await incidentRow(incidentId!)).severity).toBe('HIGH');
    await report(detection({ ip, severity: 'LOW', rule: 'scanner', correlationKey: `ip:${ip}` }));
    expect((await incidentRow(incidentId!)).severity).toBe('HIGH');
    const detail = await admin.client.incidents.get.query({ id: incidentId! });
    expect(detail.timeline.filter((t) => t.kind === 'escalated')).toHaveLength(1);
    expect(detail.timeline.map((t) => t.kind)).toEqual(expect.arrayContaining(['opened', 'detection', 'escalated', 'action']));
    const alerts = actions.of(incidentId!).filter((c) => c.action === 'raiseAlert').map((c) => c.input.type);
    expect(alerts).toEqual(['incident.opened', 'incident.escalated']);
    await server.app.deps.audit.flush();
    const audit = await incidentAudit(incidentId!);
    expect(audit.map((r) => r.action).sort()).toEqual(['security.incident', 'security.incident_escalated', 'security.incident_joined']);
    expect(audit.find((r) => r.action === 'security.incident')).toMatchObject({ severity: 'CRITICAL', actorType: 'system', ip });
  });

  it('opens exactly one incident for parallel reports of one attack', async () => {
    const ip = freshIp();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => report(detection({ ip, rule: i % 2 ? 'payload' : 'brute_force', correlationKey: `ip:${ip}` }))));
    expect(new Set(results.map((r) => r.incidentId)).size).toBe(1);
    expect((await incidentRow(results[0]!.incidentId!)).detectionCount).toBe(8);
    // The watch is claimed under the lock: one request for the attack, not one per report.
    expect(actions.of(results[0]!.incidentId).filter((c) => c.action === 'markSuspicious')).toHaveLength(1);
  });

  it('opens exactly one incident for parallel reports on two servers sharing one Postgres', async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    try {
      const one = await startTestServer({ databaseUrl: fresh.url });
      const two = await startTestServer({ databaseUrl: fresh.url });
      try {
        const ip = freshIp();
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 ? one : two).app.deps.securityResponse.reportDetection(detection({ ip, correlationKey: `ip:${ip}` }))),
        );
        expect(new Set(results.map((r) => r.incidentId)).size).toBe(1);
        const rows = await one.app.database.db.select().from(incidentsTable);
        expect(rows).toHaveLength(1);
        expect(rows[0]!.detectionCount).toBe(6);
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    } finally {
      await fresh.drop();
    }
  }, 60_000);
});

describe('automated response by severity', () => {
  const near = (iso: unknown, ms: number) => Math.abs(new Date(iso as Date).getTime() - (Date.now() + ms)) < 10_000;

  it('CRITICAL blocks the source for 24 h and recommends lockdown (no lockdown), each on the timeline', async () => {
    actions.answer({ blockIp: { blocked: true } });
    try {
      const { incidentId } = await report(detection({ severity: 'CRITICAL' }));
      const asked = actions.of(incidentId);
      expect(asked.map((c) => `${c.action}:${String(c.input.type ?? '')}`)).toEqual(['blockIp:', 'raiseAlert:incident.lockdown_recommended', 'raiseAlert:incident.opened']);
      expect(near(asked[0]!.input.expiresAt, 24 * 60 * MINUTE)).toBe(true);
      expect(asked.some((c) => c.action === 'lockdown')).toBe(false);
      const { timeline } = await admin.client.incidents.get.query({ id: incidentId! });
      // Each action is claimed (requested) with the incident's commit, then its outcome recorded.
      const done = timeline.filter((t) => t.kind === 'action').map((t) => [t.details.action, t.details.outcome]);
      expect(done).toEqual([
        ['blockIp', 'requested'],
        ['recommendLockdown', 'requested'],
        ['blockIp', 'done'],
        ['recommendLockdown', 'done'],
      ]);
      expect(timeline.findLast((t) => t.details.action === 'recommendLockdown')?.message).toMatch(/lockdown recommended/i);
    } finally {
      actions.answer({});
    }
  });

  it('CRITICAL engages lockdown when INCIDENT_AUTO_LOCKDOWN=1', async () => {
    const own = recorder();
    await using auto = await startTestServer({ recordSecurityActions: own.record, incidents: { autoLockdown: true } });
    const { incidentId } = await auto.app.deps.securityResponse.reportDetection(detection({ severity: 'CRITICAL' }));
    const asked = own.of(incidentId).map((c) => `${c.action}:${String(c.input.type ?? '')}`);
    // The lockdown raises its own alert as it engages, before the incident's.
    expect(asked).toEqual(['blockIp:', 'lockdown:', 'raiseAlert:lockdown.engaged', 'raiseAlert:incident.opened']);
    expect(own.of(incidentId).some((c) => c.input.type === 'incident.lockdown_recommended')).toBe(false);
    // Engaged by the system (engaged_by null), for this incident.
    expect(await auto.app.deps.db.select().from(lockdowns)).toEqual([expect.objectContaining({ engagedBy: null, incidentId, liftedAt: null })]);
  });

  it('HIGH blocks the IP for an hour and ends the sessions of the account under attack; a refused block is recorded as refused', async () => {
    const victim = await seedUser(server, 'trader');
    const login = await loginForBody(server, victim);
    const socket = await openSocket(server, login.accessToken);
    // The block port refuses (an allowlisted address), as it answers for SECURITY_ALLOWLIST.
    actions.answer({ blockIp: { blocked: false } });
    let incidentId: string | null;
    const since = Date.now();
    try {
      ({ incidentId } = await report(detection({ severity: 'HIGH', rule: 'credential_stuffing', userId: victim.id, correlationKey: `user:${victim.id}` })));
    } finally {
      actions.answer({});
    }
    const asked = actions.of(incidentId);
    expect(asked.map((c) => c.action)).toEqual(['blockIp', 'endSessionsOf', 'raiseAlert']);
    expect(near(asked[0]!.input.expiresAt, 60 * MINUTE)).toBe(true);
    expect(asked[1]!.input.userId).toBe(victim.id);
    // Really ended: the session row, the token and the socket (4001).
    await expectRevokedClose(socket, since);
    await socket.close();
    await expectTokenRejected(server, login.accessToken);
    expect((await sessionRows(server, victim.id)).every((s) => s.revokedReason === 'security_incident')).toBe(true);
    const { timeline } = await admin.client.incidents.get.query({ id: incidentId! });
    const outcome = Object.fromEntries(timeline.filter((t) => t.kind === 'action').map((t) => [t.details.action, t]));
    expect(outcome.blockIp?.details.outcome).toBe('refused');
    expect(outcome.endSessionsOf?.details).toMatchObject({ outcome: 'done', ended: 1 });
    await server.app.deps.audit.flush();
    const revoked = await auditRows(server, (r) => r.action === 'user.sessions_revoked' && r.resourceId === victim.id);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({ actorType: 'system', details: expect.objectContaining({ count: 1, incidentId }) });
  });

  it('MEDIUM watches the source for an hour; LOW only records; a block already in force is not asked again', async () => {
    const ip = freshIp();
    const medium = await report(detection({ ip, severity: 'MEDIUM', rule: 'scanner' }));
    const watched = actions.of(medium.incidentId);
    expect(watched.map((c) => c.action)).toEqual(['markSuspicious', 'raiseAlert']);
    expect(watched[0]!.input).toMatchObject({ ip });
    expect(near(watched[0]!.input.until, 60 * MINUTE)).toBe(true);
    // Joining the same incident at MEDIUM again: the watch holds, so it is skipped (and says so).
    await report(detection({ ip, severity: 'MEDIUM', rule: 'scanner' }));
    expect(actions.of(medium.incidentId).filter((c) => c.action === 'markSuspicious')).toHaveLength(1);
    const { timeline } = await admin.client.incidents.get.query({ id: medium.incidentId! });
    expect(timeline.filter((t) => t.kind === 'action').map((t) => t.details.outcome)).toEqual(['requested', 'done', 'skipped']);

    const low = await report(detection({ severity: 'LOW' }));
    expect(actions.of(low.incidentId).map((c) => c.action)).toEqual(['raiseAlert']);
    const lowTimeline = (await admin.client.incidents.get.query({ id: low.incidentId! })).timeline;
    expect(lowTimeline.filter((t) => t.kind === 'action').map((t) => t.details.action)).toEqual(['record', 'record']);
  });

  it('a trusted source (SECURITY_ALLOWLIST, loopback by default) opens its incident and alerts, but nothing is done to it', async () => {
    const { incidentId } = await report(detection({ ip: '127.0.0.9', severity: 'CRITICAL', userId: traderId, correlationKey: 'ip:127.0.0.9' }));
    expect(incidentId).not.toBeNull();
    expect(actions.of(incidentId).map((c) => c.action)).toEqual(['raiseAlert']);
    const { timeline } = await admin.client.incidents.get.query({ id: incidentId! });
    expect(timeline.filter((t) => t.kind === 'action').map((t) => t.details.action)).toEqual(['record', 'record']);
    // The trader it named is still signed in.
    await trader.client.auth.me.query();
  });
});

describe('procedures', () => {
  it('lets alerts.view read (list, get, report) but only security.manage write', async () => {
    const { incidentId } = await report(detection({ severity: 'LOW' }));
    const id = incidentId!;
    for (const reader of [trader, viewer]) {
      await expect(reader.client.incidents.list.query()).resolves.toMatchObject({ items: expect.any(Array) });
      await expect(reader.client.incidents.get.query({ id })).resolves.toMatchObject({ incident: { id } });
      await expect(reader.client.incidents.report.query({ id })).resolves.toMatchObject({ incident: { id } });
      for (const call of [
        () => reader.client.incidents.update.mutate({ id, status: 'investigating' }),
        () => reader.client.incidents.addNote.mutate({ id, note: 'mine now' }),
        () => reader.client.incidents.close.mutate({ id, resolution: 'nothing' }),
      ]) {
        expect(errorData(await rejectionOf(call()))).toMatchObject({ code: 'FORBIDDEN', permission: 'security.manage' });
      }
    }
    const row = await incidentRow(id);
    expect(row).toMatchObject({ status: 'detected', resolution: null });
  });

  it('moves status forward only, closes only through close, assigns only admins; bad input changes nothing', async () => {
    const { incidentId } = await report(detection({ severity: 'LOW' }));
    const id = incidentId!;
    const c = admin.client.incidents;
    await expect(c.update.mutate({ id, status: 'contained' })).resolves.toMatchObject({ status: 'contained', containedAt: expect.any(String) });
    expect(errorData(await rejectionOf(c.update.mutate({ id, status: 'investigating' })))).toMatchObject({ code: 'BAD_REQUEST', reason: 'INCIDENT_STATUS_BACKWARD' });
    expect(errorData(await rejectionOf(c.update.mutate({ id, status: 'closed' as 'resolved' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(errorData(await rejectionOf(c.update.mutate({ id })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(errorData(await rejectionOf(c.update.mutate({ id, assignee: traderId })))).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_ASSIGNEE' });
    expect(errorData(await rejectionOf(c.update.mutate({ id: '00000000-0000-4000-8000-000000000000', severity: 'HIGH' })))).toMatchObject({ code: 'NOT_FOUND', reason: 'INCIDENT_NOT_FOUND' });
    expect(errorData(await rejectionOf(c.get.query({ id: 'not-a-uuid' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(errorData(await rejectionOf(c.addNote.mutate({ id, note: '   ' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(errorData(await rejectionOf(c.addNote.mutate({ id, note: 'a\u0000b' })))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await incidentRow(id)).toMatchObject({ status: 'contained', assigneeId: null, severity: 'LOW' });

    await expect(c.update.mutate({ id, assignee: adminId, severity: 'HIGH' })).resolves.toMatchObject({ assigneeId: adminId, severity: 'HIGH' });
    await c.addNote.mutate({ id, note: 'Source is a test harness.' });
    await expect(c.close.mutate({ id, resolution: 'False positive: our own scanner.' })).resolves.toMatchObject({ status: 'closed', resolution: 'False positive: our own scanner.' });
    expect(errorData(await rejectionOf(c.close.mutate({ id, resolution: 'again' })))).toMatchObject({ code: 'CONFLICT', reason: 'INCIDENT_CLOSED' });
    expect(errorData(await rejectionOf(c.update.mutate({ id, severity: 'LOW' })))).toMatchObject({ code: 'CONFLICT', reason: 'INCIDENT_CLOSED' });

    const detail = await c.get.query({ id });
    expect(detail.assignee).toEqual({ id: adminId, email: expect.stringContaining('@') });
    expect(detail.timeline.map((t) => t.kind)).toEqual(['opened', 'action', 'action', 'status', 'severity', 'assignment', 'note', 'closed']);
    expect(detail.timeline.find((t) => t.kind === 'note')).toMatchObject({ actorType: 'user', actorId: adminId, actorEmail: detail.assignee?.email, message: 'Source is a test harness.' });
    await server.app.deps.audit.flush();
    const audit = (await incidentAudit(id)).map((r) => r.action);
    expect(audit.sort()).toEqual(['security.incident', 'security.incident_closed', 'security.incident_noted', 'security.incident_updated', 'security.incident_updated']);
  });

  it('lists newest first with filters and a cursor', async () => {
    const ids: string[] = [];
    const base = Date.now() + 24 * 60 * MINUTE;
    for (let i = 0; i < 3; i += 1) ids.push((await report(detection({ severity: 'CRITICAL', rule: 'list_probe', at: new Date(base + i * 1_000) }))).incidentId!);
    const first = await admin.client.incidents.list.query({ severity: 'CRITICAL', limit: 2 });
    expect(first.items.map((i) => i.id)).toEqual([ids[2], ids[1]]);
    const second = await admin.client.incidents.list.query({ severity: 'CRITICAL', limit: 2, cursor: first.nextCursor! });
    expect(second.items[0]?.id).toBe(ids[0]);
    expect((await admin.client.incidents.list.query({ status: 'closed' })).items.every((i) => i.status === 'closed')).toBe(true);
    expect(errorData(await rejectionOf(admin.client.incidents.list.query({ cursor: 'bogus!' })))).toMatchObject({ code: 'BAD_REQUEST', reason: 'INVALID_CURSOR' });
  });

  it('builds the report from the audit trail of the incident’s address and accounts', async () => {
    // Test clients come from 127.0.0.1: the failed sign-ins are filed under that address.
    const victim = await seedUser(server, 'trader');
    for (let i = 0; i < 3; i += 1) await rejectionOf(httpClient(server).auth.login.mutate({ email: victim.email, password: 'wrong-password-entirely' }));
    await server.app.deps.audit.flush();
    const { incidentId } = await report(detection({ ip: '127.0.0.1', userId: victim.id, severity: 'LOW', correlationKey: `user:${victim.id}` }));
    await admin.client.incidents.close.mutate({ id: incidentId!, resolution: 'Tested.' });
    await server.app.deps.audit.flush();
    const r = await admin.client.incidents.report.query({ id: incidentId! });
    const failed = r.auditTrail.filter((a) => a.action === 'auth.login_failed' && a.ip === '127.0.0.1');
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(r.auditTrail.filter((a) => a.action === 'security.incident').map((a) => [a.resourceId, a.ip, a.actorId]), JSON.stringify(r.auditTrail.filter((a) => a.action === 'security.incident'))).toEqual([[incidentId, '127.0.0.1', null]]);
    expect(r.actionCounts['security.incident_closed']).toBe(1);
    expect(r.affected.users).toEqual([{ id: victim.id, email: victim.email }]);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.timeline.at(-1)?.kind).toBe('closed');
    // Oldest first.
    const times = r.auditTrail.map((a) => a.at);
    expect([...times].sort()).toEqual(times);
  });

  it('streams opened and changed incidents live over WebSocket, and resumes after lastEventId', async () => {
    const ws = wsClient(server, { token: admin.token });
    const seen: { id: string; kind: string; incidentId: string }[] = [];
    const sub = ws.trpc.incidents.onIncident.subscribe(undefined, {
      onData: (e) => seen.push({ id: e.id, kind: e.data.kind, incidentId: e.data.incident.id }),
    });
    try {
      await ws.trpc.auth.me.query();
      await new Promise((r) => setTimeout(r, 200));
      const { incidentId } = await report(detection({ severity: 'LOW' }));
      await waitFor(() => seen.find((e) => e.incidentId === incidentId && e.kind === 'opened'), 3_000, 'the opened incident');
      await admin.client.incidents.addNote.mutate({ id: incidentId!, note: 'watching' });
      const note = await waitFor(() => seen.find((e) => e.incidentId === incidentId && e.kind === 'note'), 3_000, 'the note');
      const opened = seen.find((e) => e.kind === 'opened' && e.incidentId === incidentId)!;
      // Resuming after the opened event replays what followed it, in order.
      const replay: string[] = [];
      const again = ws.trpc.incidents.onIncident.subscribe({ lastEventId: opened.id }, { onData: (e) => replay.push(e.data.kind) });
      await waitFor(() => replay.includes('note'), 3_000, 'the replay');
      again.unsubscribe();
      expect(replay.slice(0, replay.indexOf('note') + 1)).toEqual(seen.filter((e) => BigInt(e.id) > BigInt(opened.id) && BigInt(e.id) <= BigInt(note.id)).map((e) => e.kind));
    } finally {
      sub.unsubscribe();
      await ws.close();
    }
  });
});
