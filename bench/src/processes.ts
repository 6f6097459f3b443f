import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs a TypeScript entry in a child Node process; resolves with its first JSON line on stdout. */
export function spawnTs<T>(entry: string, arg: unknown): { child: ChildProcess; ready: Promise<T> } {
  // BENCH_CPU_PROF=<dir>: the servers under test (ours and the baselines) write a V8 CPU profile there when they stop.
  const profile = process.env.BENCH_CPU_PROF && (entry === './server.ts' || entry === './baselines.ts') ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', here(entry), JSON.stringify(arg)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = new Promise<T>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`${entry}: unexpected output ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${entry} exited (${code}) before answering:\n${stderr.slice(-2000)}`)));
  });
  return { child, ready };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One autocannon run from a separate process. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const { child, ready } = spawnTs<LoadResult>('./load-worker.ts', opts);
  try {
    return await ready;
  } finally {
    child.kill();
  }
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
