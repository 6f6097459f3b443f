import { randomUUID } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import { bots, users, type Bot, type Queryable, type Tx } from '@tapevision/db';
import { auditedTransaction, type AuditActor, type RequestOrigin } from '../audit/recorder.ts';
import type { AuditAction } from '../audit/actions.ts';
import { isEncrypted } from '../crypto/secret-box.ts';
import { isSecretField, MaskedSecretError, maskSecrets, openSecrets, SECRET_MASK, sealSecrets } from '../crypto/secret-fields.ts';
import { SecretBoxError } from '../crypto/secret-box.ts';
import { rotateSecrets } from '../crypto/rotate.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import { roleHasPermission, type Permission } from '../permissions.ts';
import {
  strategyParameterIssues,
  type BotCredentials,
  type BotParameters,
  type BotView,
  type CreateBotInput,
  type ListBotsInput,
  type StrategyName,
  type UpdateBotInput,
} from '../schemas/bots.ts';
import { STRATEGIES } from '../trading/strategies/index.ts';
import { activeLockdown, lockdownRefusal, lockLockdownShared } from '../security/lockdown/state.ts';

/** Carries `{ id }` of a bot that changed; every process's runner reloads it from the row. */
export const BOTS_CHANNEL = 'bots';

/** A bound on rows per owner, so one account cannot fill the table (or the runner). */
export const MAX_BOTS_PER_OWNER = 50;
const MAX_LISTED = 1_000;

export interface BotActor {
  /** The account acting: the signed-in user, or the owner of the API key. */
  userId: string;
  /** What the caller may do now (an API key: its rights its owner still holds). */
  permissions: ReadonlySet<Permission>;
  actor: AuditActor;
  origin: RequestOrigin;
}

/** Those who see every account (accounts.view: admins, and viewers who watch the desk) read every bot. */
function seesAllAccounts(who: BotActor): boolean {
  return who.permissions.has('accounts.view');
}

/** Admins (users.manage) may stop or delete any bot, a runaway one say; only the owner edits or starts one. */
function managesAllBots(who: BotActor): boolean {
  return who.permissions.has('users.manage');
}

/** AAD prefix: every sealed value is bound to its bot, then to its column and key. */
export function botAad(id: string): string {
  return `bot:${id}`;
}

interface Sealed {
  parameters: Record<string, unknown>;
  credentials: Record<string, string>;
}

/**
 * `credentials` is itself a secret-named key, so every value under it is sealed; under
 * `parameters` only the secret-named ones are. One prefix for both keeps the AAD of each value
 * `["bot:<id>","<column>","<key>"]`.
 */
export function sealBotSecrets(deps: Pick<ApiDeps, 'keyring'>, id: string, plain: Sealed): Sealed {
  return sealSecrets(deps.keyring, plain, botAad(id));
}

/** The plaintext of a bot's secrets: for the runner and for tests, never for a response. */
export function openBotSecrets(deps: Pick<ApiDeps, 'keyring'>, row: Pick<Bot, 'id' | 'parameters' | 'credentials'>): Sealed {
  return openSecrets(deps.keyring, { parameters: row.parameters, credentials: row.credentials }, botAad(row.id));
}

export function toBotView(row: Bot): BotView {
  const masked = maskSecrets({ parameters: row.parameters, credentials: row.credentials });
  return {
    id: row.id,
    ownerId: row.ownerId,
    name: row.name,
    strategy: row.strategy as StrategyName,
    symbols: [...row.symbols],
    parameters: masked.parameters,
    credentials: masked.credentials,
    status: row.status,
    lastError: row.lastError,
    startedAt: row.startedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}

/** Strategy parameters with defaults filled in; the other keys kept as sent. */
function withDefaults(strategy: StrategyName, parameters: Record<string, unknown>): Record<string, unknown> {
  const issues = strategyParameterIssues(strategy, parameters);
  if (issues.length > 0) {
    throw appError('BAD_REQUEST', 'Invalid strategy parameters', { reason: 'INVALID_PARAMETERS', issues: issues.map((i) => ({ ...i, path: ['parameters', ...i.path] })) });
  }
  return { ...parameters, ...(STRATEGIES[strategy].parameters.parse(parameters) as Record<string, unknown>) };
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}

function nameTaken(): Error {
  return appError('CONFLICT', 'You already have a bot with this name', { reason: 'BOT_NAME_TAKEN' });
}

function notFound(): Error {
  return appError('NOT_FOUND', 'No such bot', { reason: 'BOT_NOT_FOUND' });
}

/** A sealed value that no longer opens (moved, altered, or its key removed): refuse, naming no secret. */
function unreadable(): Error {
  return appError('PRECONDITION_FAILED', "The bot's saved secrets cannot be opened with the current keys", { reason: 'BOT_SECRETS_UNREADABLE' });
}

function sealOrRefuse(deps: ApiDeps, id: string, plain: Sealed): Sealed {
  try {
    return sealBotSecrets(deps, id, plain);
  } catch (err) {
    if (err instanceof MaskedSecretError) {
      throw appError('BAD_REQUEST', 'A masked secret was sent where no secret is saved', { reason: 'MASK_WITHOUT_SECRET' });
    }
    if (err instanceof SecretBoxError) {
      // A ciphertext pasted in from elsewhere, or a stored one that no longer opens.
      throw appError('BAD_REQUEST', 'A secret value is not valid here', { reason: 'SECRET_REFUSED' });
    }
    throw err;
  }
}

/**
 * Loads a bot the caller may see, locked for update when `tx` is a transaction that asks for it.
 * Another account's bot answers as a missing one, so ids reveal nothing to those who may not see it.
 */
async function visibleBot(db: Queryable, id: string, who: BotActor, lock: boolean): Promise<Bot> {
  const query = db.select().from(bots).where(eq(bots.id, id));
  const [row] = lock ? await query.for('update') : await query;
  if (!row || (row.ownerId !== who.userId && !seesAllAccounts(who))) throw notFound();
  return row;
}

function requireOwner(row: Bot, who: BotActor): void {
  if (row.ownerId !== who.userId) throw appError('FORBIDDEN', "Only the bot's owner may do this", { reason: 'BOT_OWNER_ONLY' });
}

function requireOwnerOrAdmin(row: Bot, who: BotActor): void {
  if (row.ownerId !== who.userId && !managesAllBots(who)) throw appError('FORBIDDEN', "Only the bot's owner or an admin may do this", { reason: 'BOT_OWNER_ONLY' });
}

async function announce(deps: ApiDeps, row: Pick<Bot, 'id'>): Promise<void> {
  try {
    await deps.bus.publish(BOTS_CHANNEL, { id: row.id });
  } catch (err) {
    // The runners also reload on a timer: a lost notice delays a start or stop, it does not lose it.
    deps.logger.warn({ err, botId: row.id }, 'bot change notice not published');
  }
}

// Inside the transaction of the change: the bot and its audit row commit together.
async function audit(
  deps: ApiDeps,
  tx: Tx,
  action: AuditAction,
  who: Pick<BotActor, 'actor' | 'origin'>,
  row: Bot,
  details: Record<string, unknown>,
): Promise<void> {
  await deps.audit.recordIn(tx, {
    action,
    outcome: 'success',
    actor: who.actor,
    origin: who.origin,
    resource: { type: 'bot', id: row.id },
    details: { ownerId: row.ownerId, name: row.name, version: row.version, ...details },
  });
}

/** Names (never values) of the secret fields that hold something: audit details may carry these. */
function secretFieldNames(sealed: Sealed): string[] {
  const names = Object.entries(sealed.credentials)
    .filter(([, v]) => v !== '')
    .map(([k]) => `credentials.${k}`);
  for (const [k, v] of Object.entries(sealed.parameters)) if (isEncrypted(v) || (isSecretField(k) && v !== '')) names.push(`parameters.${k}`);
  return names.sort();
}

export async function createBot(deps: ApiDeps, input: CreateBotInput, who: BotActor): Promise<BotView> {
  const id = randomUUID();
  const parameters = withDefaults(input.strategy, input.parameters);
  const sealed = sealOrRefuse(deps, id, { parameters, credentials: input.credentials });
  const now = deps.clock.now();
  let row: Bot;
  try {
    row = await auditedTransaction(deps, async (tx: Tx) => {
      // Serialises creates per owner, so two at once cannot both pass the count.
      await tx.select({ id: users.id }).from(users).where(eq(users.id, who.userId)).for('update');
      const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(bots).where(eq(bots.ownerId, who.userId));
      if (count >= MAX_BOTS_PER_OWNER) throw appError('PRECONDITION_FAILED', `At most ${MAX_BOTS_PER_OWNER} bots per account`, { reason: 'BOT_LIMIT' });
      const [created] = await tx
        .insert(bots)
        .values({
          id,
          ownerId: who.userId,
          name: input.name,
          strategy: input.strategy,
          symbols: input.symbols,
          parameters: sealed.parameters,
          credentials: sealed.credentials,
          status: 'stopped',
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!created) throw new Error('bot insert returned nothing');
      await audit(deps, tx, 'bot.created', who, created, { strategy: created.strategy, symbols: created.symbols, sealedFields: secretFieldNames(sealed) });
      return created;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
  await announce(deps, row);
  return toBotView(row);
}

export async function listBots(deps: ApiDeps, input: ListBotsInput, who: BotActor): Promise<BotView[]> {
  const ownerId = input?.ownerId;
  if (ownerId !== undefined && ownerId !== who.userId && !seesAllAccounts(who)) {
    throw appError('FORBIDDEN', "Only those who see every account may list another user's bots", { reason: 'OWN_ACCOUNT_ONLY' });
  }
  const filter = ownerId ?? (seesAllAccounts(who) ? undefined : who.userId);
  const rows = await deps.db
    .select()
    .from(bots)
    .where(filter ? eq(bots.ownerId, filter) : undefined)
    .orderBy(asc(bots.createdAt), asc(bots.id))
    .limit(MAX_LISTED);
  return rows.map(toBotView);
}

export async function getBot(deps: ApiDeps, id: string, who: BotActor): Promise<BotView> {
  return toBotView(await visibleBot(deps.db, id, who, false));
}

/**
 * Replaces `next`'s SECRET_MASK values by what is stored at the same key, so a form sent back as
 * it was shown keeps its secrets. A mask where nothing is stored is refused: it would save the mask.
 */
function keepMasked<T extends Record<string, unknown>>(next: T, stored: Record<string, unknown>, secretOnly: boolean): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(next)) {
    if (value === SECRET_MASK && (!secretOnly || isSecretField(key))) {
      const kept = stored[key];
      if (typeof kept !== 'string' || kept === '') {
        throw appError('BAD_REQUEST', `"${key}" was sent masked, but no secret is saved for it`, { reason: 'MASK_WITHOUT_SECRET', field: key });
      }
      Object.defineProperty(out, key, { value: kept, enumerable: true, writable: true, configurable: true });
    } else {
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return out as T;
}

/** Secret fields whose stored value is new, replaced or removed: names only, for the audit row. */
function changedSecretFields(before: Sealed, after: Sealed): string[] {
  const changed: string[] = [];
  const compare = (column: 'parameters' | 'credentials', isSecret: (key: string, value: unknown) => boolean) => {
    const a = before[column] as Record<string, unknown>;
    const b = after[column] as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!isSecret(key, a[key]) && !isSecret(key, b[key])) continue;
      if (a[key] !== b[key]) changed.push(`${column}.${key}`);
    }
  };
  compare('credentials', () => true);
  compare('parameters', (key, value) => isSecretField(key) || isEncrypted(value));
  return changed.sort();
}

/** JSON with object keys sorted: jsonb does not keep key order, so equal objects must compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export async function updateBot(deps: ApiDeps, input: UpdateBotInput, who: BotActor): Promise<BotView> {
  let result: { row: Bot; changed: string[]; secretsChanged: string[] } | null;
  try {
    result = await auditedTransaction(deps, async (tx: Tx) => {
      const before = await visibleBot(tx, input.id, who, true);
      requireOwner(before, who);
      if (input.version !== undefined && input.version !== before.version) {
        throw appError('CONFLICT', 'The bot was changed since it was read: reload it and try again', { reason: 'BOT_VERSION_CONFLICT', version: before.version });
      }
      const strategy = input.strategy ?? (before.strategy as StrategyName);
      const storedParameters = before.parameters;
      const nextParameters = input.parameters ? keepMasked(input.parameters, storedParameters, true) : storedParameters;
      const nextCredentials = input.credentials ? keepMasked(input.credentials, before.credentials, false) : before.credentials;
      // Validate the plaintext of the merged parameters: a masked secret is not a strategy value.
      const merged = withDefaults(strategy, nextParameters);
      const sealed = sealOrRefuse(deps, before.id, { parameters: merged, credentials: nextCredentials });
      const patch = {
        name: input.name ?? before.name,
        strategy,
        symbols: input.symbols ?? before.symbols,
        parameters: sealed.parameters,
        credentials: sealed.credentials,
      };
      const changed = (Object.keys(patch) as (keyof typeof patch)[]).filter((k) => canonical(patch[k]) !== canonical(before[k]));
      if (changed.length === 0) return { row: before, changed, secretsChanged: [] };
      const [row] = await tx
        .update(bots)
        .set({ ...patch, updatedAt: deps.clock.now(), version: sql`${bots.version} + 1` })
        .where(eq(bots.id, before.id))
        .returning();
      if (!row) throw new Error('bot update returned nothing');
      const secretsChanged = changedSecretFields(before, sealed);
      await audit(deps, tx, 'bot.updated', who, row, { changed, sealedFieldsChanged: secretsChanged, strategy: row.strategy, symbols: row.symbols });
      return { row, changed, secretsChanged };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken();
    throw err;
  }
  const { row, changed } = result;
  if (changed.length > 0) await announce(deps, row);
  return toBotView(row);
}

export async function deleteBot(deps: ApiDeps, id: string, who: BotActor): Promise<{ id: string; deleted: true }> {
  const row = await auditedTransaction(deps, async (tx: Tx) => {
    const before = await visibleBot(tx, id, who, true);
    requireOwnerOrAdmin(before, who);
    await tx.delete(bots).where(eq(bots.id, before.id));
    await audit(deps, tx, 'bot.deleted', who, before, { strategy: before.strategy, wasRunning: before.status === 'running' });
    return before;
  });
  await announce(deps, row);
  return { id: row.id, deleted: true };
}

/** Whether an account may have a bot trade for it now: active, and its role still trades. */
export async function ownerMayTrade(db: Queryable, ownerId: string): Promise<boolean> {
  const [owner] = await db.select({ status: users.status, role: users.role }).from(users).where(eq(users.id, ownerId));
  return !!owner && owner.status === 'active' && roleHasPermission(owner.role, 'trading.execute');
}

/** Idempotent: starting a running bot changes nothing and answers it as it is. */
export async function startBot(deps: ApiDeps, id: string, who: BotActor): Promise<BotView> {
  const { row, started } = await auditedTransaction(deps, async (tx: Tx) => {
    const before = await visibleBot(tx, id, who, true);
    requireOwner(before, who);
    // A running bot places orders: the caller (a key, say) and the owner must both be allowed to.
    if (!who.permissions.has('trading.execute') || !(await ownerMayTrade(tx, before.ownerId))) {
      throw appError('FORBIDDEN', 'Starting a bot needs the trading.execute permission', { permission: 'trading.execute', reason: 'TRADING_NOT_ALLOWED' });
    }
    if (before.status === 'running') return { row: before, started: false };
    // Read in the start's transaction: a lockdown engaged on any process refuses it at once.
    await lockLockdownShared(tx);
    if (await activeLockdown(tx)) throw lockdownRefusal('The platform is in emergency lockdown: bots cannot be started');
    try {
      openBotSecrets(deps, before);
    } catch (err) {
      if (err instanceof SecretBoxError) throw unreadable();
      throw err;
    }
    const now = deps.clock.now();
    const [after] = await tx
      .update(bots)
      .set({ status: 'running', startedAt: now, lastError: null, updatedAt: now, version: sql`${bots.version} + 1` })
      .where(eq(bots.id, before.id))
      .returning();
    if (!after) throw new Error('bot update returned nothing');
    await audit(deps, tx, 'bot.started', who, after, { strategy: after.strategy, symbols: after.symbols });
    return { row: after, started: true };
  });
  if (started) await announce(deps, row);
  return toBotView(row);
}

/** Idempotent: stopping a stopped bot changes nothing. */
export async function stopBot(deps: ApiDeps, id: string, who: BotActor): Promise<BotView> {
  const { row, stopped } = await auditedTransaction(deps, async (tx: Tx) => {
    const before = await visibleBot(tx, id, who, true);
    requireOwnerOrAdmin(before, who);
    if (before.status === 'stopped') return { row: before, stopped: false };
    const [after] = await tx
      .update(bots)
      .set({ status: 'stopped', updatedAt: deps.clock.now(), version: sql`${bots.version} + 1` })
      .where(eq(bots.id, before.id))
      .returning();
    if (!after) throw new Error('bot update returned nothing');
    await audit(deps, tx, 'bot.stopped', who, after, { reason: 'requested' });
    return { row: after, stopped: true };
  });
  if (stopped) await announce(deps, row);
  return toBotView(row);
}

// ---------------------------------------------------------------------------------------------
// For the runner: it acts as the bot, with no request behind it.

const RUNNER_ORIGIN: RequestOrigin = { ip: null, userAgent: 'bot-runner', requestId: null };

/** Stops a running bot from the runner (its owner may no longer trade, say), keeping why. */
export async function stopBotFromRunner(deps: ApiDeps, id: string, reason: string, lastError: string): Promise<Bot | null> {
  const row = await auditedTransaction(deps, async (tx: Tx) => {
    const [before] = await tx.select().from(bots).where(eq(bots.id, id)).for('update');
    if (!before || before.status !== 'running') return null;
    const [after] = await tx
      .update(bots)
      .set({ status: 'stopped', lastError, updatedAt: deps.clock.now(), version: sql`${bots.version} + 1` })
      .where(eq(bots.id, id))
      .returning();
    if (after) await audit(deps, tx, 'bot.stopped', { actor: { type: 'bot', id }, origin: RUNNER_ORIGIN }, after, { reason, lastError });
    return after ?? null;
  });
  if (row) await announce(deps, row);
  return row;
}

/**
 * Stops every running bot inside the lockdown's transaction, each with its audit row and why;
 * `announce` after the commit tells every runner to drop them.
 */
export async function stopAllBotsIn(
  deps: ApiDeps,
  tx: Tx,
  who: Pick<BotActor, 'actor' | 'origin'>,
  reason: string,
): Promise<{ ids: string[]; announce: () => Promise<void> }> {
  const stopped = await tx
    .update(bots)
    .set({ status: 'stopped', lastError: reason, updatedAt: deps.clock.now(), version: sql`${bots.version} + 1` })
    .where(eq(bots.status, 'running'))
    .returning();
  for (const row of stopped) await audit(deps, tx, 'bot.stopped', who, row, { reason: 'lockdown', lastError: reason });
  return {
    ids: stopped.map((b) => b.id),
    announce: async () => {
      for (const row of stopped) await announce(deps, row);
    },
  };
}

/**
 * Records the last error (a risk rejection, a refused rate limit) of a bot that keeps running.
 * No version bump: it is the runner's note, not an edit, and must not make a form's save conflict.
 */
export async function recordBotError(deps: Pick<ApiDeps, 'db' | 'clock'>, id: string, lastError: string | null): Promise<void> {
  await deps.db
    .update(bots)
    .set({ lastError })
    .where(and(eq(bots.id, id), eq(bots.status, 'running')));
}

export async function runningBots(db: Queryable): Promise<Bot[]> {
  return db.select().from(bots).where(eq(bots.status, 'running')).orderBy(asc(bots.id));
}

export type { BotCredentials, BotParameters };

// ---------------------------------------------------------------------------------------------
// Key rotation: `pnpm secrets:rotate`.

export interface BotRotationReport {
  /** Bots looked at. */
  bots: number;
  /** Bots whose stored row was rewritten. */
  botsRewritten: number;
  /** Values re-encrypted under the active key (or sealed for the first time). */
  valuesRewritten: number;
  /** The key every value is now under. */
  activeKeyId: string;
  /** Bots with a value that does not open (altered, moved, or its key no longer given): left as they are. */
  failed: { botId: string; code: string }[];
}

/**
 * Re-encrypts every sealed bot value under the keyring's active key, in one transaction with the
 * rows locked, so an edit made meanwhile waits rather than being overwritten. Idempotent: values
 * already under the active key are kept as they are, and a second run rewrites nothing. No
 * version bump: the content is unchanged, and an open form must still save.
 */
export async function rotateBotSecrets(deps: Pick<ApiDeps, 'db' | 'keyring'>): Promise<BotRotationReport> {
  return deps.db.transaction(async (tx: Tx) => {
    const rows = await tx.select().from(bots).orderBy(asc(bots.id)).for('update');
    const report: BotRotationReport = { bots: rows.length, botsRewritten: 0, valuesRewritten: 0, activeKeyId: deps.keyring.activeKeyId, failed: [] };
    for (const row of rows) {
      let rotated: { value: Sealed; changed: number };
      try {
        rotated = rotateSecrets(deps.keyring, { parameters: row.parameters, credentials: row.credentials }, botAad(row.id));
      } catch (err) {
        if (err instanceof SecretBoxError) {
          report.failed.push({ botId: row.id, code: err.code });
          continue;
        }
        throw err;
      }
      if (rotated.changed === 0) continue;
      await tx.update(bots).set({ parameters: rotated.value.parameters, credentials: rotated.value.credentials }).where(eq(bots.id, row.id));
      report.botsRewritten += 1;
      report.valuesRewritten += rotated.changed;
    }
    return report;
  });
}
