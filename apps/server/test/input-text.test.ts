/**
 * Text the database cannot hold (NUL, unpaired surrogates) is refused by the one shared schema
 * rule: 400 with the field named in error.data.issues, nothing written, no SQL in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter, storableText } from '@tapevision/api';
import { apiKeys, auditLogs, bots, orders, users } from '@tapevision/db';
import { rawCall, type ProcedureType } from './support/probe.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { seedUser, signIn, strongPassword, type SignedIn } from './support/users.ts';

// The credentials auth.login and auth.changePassword check are only compared (an index lookup,
// argon2), never stored: any shape of them fails like a wrong one and counts toward the throttle
// and lock-out, so no input check can tell a guesser anything (brute-force.test.ts).
const CHECKED_CREDENTIALS = new Set(['auth.login:email', 'auth.login:password', 'auth.changePassword:currentPassword']);

interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string; checks?: unknown[]; format?: string } };
}

/** Every string schema inside `schema`, with the path of the field it validates ("*" for any key or index). */
function stringFields(schema: ZodLike, path: string[] = [], seen = new Set<unknown>()): { path: string; schema: ZodLike }[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = schema._zod.def;
  const inner = (key: string, at = path) => (def[key] ? stringFields(def[key] as ZodLike, at, seen) : []);
  switch (def.type) {
    case 'string':
      return [{ path: path.join('.'), schema }];
    case 'object':
      return Object.entries(def.shape as Record<string, ZodLike>).flatMap(([k, v]) => stringFields(v, [...path, k], seen));
    case 'record':
      return [...inner('keyType', [...path, '(key)']), ...inner('valueType', [...path, '*'])];
    case 'array':
      return inner('element', [...path, '*']);
    case 'union':
      return (def.options as ZodLike[]).flatMap((o) => stringFields(o, path, seen));
    case 'intersection':
      return [...inner('left'), ...inner('right')];
    case 'pipe':
      return [...inner('in'), ...inner('out')];
    case 'tuple':
      return [...(def.items as ZodLike[]).flatMap((o, i) => stringFields(o, [...path, String(i)], seen)), ...inner('rest', [...path, '*'])];
    case 'lazy':
      return stringFields((def.getter as () => ZodLike)(), path, seen);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
    case 'promise':
      return inner('innerType');
    default:
      return [];
  }
}

// Formats (uuid, email, ISO date-time) match only their own alphabet, which has no NUL or surrogate.
const SAFE_FORMATS = new Set(['uuid', 'email', 'datetime']);

describe('the text rule', () => {
  it('is on every free-text field of every procedure input, nested records and cursors included', () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { inputs: ZodLike[] } }>;
    const missing: string[] = [];
    let checked = 0;
    for (const [name, procedure] of Object.entries(procedures)) {
      for (const input of procedure._def.inputs) {
        for (const field of stringFields(input)) {
          const def = field.schema._zod.def;
          if (def.format && SAFE_FORMATS.has(def.format)) continue;
          if (CHECKED_CREDENTIALS.has(`${name}:${field.path}`)) continue;
          checked += 1;
          if (!def.checks?.includes(storableText)) missing.push(`${name}: ${field.path || '(input)'}`);
        }
      }
    }
    expect(missing).toEqual([]);
    // The walk reached the fields this issue named: names, reasons, search, cursors, filters, records.
    expect(checked).toBeGreaterThan(30);
  });
});

describe('text the database cannot hold, over HTTP', () => {
  let server: TestServer;
  let admin: SignedIn;
  let botId: string;

  beforeAll(async () => {
    server = await startTestServer({ rateLimits: { 'trading.execute': { points: 1_000, durationSeconds: 60 } } });
    admin = await signIn(server, await seedUser(server, 'admin'));
    const bot = await admin.client.bots.create.mutate({ name: 'base', strategy: 'momentum', symbols: ['ES'] });
    botId = bot.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Valid inputs: each string leaf in turn gets a bad character, so only that field is wrong. */
  function calls(): { path: string; type: ProcedureType; input: Record<string, unknown> }[] {
    const t = Date.now().toString(36);
    const filters = { actor: 'someone', ip: '203.0.113.9', resourceType: 'user', resourceId: 'r-1', cursor: 'c-1' };
    return [
      { path: 'users.list', type: 'query', input: { search: 'desk', cursor: 'a@desk.example' } },
      { path: 'users.create', type: 'mutation', input: { email: `new-${t}@desk.example`, role: 'viewer', password: strongPassword() } },
      { path: 'apiKeys.create', type: 'mutation', input: { name: `key ${t}`, permissions: ['trading.view'] } },
      { path: 'audit.list', type: 'query', input: filters },
      { path: 'audit.export', type: 'query', input: { actor: 'someone', resourceId: 'r-1', format: 'ndjson' } },
      {
        path: 'trading.execute',
        type: 'mutation',
        input: { action: 'BUY', symbol: 'ES', quantity: 1, type: 'market', reason: 'a good reason', clientOrderId: `c-${t}` },
      },
      { path: 'trading.orders', type: 'query', input: { cursor: 'c-1' } },
      { path: 'trading.trades', type: 'query', input: { cursor: 'c-1' } },
      { path: 'positions.close', type: 'mutation', input: { symbol: 'ES', clientOrderId: `close-${t}` } },
      {
        path: 'bots.create',
        type: 'mutation',
        input: { name: `bot ${t}`, strategy: 'momentum', symbols: ['ES'], parameters: { note: 'hello' }, credentials: { apiToken: 'secret-value' } },
      },
      { path: 'bots.update', type: 'mutation', input: { id: botId, name: 'renamed', parameters: { note: 'hi' }, credentials: { webhookUrl: 'https://x' } } },
      { path: 'auth.changePassword', type: 'mutation', input: { currentPassword: 'whatever-it-is', newPassword: strongPassword() } },
    ];
  }

  function stringLeaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
    if (typeof value === 'string') return [path];
    if (Array.isArray(value)) return value.flatMap((v, i) => stringLeaves(v, [...path, i]));
    if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, [...path, k]));
    return [];
  }

  function withLeaf(input: Record<string, unknown>, path: (string | number)[], bad: (s: string) => string): Record<string, unknown> {
    const copy = structuredClone(input);
    let at: Record<string | number, unknown> = copy;
    for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    at[last] = bad(at[last] as string);
    return copy;
  }

  async function counts() {
    const db = server.app.deps.db;
    await server.app.deps.audit.flush();
    const n = async (table: typeof users | typeof apiKeys | typeof bots | typeof orders | typeof auditLogs) => (await db.select().from(table)).length;
    return { users: await n(users), apiKeys: await n(apiKeys), bots: await n(bots), orders: await n(orders), audit: await n(auditLogs) };
  }

  const BAD = [
    ['a NUL byte', (s: string) => `${s.slice(0, 1)}\u0000${s.slice(1)}`],
    ['an unpaired surrogate', (s: string) => `${s.slice(0, 1)}\uD800${s.slice(1)}`],
  ] as const;

  for (const [label, bad] of BAD) {
    it(`refuses ${label} in any string field with 400 naming the field; nothing changes, no SQL in the log`, async () => {
      const before = await counts();
      const logsBefore = server.logs.length;
      const tried: string[] = [];
      for (const call of calls()) {
        for (const leaf of stringLeaves(call.input)) {
          const name = `${call.path}:${leaf.join('.')}`;
          if (CHECKED_CREDENTIALS.has(name)) continue;
          tried.push(name);
          const res = await rawCall(server, call.path, call.type, { token: admin.token, input: withLeaf(call.input, leaf, bad) });
          expect(res.status, name).toBe(400);
          const issues = (res.error?.data?.issues ?? []) as { path: (string | number)[] }[];
          expect(issues.length, name).toBeGreaterThan(0);
          // Every issue is about this field (a record key or value is reported under its record).
          for (const issue of issues) expect(leaf.join('.').startsWith(issue.path.join('.')) && issue.path.length > 0, `${name} ${JSON.stringify(issue)}`).toBe(true);
          expect(res.text, name).not.toMatch(/\b(select|insert into|update "|delete from)\b/i);
        }
      }
      expect(tried.length).toBeGreaterThan(25);
      expect(await counts()).toEqual(before);
      const logged = server.logs.slice(logsBefore).join('');
      expect(logged).not.toMatch(/procedure failed|"level":50/);
      expect(logged).not.toMatch(/\b(select|insert into|update "|delete from)\b/i);
      // Not too strict: paired surrogates (emoji) are ordinary text.
      await expect(admin.client.bots.update.mutate({ id: botId, name: 'Rocket 🚀 bot' })).resolves.toMatchObject({ name: 'Rocket 🚀 bot' });
    });
  }
});
