import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '@tapevision/api';
import { openDatabase, auditLogs, users } from '@tapevision/db';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { killAllServerProcesses, startServerProcess, type ServerProcess } from './support/process.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL, startTestServer } from './support/server.ts';
import { strongPassword } from './support/users.ts';

const PG = process.env.TEST_DATABASE_URL;
const DEFAULT_ADMIN = 'admin@tapevision.local';
const OTP_LINE = /one-time password:\s+(\S+)/g;
const PROCESS_TEST = { timeout: 120_000 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAllServerProcesses();
});
afterAll(async () => {
  await killAllServerProcesses();
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tv-${prefix}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Where a started process keeps its data: DATA_DIR (embedded PGlite), plus a fresh Postgres
 * database as DATABASE_URL when TEST_DATABASE_URL is set.
 */
async function store(prefix: string): Promise<{ env: Record<string, string>; dataDir: string; databaseUrl: string | undefined }> {
  const dataDir = tempDir(prefix);
  if (!PG) return { env: { DATA_DIR: dataDir }, dataDir, databaseUrl: undefined };
  const fresh = await createFreshDatabase(PG);
  cleanups.push(() => fresh.drop());
  return { env: { DATA_DIR: dataDir, DATABASE_URL: fresh.url }, dataDir, databaseUrl: fresh.url };
}

/** Reads the process's database after it stopped (PGlite allows one process at a time). */
async function readDatabase(where: { dataDir: string; databaseUrl: string | undefined }) {
  const handle = await openDatabase({ url: where.databaseUrl, dataDir: where.databaseUrl ? undefined : path.join(where.dataDir, 'pglite') });
  try {
    return { users: await handle.db.select().from(users), audit: await handle.db.select().from(auditLogs) };
  } finally {
    await handle.close();
  }
}

function otps(output: string): string[] {
  return [...output.matchAll(OTP_LINE)].map((m) => m[1] as string);
}

describe('first run', () => {
  it('prints a one-time password for the default admin exactly once; it works once and must be changed', PROCESS_TEST, async () => {
    const where = await store('first-run');
    const first = startServerProcess(where.env);
    const { url, trpcUrl } = await first.listening();

    const printed = otps(first.stdout);
    expect(printed).toHaveLength(1);
    const otp = printed[0] as string;
    expect(first.stdout).toContain(DEFAULT_ADMIN);
    // Only in the banner: not in any log line, not on stderr.
    expect(first.stdout.split(otp)).toHaveLength(2);
    expect(first.stderr).not.toContain(otp);
    for (const line of first.stdout.split('\n').filter((l) => l.startsWith('{'))) expect(line).not.toContain(otp);

    const anon = httpClient({ trpcUrl });
    const login = await anon.auth.login.mutate({ email: DEFAULT_ADMIN, password: otp });
    expect(login.user).toMatchObject({ email: DEFAULT_ADMIN, role: 'admin', mustChangePassword: true });
    const admin = httpClient({ trpcUrl }, { token: login.accessToken });
    expect(errorData(await rejectionOf(admin.users.list.query()))).toMatchObject({ code: 'FORBIDDEN', reason: 'PASSWORD_CHANGE_REQUIRED' });
    const chosen = strongPassword();
    await admin.auth.changePassword.mutate({ currentPassword: otp, newPassword: chosen });
    await expect(admin.users.list.query()).resolves.toMatchObject({ items: [{ email: DEFAULT_ADMIN, role: 'admin' }] });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await first.stop()).code).toBe(0);

    // Second start on the same data: no new admin, nothing printed, the chosen password works.
    const second = startServerProcess(where.env);
    const again = await second.listening();
    expect(otps(second.stdout)).toEqual([]);
    expect(second.stdout).not.toContain('First run');
    await expect(httpClient(again).auth.login.mutate({ email: DEFAULT_ADMIN, password: otp })).rejects.toThrow('Invalid email or password');
    const relogin = await httpClient(again).auth.login.mutate({ email: DEFAULT_ADMIN, password: chosen });
    expect(relogin.user.mustChangePassword).toBe(false);
    expect((await second.stop()).code).toBe(0);

    const db = await readDatabase(where);
    expect(db.users.map((u) => [u.email, u.role])).toEqual([[DEFAULT_ADMIN, 'admin']]);
    expect(db.audit.filter((r) => r.action === 'user.bootstrap_admin')).toHaveLength(1);
    expect(JSON.stringify(db.audit)).not.toContain(otp);
    expect(JSON.stringify(db.users)).not.toContain(otp);
  });

  it('creates the admin from ADMIN_EMAIL / ADMIN_PASSWORD without forcing a change, and never prints the password', PROCESS_TEST, async () => {
    const where = await store('env-admin');
    const password = strongPassword();
    const proc = startServerProcess({ ...where.env, ADMIN_EMAIL: 'Boss@Desk.Example', ADMIN_PASSWORD: password });
    const { trpcUrl } = await proc.listening();
    expect(otps(proc.stdout)).toEqual([]);
    expect(proc.stdout).toContain('boss@desk.example');
    expect(proc.stdout + proc.stderr).not.toContain(password);

    const login = await httpClient({ trpcUrl }).auth.login.mutate({ email: 'boss@desk.example', password });
    expect(login.user).toMatchObject({ email: 'boss@desk.example', role: 'admin', mustChangePassword: false });
    await expect(httpClient({ trpcUrl }, { token: login.accessToken }).users.list.query()).resolves.toMatchObject({
      items: [{ email: 'boss@desk.example' }],
    });
    await expect(httpClient({ trpcUrl }).auth.login.mutate({ email: DEFAULT_ADMIN, password })).rejects.toThrow('Invalid email or password');
    expect((await proc.stop()).code).toBe(0);
  });

  it('refuses a weak ADMIN_PASSWORD with a clear message and creates nobody', PROCESS_TEST, async () => {
    const where = await store('weak-admin');
    const proc = startServerProcess({ ...where.env, ADMIN_PASSWORD: 'password1234' });
    const { code } = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.stdout + proc.stderr).toContain('ADMIN_PASSWORD is not acceptable');
    expect(proc.stdout + proc.stderr).not.toContain('password1234');
    expect((await readDatabase(where)).users).toEqual([]);
  });
});

describe('the JWT secret', () => {
  it('is required in production: missing or 10 bytes stops the server with a message naming JWT_SECRET', PROCESS_TEST, async () => {
    for (const secret of [undefined, '0123456789']) {
      const where = await store('prod-secret');
      const proc = startServerProcess({ ...where.env, NODE_ENV: 'production', JWT_SECRET: secret });
      const { code } = await proc.exited;
      expect(code, `JWT_SECRET=${secret}`).not.toBe(0);
      expect(proc.stderr, `JWT_SECRET=${secret}`).toMatch(/^Tape Vision cannot start: .*JWT_SECRET/m);
      expect(proc.stderr).toMatch(/at least 32 (random )?bytes/);
      expect(proc.stdout).not.toMatch(/listening/);
      if (secret) expect(proc.stdout + proc.stderr).not.toContain(secret);
      // Nothing generated behind the operator's back.
      expect(existsSync(path.join(where.dataDir, 'jwt-secret'))).toBe(false);
    }
  });

  it('can come from JWT_SECRET_FILE in production; a missing file is a clear error', PROCESS_TEST, async () => {
    const where = await store('secret-file');
    const secretFile = path.join(tempDir('secret'), 'jwt.key');
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

    const missing = startServerProcess({ ...where.env, NODE_ENV: 'production', JWT_SECRET_FILE: `${secretFile}.nope` });
    expect((await missing.exited).code).not.toBe(0);
    expect(missing.stderr).toMatch(/JWT_SECRET_FILE .* cannot be read/);

    const encryptionKey = randomBytes(32).toString('base64');
    const auditKey = randomBytes(32).toString('base64url');
    const auditKeyFile = path.join(tempDir('audit-key'), 'audit.key');
    writeFileSync(auditKeyFile, `a1:${auditKey}\n`, { mode: 0o600 });
    const proc = startServerProcess({
      ...where.env,
      NODE_ENV: 'production',
      JWT_SECRET_FILE: secretFile,
      ENCRYPTION_KEY: encryptionKey,
      AUDIT_KEY_FILE: auditKeyFile,
      ADMIN_PASSWORD: 'violet-harbor-quantum-lantern-7',
    });
    const { url, trpcUrl } = await proc.listening();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const login = await httpClient({ trpcUrl }).auth.login.mutate({ email: DEFAULT_ADMIN, password: 'violet-harbor-quantum-lantern-7' });
    await expect(httpClient({ trpcUrl }, { token: login.accessToken }).auth.me.query()).resolves.toMatchObject({ role: 'admin' });
    expect(proc.stdout + proc.stderr).not.toContain(secret);
    expect(proc.stdout + proc.stderr).not.toContain(encryptionKey);
    expect(existsSync(path.join(where.dataDir, 'jwt-secret'))).toBe(false);
    expect(existsSync(path.join(where.dataDir, 'encryption-key'))).toBe(false);
    expect(proc.stdout + proc.stderr).not.toContain(auditKey);
    expect(existsSync(path.join(where.dataDir, 'audit-key'))).toBe(false);
    expect((await proc.stop()).code).toBe(0);
  });

  it('needs AUDIT_KEY in production and says so in one line; in development generates it once into DATA_DIR/audit-key (0600)', PROCESS_TEST, async () => {
    const where = await store('audit-key');
    const base = {
      ...where.env,
      NODE_ENV: 'production',
      JWT_SECRET: randomBytes(48).toString('base64url'),
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    const missing = startServerProcess(base);
    expect((await missing.exited).code).not.toBe(0);
    expect(missing.stderr).toMatch(/^Tape Vision cannot start: AUDIT_KEY \(or AUDIT_KEY_FILE\) is required when NODE_ENV=production/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const short = randomBytes(10).toString('hex');
    const weak = startServerProcess({ ...base, AUDIT_KEY: short });
    expect((await weak.exited).code).not.toBe(0);
    expect(weak.stderr).toMatch(/^Tape Vision cannot start: AUDIT_KEY is 10 bytes long/);
    expect(weak.stdout + weak.stderr).not.toContain(short);
    const file = path.join(where.dataDir, 'audit-key');
    expect(existsSync(file)).toBe(false);

    const dev = startServerProcess({ ...where.env, ADMIN_PASSWORD: 'amber-orchid-tundra-falcon-9' });
    await dev.listening();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readFileSync(file, 'utf8').trim();
    expect(dev.stdout).toContain('AUDIT_KEY is not set');
    expect(dev.stdout + dev.stderr).not.toContain(key);
    expect((await dev.stop()).code).toBe(0);
    // The shutdown checkpoint, signed with that key, lies beside it.
    expect(readFileSync(path.join(where.dataDir, 'audit-checkpoints'), 'utf8')).toMatch(/"mac":"[0-9a-f]{64}"/);
    const again = startServerProcess(where.env);
    await again.listening();
    expect(readFileSync(file, 'utf8').trim()).toBe(key);
    const ended = await again.stop();
    // Once seen in CI ending with code null (a signal) on a loaded machine: say how, with its output.
    expect(ended.code, `ended by ${ended.signal} after ${ended.ms} ms\nstdout:\n${again.stdout}\nstderr:\n${again.stderr}`).toBe(0);
  });

  it('needs ENCRYPTION_KEY in production, and says so (or what is wrong with it) in one line, never printing it', PROCESS_TEST, async () => {
    const where = await store('encryption-key');
    const base = { ...where.env, NODE_ENV: 'production', JWT_SECRET: randomBytes(48).toString('base64url') };
    const missing = startServerProcess(base);
    expect((await missing.exited).code).not.toBe(0);
    expect(missing.stderr).toMatch(/^Tape Vision cannot start: ENCRYPTION_KEY \(or ENCRYPTION_KEY_FILE\) is required when NODE_ENV=production/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const short = randomBytes(10).toString('hex');
    const weak = startServerProcess({ ...base, ENCRYPTION_KEY: short });
    expect((await weak.exited).code).not.toBe(0);
    expect(weak.stderr).toMatch(/^Tape Vision cannot start: .*ENCRYPTION_KEY/);
    expect(weak.stdout + weak.stderr).not.toContain(short);
    expect(existsSync(path.join(where.dataDir, 'encryption-key'))).toBe(false);
  });

  it('is generated once into DATA_DIR/jwt-secret (0600) in development, never printed, and kept across restarts', PROCESS_TEST, async () => {
    const where = await store('dev-secret');
    const file = path.join(where.dataDir, 'jwt-secret');
    const first = startServerProcess({ ...where.env, ADMIN_PASSWORD: 'amber-orchid-tundra-falcon-9' });
    const { trpcUrl } = await first.listening();
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = readFileSync(file, 'utf8').trim();
    expect(Buffer.byteLength(secret)).toBeGreaterThanOrEqual(32);
    expect(first.stdout + first.stderr).not.toContain(secret);
    expect(first.stdout).toContain('JWT_SECRET is not set');

    const login = await httpClient({ trpcUrl }).auth.login.mutate({ email: DEFAULT_ADMIN, password: 'amber-orchid-tundra-falcon-9' });
    expect((await first.stop()).code).toBe(0);

    const second = startServerProcess(where.env);
    const again = await second.listening();
    expect(readFileSync(file, 'utf8').trim()).toBe(secret);
    // A token signed before the restart still verifies: same secret.
    await expect(httpClient(again, { token: login.accessToken }).auth.me.query()).resolves.toMatchObject({ role: 'admin' });
    expect(second.stdout + second.stderr).not.toContain(secret);
    expect((await second.stop()).code).toBe(0);
  });
});

describe('shutdown', () => {
  it('is ready before, and on SIGTERM exits 0 within a few seconds, audited', PROCESS_TEST, async () => {
    const where = await store('sigterm');
    const proc = startServerProcess({ ...where.env, ADMIN_PASSWORD: 'quiver-falcon-orchid-amber-5' });
    const { url } = await proc.listening();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: PG ? 'postgres' : 'pglite' });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    const { code, signal, ms } = await proc.stop();
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(8_000);
    expect(proc.stdout).toMatch(/"msg":"shutting down"/);
    expect(proc.stdout).toMatch(/"msg":"stopped"/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    const db = await readDatabase(where);
    const actions = db.audit.map((r) => r.action);
    expect(actions).toContain('system.started');
    expect(actions).toContain('system.stopped');
  });
});

describe('two servers starting at once on one empty database', () => {
  it('create exactly one admin (two bootstraps racing on the test database)', async () => {
    const server = await startTestServer();
    try {
      const results = await Promise.all(
        Array.from({ length: 4 }, () => bootstrapAdmin(server.app.deps, { email: DEFAULT_ADMIN })),
      );
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      const rows = await server.app.deps.db.select().from(users);
      expect(rows.map((u) => u.email)).toEqual([DEFAULT_ADMIN]);
      const audit = (await server.app.deps.db.select().from(auditLogs)).filter((r) => r.action === 'user.bootstrap_admin');
      expect(audit).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  // Two processes need a database they can share: Postgres, in both CI passes.
  it('create exactly one admin (two server processes on Postgres)', PROCESS_TEST, async () => {
    const fresh = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
    cleanups.push(() => fresh.drop());
    const secret = randomBytes(48).toString('base64url');
    const procs: ServerProcess[] = [0, 1].map(() =>
      startServerProcess({ DATA_DIR: tempDir('race'), DATABASE_URL: fresh.url, JWT_SECRET: secret }),
    );
    const urls = await Promise.all(procs.map((p) => p.listening()));
    const printed = procs.flatMap((p) => otps(p.stdout));
    expect(printed).toHaveLength(1);

    const sql = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<{ email: string; role: string }[]>`select email, role from users`;
      expect(rows.map((r) => [r.email, r.role])).toEqual([[DEFAULT_ADMIN, 'admin']]);
      const audit = await sql<{ n: number }[]>`select count(*)::int as n from audit_logs where action = 'user.bootstrap_admin'`;
      expect(audit[0]?.n).toBe(1);
    } finally {
      await sql.end();
    }
    // Either process accepts the one password: they share the database and the secret.
    for (const u of urls) {
      await expect(httpClient(u).auth.login.mutate({ email: DEFAULT_ADMIN, password: printed[0] as string })).resolves.toMatchObject({
        user: { mustChangePassword: true },
      });
    }
    for (const p of procs) expect((await p.stop()).code).toBe(0);
  });
});
