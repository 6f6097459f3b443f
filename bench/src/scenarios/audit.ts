import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { auditContent, createAuditWriter } from '@tapevision/api';
import { openDatabase } from '@tapevision/db';
import { freshPostgres } from '../databases.ts';
import { runLoad, spawnTs, stop, type LoadResult } from '../processes.ts';
import type { BenchServer, BenchServerOptions } from '../server.ts';
import type { BenchSettings, Database } from '../settings.ts';

/**
 * The audited mutation (users.unlock, one MEDIUM row per call) against itself with the audit log
 * switched off, on one server and one database: five pairs in the order off, on, on, off, off,
 * on, on, off, off, on (each a full measured run), so drift over the run falls on both sides alike
 * and no run differs from its pair in its process, its JIT warm-up or its database.
 */
export async function auditedMutation(settings: BenchSettings, database: Database) {
  const fresh = database === 'postgres' ? await freshPostgres() : null;
  const server = spawnTs<BenchServer>('./server.ts', { databaseUrl: fresh?.url, audit: 'on' } satisfies BenchServerOptions);
  const results: Record<'on' | 'off', LoadResult[]> = { on: [], off: [] };
  try {
    const { url, controlUrl, token, targetUserId } = await server.ready;
    const load = {
      url: `${url}/trpc/users.unlock`,
      method: 'POST',
      connections: settings.connections,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ id: targetUserId }),
    };
    const switchAudit = async (state: 'on' | 'off') => {
      const res = await fetch(`${controlUrl}/audit/${state}`, { method: 'POST' });
      if (res.status !== 204) throw new Error(`switching the audit log ${state}: HTTP ${res.status}`);
    };
    // Both paths warmed up before anything is measured.
    if (settings.warmupSeconds > 0) {
      for (const state of ['on', 'off'] as const) {
        await switchAudit(state);
        await runLoad({ ...load, duration: settings.warmupSeconds });
      }
    }
    const rounds = settings.quick ? (['off', 'on'] as const) : (['off', 'on', 'on', 'off', 'off', 'on', 'on', 'off', 'off', 'on'] as const);
    for (const state of rounds) {
      await switchAudit(state);
      results[state].push(await runLoad({ ...load, duration: settings.seconds }));
    }
  } finally {
    await stop(server.child);
    await fresh?.drop();
  }
  // The ratio is the median over the pairs run next to each other: one disturbed run (this is
  // a shared 2-core VM) moves it less than it moves a ratio of means.
  const pairRatios = results.on.map((on, i) => on.rps / results.off[i]!.rps).sort((a, b) => a - b);
  const ratio = pairRatios[Math.floor(pairRatios.length / 2)]!;
  return { database, audited: average(results.on), unaudited: average(results.off), ratio, pairRatios, runs: results };
}

function average(results: LoadResult[]): LoadResult {
  const mean = (pick: (r: LoadResult) => number) => results.reduce((sum, r) => sum + pick(r), 0) / results.length;
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  return {
    rps: mean((r) => r.rps),
    p50: mean((r) => r.p50),
    p99: Math.max(...results.map((r) => r.p99)),
    errors: sum((r) => r.errors),
    non2xx: sum((r) => r.non2xx),
    total: sum((r) => r.total),
  };
}

const sampleEvent = (i: number) =>
  auditContent(
    {
      action: 'user.unlocked',
      outcome: 'success',
      actor: { type: 'user', id: '5f0c6c1e-7d3a-4d55-9c1a-1f1b2b3c4d5e' },
      origin: { ip: '203.0.113.7', userAgent: 'bench/1.0', requestId: `bench-${i}` },
      resource: { type: 'user', id: 'a3c1a0b4-3a4e-4a8f-9b3c-2d1e0f9a8b7c' },
      details: { reason: 'bench', attempt: i, password: 'never stored' },
    },
    new Date(),
  );

export interface WriterResult {
  database: Database;
  /** Rows offered per second, in 10 ms ticks, for the whole run. */
  offeredPerSecond: number;
  /** Rows committed per second from the first offer until the last row is in. */
  sustainedPerSecond: number;
  /** How long after the last offer the last row was committed. */
  lagMs: number;
  /** A backlog of rows already chained, drained as fast as the database takes them. */
  drainPerSecond: number;
}

/**
 * The writer alone, two ways. Sustained: realistic rows (redacted, chained) offered at a fixed
 * rate, as requests would, timed until the last is committed; the writer keeps up when the
 * sustained rate matches the offered one and the lag stays short. Drain: its ceiling, a queued
 * backlog written as fast as the database takes it.
 */
export async function writerThroughput(settings: BenchSettings, database: Database, databaseUrl: string | undefined, offeredPerSecond: number): Promise<WriterResult> {
  const handle = await openDatabase({ url: databaseUrl });
  const spoolDir = mkdtempSync(path.join(tmpdir(), 'tv-bench-spool-'));
  const logger = pino({ level: 'warn' });
  // Rows are signed as the server signs them (HMAC-SHA256 under the audit key).
  const key = { id: 'bench', key: randomBytes(32) };
  try {
    const writer = createAuditWriter({ db: handle.db, logger, spoolDir, key });
    const perTick = offeredPerSecond / 100;
    const total = Math.round(offeredPerSecond * settings.seconds);
    const started = performance.now();
    let offered = 0;
    while (offered < total) {
      // Catch up to where the clock says the offer should be, then wait for the next tick.
      const due = Math.min(total, Math.round(((performance.now() - started) / 10 + 1) * perTick));
      for (; offered < due; offered++) void writer.append(sampleEvent(offered), false);
      await sleep(10);
    }
    const offeredUntil = performance.now();
    await writer.flush();
    const done = performance.now();
    await writer.close();

    const backlog = createAuditWriter({ db: handle.db, logger, spoolDir, key, batchSize: 1e9, flushIntervalMs: 1e9, maxQueue: 1e9 });
    const rows = settings.writerRows;
    for (let i = 0; i < rows; i++) void backlog.append(sampleEvent(i), false);
    const drainStarted = performance.now();
    await backlog.flush();
    const drainPerSecond = rows / ((performance.now() - drainStarted) / 1_000);
    await backlog.close();

    return {
      database,
      offeredPerSecond,
      sustainedPerSecond: total / ((done - started) / 1_000),
      lagMs: done - offeredUntil,
      drainPerSecond,
    };
  } finally {
    await handle.close();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}
