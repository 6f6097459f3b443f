/**
 * `pnpm bench` (full) and `pnpm bench --quick` (a short smoke run for CI: it fails when a
 * scenario errors, never on a number). Prints one table and writes bench/results/latest.json.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { freshPostgres } from './databases.ts';
import { spawnTs, stop, type LoadResult } from './processes.ts';
import { auditedMutation, writerThroughput } from './scenarios/audit.ts';
import { PRINTS_PER_SECOND, subscriptionFanout } from './scenarios/fanout.ts';
import { argon2Bound, loginFlood, signInFloor } from './scenarios/login.ts';
import { detectionOverhead, stuffingFlood } from './scenarios/detection.ts';
import { BATCH_SIZE, baselineQueries, measure, securedQueries, websocketQuery } from './scenarios/queries.ts';
import type { BenchServer, BenchServerOptions } from './server.ts';
import { settingsFrom, type Database } from './settings.ts';

const settings = settingsFrom(process.argv.slice(2));
const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

interface Row {
  scenario: string;
  database: Database | '-';
  load?: LoadResult;
  note?: string;
}

interface Ratio {
  name: string;
  database: Database | '-';
  value: number;
  /** Null: reported, no target yet. */
  target: number | null;
  /** 'max': the value must stay below the target (a latency), 'min' (default): reach it. */
  bound?: 'min' | 'max';
  unit?: string;
}

const rows: Row[] = [];
const ratios: Ratio[] = [];
const failures: string[] = [];
const details: unknown[] = [];

function checkLoad(scenario: string, load: { errors: number; non2xx: number; total: number }) {
  if (load.errors > 0 || load.non2xx > 0 || load.total === 0) {
    failures.push(`${scenario}: ${load.errors} errors, ${load.non2xx} non-2xx of ${load.total} requests`);
  }
}

function row(scenario: string, database: Database | '-', load: LoadResult) {
  checkLoad(`${scenario} (${database})`, load);
  rows.push({ scenario, database, load });
}

async function onDatabase(database: Database, run: (url: string | undefined) => Promise<void>) {
  if (database === 'pglite') return run(undefined);
  const fresh = await freshPostgres();
  try {
    await run(fresh.url);
  } finally {
    await fresh.drop();
  }
}

/** One scenario's failure is reported and the run goes on, so one table shows everything that did run. */
async function scenario(name: string, run: () => Promise<void>) {
  if (settings.only && !name.includes(settings.only)) return;
  try {
    await run();
  } catch (err) {
    failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

await scenario('baselines', async () => {
  const base = await baselineQueries(settings);
  row('raw node:http, same JSON', '-', base.raw);
  row('bare tRPC query', '-', base.bare);
  row(`bare tRPC query, ${BATCH_SIZE} per HTTP batch (calls/s)`, '-', base.batched);
  row('bare tRPC query + jose JWT check', '-', base.withJwt);
  ratios.push({ name: 'bare tRPC / raw node:http', database: '-', value: base.bare.rps / base.raw.rps, target: null });
  ratios.push({ name: `bare tRPC, batches of ${BATCH_SIZE} (calls/s) / raw`, database: '-', value: base.batched.rps / base.raw.rps, target: null });
  ratios.push({ name: 'bare tRPC + jose / bare tRPC', database: '-', value: base.withJwt.rps / base.bare.rps, target: null });
});

const bound = await argon2Bound(settings);
details.push({ scenario: 'argon2 verify', ...bound });
ratios.push({ name: `argon2, ${bound.cores} verifies at once / bound`, database: '-', value: bound.allCoresPerSecond / bound.perSecond, target: null });
const boundLabel = `argon2 bound (${bound.cores} × 1/${bound.verifyMs.toFixed(0)} ms = ${bound.perSecond.toFixed(1)}/s)`;

// The login target's context: how close to the bound a sign-in that is nothing but its hash gets.
let floorPerSecond: number | null = null;
await scenario('login floor', async () => {
  const floor = await signInFloor(settings, bound);
  row('sign-in floor: node:http + argon2 only', '-', floor.flood);
  rows.push({
    scenario: '  /healthz during that flood',
    database: '-',
    note: `p50 ${floor.health.p50.toFixed(1)} ms, p99 ${floor.health.p99.toFixed(1)} ms over ${floor.health.samples} probes (${floor.health.errors} errors)`,
  });
  floorPerSecond = floor.flood.rps;
  ratios.push({ name: 'sign-in floor / argon2 bound', database: '-', value: floor.ratio, target: null });
});

for (const database of ['pglite', 'postgres'] as const) {
  await scenario(`queries, WebSocket, login (${database})`, () =>
    onDatabase(database, async (url) => {
      const server = spawnTs<BenchServer>('./server.ts', { databaseUrl: url, audit: 'on' } satisfies BenchServerOptions);
      try {
        const s = await server.ready;
        const queries = await securedQueries(settings, s);
        row('bare tRPC query (side by side)', database, queries.bare);
        row('authenticated query (JWT, session, perm, limit)', database, queries.session);
        row('authenticated query, API key', database, queries.apiKey);
        ratios.push({ name: 'authenticated query / bare tRPC (median)', database, value: queries.sessionRatio, target: 0.9 });
        ratios.push({ name: 'API-key query / bare tRPC (median)', database, value: queries.apiKeyRatio, target: 0.9 });
        details.push({ scenario: 'secured queries', database, runs: queries.runs });

        // No tRPC query is public by design (the public surface is sign-in and refresh, pinned by
        // a test): the server's own /healthz stands for the unauthenticated path (helmet, routing).
        row('public path: GET /healthz (no tRPC)', database, await measure(settings, { url: `${s.url}/healthz` }));

        const ws = await websocketQuery(settings, s);
        row('authenticated query over WebSocket', database, ws.ws);
        ratios.push({ name: 'query over WebSocket / over HTTP', database, value: ws.ratio, target: null });

        const login = await loginFlood(settings, s, bound);
        row('auth.login (argon2id verify + session)', database, login.flood);
        rows.push({
          scenario: '  /healthz during the login flood',
          database,
          note: `p50 ${login.health.p50.toFixed(1)} ms, p99 ${login.health.p99.toFixed(1)} ms over ${login.health.samples} probes (${login.health.errors} errors)`,
        });
        if (login.health.errors > 0 || login.health.samples === 0) failures.push(`health probe during login (${database}): ${login.health.errors} errors`);
        ratios.push({ name: `login / ${boundLabel}`, database, value: login.ratio, target: 0.8 });
        if (floorPerSecond) ratios.push({ name: 'login / sign-in floor', database, value: login.flood.rps / floorPerSecond, target: null });
        ratios.push({ name: 'p99 of /healthz during the login flood', database, value: login.health.p99, target: 50, bound: 'max', unit: 'ms' });

        const stuffing = await stuffingFlood(settings, s);
        rows.push({
          scenario: 'auth.login, wrong passwords (credential stuffing)',
          database,
          note: `${num(stuffing.flood.rps)} req/s, all refused by design; ${stuffing.flood.errors} transport errors`,
        });
        rows.push({
          scenario: '  trader query during the stuffing flood',
          database,
          note: `p50 ${stuffing.trader.p50.toFixed(1)} ms, p99 ${stuffing.trader.p99.toFixed(1)} ms over ${stuffing.trader.samples} probes (${stuffing.trader.errors} errors)`,
        });
        if (stuffing.flood.errors > 0 || stuffing.flood.total === 0) failures.push(`stuffing flood (${database}): ${stuffing.flood.errors} errors of ${stuffing.flood.total}`);
        if (stuffing.trader.errors > 0 || stuffing.trader.samples === 0) failures.push(`trader probe during stuffing (${database}): ${stuffing.trader.errors} errors`);
        ratios.push({ name: 'p99 of a trader query during credential stuffing', database, value: stuffing.trader.p99, target: 50, bound: 'max', unit: 'ms' });
      } finally {
        await stop(server.child);
      }
    }),
  );
  await scenario(`detection on / off (${database})`, () =>
    onDatabase(database, async (url) => {
      const on = spawnTs<BenchServer>('./server.ts', { databaseUrl: url, audit: 'on', detection: 'on' } satisfies BenchServerOptions);
      const off = spawnTs<BenchServer>('./server.ts', { databaseUrl: url, audit: 'on', detection: 'off' } satisfies BenchServerOptions);
      try {
        const result = await detectionOverhead(settings, await on.ready, await off.ready);
        row('authenticated query, detection off', database, result.off);
        row('authenticated query, detection on', database, result.on);
        ratios.push({ name: 'authenticated query: detection on / off (median)', database, value: result.ratio, target: 0.95 });
        details.push({ scenario: 'detection on / off', database, runs: result.runs });
      } finally {
        await Promise.all([stop(on.child), stop(off.child)]);
      }
    }),
  );
  await scenario(`audited mutation (${database})`, async () => {
    const mutation = await auditedMutation(settings, database);
    row('users.unlock, audit log off', database, mutation.unaudited);
    row('users.unlock, audited', database, mutation.audited);
    ratios.push({ name: 'audited / unaudited mutation (median of pairs)', database, value: mutation.ratio, target: 0.9 });
    details.push({ scenario: 'audited / unaudited mutation', database, pairRatios: mutation.pairRatios, runs: mutation.runs });
  });
  await scenario(`audit writer (${database})`, () =>
    onDatabase(database, async (url) => {
      // Offered at the target on Postgres; the embedded database is single-threaded WASM, so it is
      // offered half that and reported without a target.
      const writer = await writerThroughput(settings, database, url, database === 'postgres' ? 20_000 : 10_000);
      rows.push({
        scenario: `audit writer, ${num(writer.offeredPerSecond)} rows/s offered`,
        database,
        note: `${num(writer.sustainedPerSecond)} rows/s written, last row ${Math.round(writer.lagMs)} ms after the last offer; backlog drains at ${num(writer.drainPerSecond)} rows/s`,
      });
      ratios.push({ name: 'audit writer: backlog drain rows/s', database, value: writer.drainPerSecond, target: database === 'postgres' ? 20_000 : null });
      ratios.push({
        name: `audit writer: written / offered at ${num(writer.offeredPerSecond)}/s`,
        database,
        value: writer.sustainedPerSecond / writer.offeredPerSecond,
        target: database === 'postgres' ? 0.98 : null,
      });
    }),
  );
  await scenario(`subscription fan-out (${database})`, () =>
    onDatabase(database, async (url) => {
      const fan = await subscriptionFanout(settings, url);
      const note = (r: typeof fan.trpc) =>
        `${num(r.messagesPerSecond)} msg/s of ${num(fan.offeredPerSecond)} offered; delivery p50 ${r.p50} ms, p99 ${r.p99} ms, max ${Math.round(r.max)} ms`;
      const label = `${fan.clients} clients × ${PRINTS_PER_SECOND} prints/s`;
      rows.push({ scenario: `raw ws broadcast, ${label}`, database, note: note(fan.broadcast) });
      rows.push({ scenario: `market.onTape fan-out, ${label}`, database, note: note(fan.trpc) });
      for (const [name, r] of [['raw ws broadcast', fan.broadcast], ['market.onTape fan-out', fan.trpc]] as const) {
        if (r.errors > 0 || r.total === 0) failures.push(`${name} (${database}): ${r.errors} errors, ${r.total} messages`);
      }
      ratios.push({ name: 'fan-out msg/s / raw ws broadcast msg/s', database, value: fan.ratio, target: 0.5 });
      ratios.push({ name: `fan-out p99 delivery at ${fan.clients} clients`, database, value: fan.trpc.p99, target: 50, bound: 'max', unit: 'ms' });
      details.push({ scenario: 'subscription fan-out', database, ...fan });
    }),
  );
}

const lines = [
  `${pad('scenario', 52)}${pad('db', 10)}${pad('req/s', 10)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('errors', 8)}`,
  ...rows.map((r) =>
    r.load
      ? `${pad(r.scenario, 52)}${pad(r.database, 10)}${pad(num(r.load.rps), 10)}${pad(String(Math.round(r.load.p50)), 8)}${pad(String(Math.round(r.load.p99)), 8)}${pad(String(r.load.errors + r.load.non2xx), 8)}`
      : `${pad(r.scenario, 52)}${pad(r.database, 10)}${r.note ?? ''}`,
  ),
  '',
  `${pad('ratio / rate', 60)}${pad('db', 10)}${pad('value', 11)}${pad('target', 10)}`,
  ...ratios.map((r) => {
    const fmt = (n: number) => (r.unit ? `${n.toFixed(n >= 100 ? 0 : 1)} ${r.unit}` : n >= 100 ? num(n) : n.toFixed(2));
    const met = r.target === null ? true : r.bound === 'max' ? r.value < r.target : r.value >= r.target;
    const target = r.target === null ? '-' : `${r.bound === 'max' ? '<' : '≥'} ${fmt(r.target)} ${met ? 'met' : 'MISSED'}`;
    return `${pad(r.name, 60)}${pad(r.database, 10)}${pad(fmt(r.value), 11)}${target}`;
  }),
];
process.stdout.write(`\nTape Vision benchmarks (${settings.quick ? 'quick' : 'full'}; ${os.cpus().length} CPUs, Node ${process.version})\n\n${lines.join('\n')}\n`);

const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const commit = (() => {
  try {
    return execSync('git rev-parse HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
})();
writeFileSync(
  // A partial run (--only) never stands in for the full table.
  `${resultsDir}${settings.only ? 'only' : settings.quick ? 'quick' : 'latest'}.json`,
  `${JSON.stringify({ at: new Date().toISOString(), mode: settings.quick ? 'quick' : 'full', cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, commit, rows, ratios, details }, null, 2)}\n`,
);

if (failures.length > 0) {
  process.stderr.write(`\nscenarios with errors:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
  process.exit(1);
}
