/**
 * `pnpm bench` (full) and `pnpm bench --quick` (a short smoke run for CI: it fails when a
 * scenario errors, never on a number). Prints one table and writes bench/results/latest.json.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { freshPostgres } from './databases.ts';
import type { LoadResult } from './processes.ts';
import { auditedMutation, writerThroughput } from './scenarios/audit.ts';
import { settingsFrom, type Database } from './settings.ts';

const settings = settingsFrom(process.argv.slice(2));
const pad = (s: string, n: number) => s.padEnd(n);
const num = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

interface Row {
  scenario: string;
  database: Database;
  load?: LoadResult;
  note?: string;
}

interface Ratio {
  name: string;
  database: Database;
  value: number;
  target: number | null;
}

const rows: Row[] = [];
const ratios: Ratio[] = [];
const failures: string[] = [];
const details: unknown[] = [];

function checkLoad(scenario: string, load: LoadResult) {
  if (load.errors > 0 || load.non2xx > 0 || load.total === 0) {
    failures.push(`${scenario}: ${load.errors} errors, ${load.non2xx} non-2xx of ${load.total} requests`);
  }
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

for (const database of ['pglite', 'postgres'] as const) {
  {
    const mutation = await auditedMutation(settings, database);
    checkLoad(`unaudited mutation (${database})`, mutation.unaudited);
    checkLoad(`audited mutation (${database})`, mutation.audited);
    rows.push({ scenario: 'users.unlock, audit log off', database, load: mutation.unaudited });
    rows.push({ scenario: 'users.unlock, audited', database, load: mutation.audited });
    ratios.push({ name: 'audited / unaudited mutation (median of pairs)', database, value: mutation.ratio, target: 0.9 });
    details.push({ scenario: 'audited / unaudited mutation', database, pairRatios: mutation.pairRatios, runs: mutation.runs });
  }
  await onDatabase(database, async (url) => {
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
  });
}

const lines = [
  `${pad('scenario', 44)}${pad('db', 10)}${pad('req/s', 10)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('errors', 8)}`,
  ...rows.map((r) =>
    r.load
      ? `${pad(r.scenario, 44)}${pad(r.database, 10)}${pad(num(r.load.rps), 10)}${pad(String(Math.round(r.load.p50)), 8)}${pad(String(Math.round(r.load.p99)), 8)}${pad(String(r.load.errors + r.load.non2xx), 8)}`
      : `${pad(r.scenario, 44)}${pad(r.database, 10)}${r.note ?? ''}`,
  ),
  '',
  `${pad('ratio / rate', 52)}${pad('db', 10)}${pad('value', 10)}${pad('target', 10)}`,
  ...ratios.map((r) => {
    const value = r.value >= 100 ? num(r.value) : r.value.toFixed(2);
    const target = r.target === null ? '-' : `${r.target >= 100 ? num(r.target) : `≥ ${r.target.toFixed(2)}`} ${r.value >= r.target ? 'met' : 'MISSED'}`;
    return `${pad(r.name, 52)}${pad(r.database, 10)}${pad(value, 10)}${target}`;
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
  `${resultsDir}${settings.quick ? 'quick' : 'latest'}.json`,
  `${JSON.stringify({ at: new Date().toISOString(), mode: settings.quick ? 'quick' : 'full', cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, commit, rows, ratios, details }, null, 2)}\n`,
);

if (failures.length > 0) {
  process.stderr.write(`\nscenarios with errors:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
  process.exit(1);
}
