/**
 * The real server as a child process (`node --import tsx src/main.ts`), for start-up tests:
 * collects its output, finds the port it logged, and is always killed in the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const SERVER_DIR = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** Resolves with the base URL once the "listening" line is logged; rejects if the process exits first. */
  listening(timeoutMs?: number): Promise<{ url: string; trpcUrl: string; wsUrl: string; port: number }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

const live = new Set<ServerProcess>();

/** A clean environment: nothing from the test runner leaks in (NODE_ENV=test, DATABASE_URL...). */
export function baseEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    LANG: process.env.LANG,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

export function startServerProcess(env: Record<string, string | undefined>): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVER_DIR,
    env: baseEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let running = true;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });

  const proc: ServerProcess = {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    get running() {
      return running;
    },
    async listening(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const port = loggedPort(stdout);
        if (port) return { port, url: `http://127.0.0.1:${port}`, trpcUrl: `http://127.0.0.1:${port}/trpc`, wsUrl: `ws://127.0.0.1:${port}/trpc` };
        if (!running) throw new Error(`server exited before listening\nstdout:\n${stdout}\nstderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`server did not listen within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(graceMs = 15_000) {
      const started = Date.now();
      if (running) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (running) child.kill('SIGKILL');
      }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      live.delete(proc);
      return { ...result, ms: Date.now() - started };
    },
  };
  live.add(proc);
  void exited.then(() => live.delete(proc));
  return proc;
}

/** The port from pino's "listening" JSON line. */
export function loggedPort(stdout: string): number | null {
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { port?: unknown; msg?: unknown };
      if (typeof entry.port === 'number' && typeof entry.msg === 'string' && entry.msg.includes('listening')) return entry.port;
    } catch {
      // not a log line
    }
  }
  return null;
}

/** Kills (SIGKILL) every server process a test left running, and waits for them. */
export async function killAllServerProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(async (p) => {
      if (p.running) p.child.kill('SIGKILL');
      await p.exited;
      live.delete(p);
    }),
  );
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one of the server's command-line tools as an operator would, in a clean environment:
 * `src/<file>` under node, or the root `pnpm <script>` that wraps it.
 */
export function runServerCli(
  tool: { file: string; script: string },
  env: Record<string, string | undefined>,
  args: string[] = [],
  via: 'node' | 'pnpm' = 'node',
): Promise<CliResult> {
  const [command, argv, cwd] =
    via === 'node'
      ? [process.execPath, ['--import', 'tsx', `src/${tool.file}`, ...args], SERVER_DIR]
      : ['pnpm', ['-s', tool.script, ...args], path.resolve(SERVER_DIR, '../..')];
  const child = spawn(command, argv, { cwd, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
