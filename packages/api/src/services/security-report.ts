import { sql, type SQL } from 'drizzle-orm';
import { queryRows } from '@tapevision/db';
import type { AuditAction } from '../audit/actions.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import { REPORT_MAX_DAYS, type SecurityReport } from '../schemas/audit.ts';
import type { AuditReader } from './audit-log.ts';

/**
 * What the report counts as destructive: it removes access, data or credentials, or takes the
 * audit log itself out of the building.
 */
export const DESTRUCTIVE_ACTIONS = [
  'user.disabled',
  'user.password_reset',
  'user.sessions_revoked',
  'session.revoked',
  'apikey.revoked',
  'audit.exported',
  'audit.retention_applied',
  'bot.deleted',
  'position.closed',
] as const satisfies readonly AuditAction[];

/** An IP is listed with more than this many failed sign-ins in the range. */
export const FAILED_LOGIN_IP_THRESHOLD = 10;
/** A user is listed with more than this many destructive actions in the range. */
export const DESTRUCTIVE_USER_THRESHOLD = 5;
/** Every list section is cut to its top rows, so a noisy year cannot make the answer unbounded. */
export const REPORT_LIST_LIMIT = 100;

type Row = Record<string, unknown>;

/**
 * Aggregates of the audit log over [from, to). Every section is one SQL aggregation (nothing is
 * loaded row by row and counted here), the sections run in parallel, and the read is audited.
 *
 * "Users" are acting people: the actor of a `user` row, and for an `apikey` row the key's owner
 * (a key acts for its owner; its id is joined to api_keys). System and anonymous rows have none.
 */
export async function securityReport(deps: ApiDeps, range: { from: Date; to: Date }, reader: AuditReader): Promise<SecurityReport> {
  const { from, to } = range;
  // The router's schema checks this already; the service holds the same bound on its own.
  if (!(from < to) || to.getTime() - from.getTime() > REPORT_MAX_DAYS * 86_400_000) {
    throw appError('BAD_REQUEST', `The range must be non-empty and at most ${REPORT_MAX_DAYS} days`, { reason: 'BAD_RANGE' });
  }
  const r = { from: from.toISOString(), to: to.toISOString() };
  const run = (query: SQL) => queryRows<Row>(deps.db, query);

  const [actions, failedLoginIps, destructiveUsers, lockouts, refreshReuse, rateLimitDenials, perDay] = await Promise.all([
    run(actionsQuery(r)),
    run(failedLoginIpsQuery(r)),
    run(destructiveUsersQuery(r)),
    run(lockoutsQuery(r)),
    run(refreshReuseQuery(r)),
    run(rateLimitDenialsQuery(r)),
    run(perDayQuery(r)),
  ]);

  await deps.audit.record({
    action: 'security.report_viewed',
    outcome: 'success',
    actor: reader.actor,
    origin: reader.origin,
    details: { from: r.from, to: r.to },
  });

  return {
    from: r.from,
    to: r.to,
    actions: actions.map((x) => ({
      action: str(x.action),
      count: num(x.count),
      distinctUsers: num(x.distinct_users),
      distinctIps: num(x.distinct_ips),
    })),
    failedLoginIps: failedLoginIps.map((x) => ({
      ip: str(x.ip),
      failures: num(x.failures),
      distinctAccounts: num(x.distinct_accounts),
      lastAt: str(x.last_at),
    })),
    destructiveUsers: destructiveUsers.map((x) => ({
      userId: str(x.user_id),
      email: strOrNull(x.email),
      count: num(x.count),
      actions: countsOf(x.actions),
    })),
    lockouts: lockouts.map((x) => ({ at: str(x.at), userId: strOrNull(x.user_id), email: strOrNull(x.email), ip: strOrNull(x.ip) })),
    refreshReuse: refreshReuse.map((x) => ({
      at: str(x.at),
      userId: strOrNull(x.user_id),
      email: strOrNull(x.email),
      sessionId: strOrNull(x.session_id),
      ip: strOrNull(x.ip),
    })),
    rateLimitDenials: rateLimitDenials.map((x) => ({
      principal: str(x.principal),
      actorType: str(x.actor_type),
      denials: num(x.denials),
      lastAt: str(x.last_at),
    })),
    perDay: perDay.map((x) => ({ day: str(x.day), success: num(x.success), failure: num(x.failure), denied: num(x.denied) })),
  };
}

// ---------------------------------------------------------------------------------------------
// The queries. Each section filtering on one action says `action = …` (or `IN (…)`) with the
// time range, so Postgres can range-scan audit_logs_action_at_idx instead of the whole table;
// the two over every action (actions, perDay) range-scan audit_logs_at_id_idx.

interface Range {
  from: string;
  to: string;
}

const inRange = (r: Range) => sql`a.at >= ${r.from}::timestamptz and a.at < ${r.to}::timestamptz`;

/** ISO 8601 in UTC with milliseconds, the same text on both drivers (they return timestamps differently). */
const iso = (col: SQL) => sql`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The acting user: a user row's actor, an API key row's owner (needs the `k` join below). */
const actingUser = sql`case a.actor_type when 'user' then a.actor_id when 'apikey' then k.user_id::text end`;
const keyOwnerJoin = sql`left join api_keys k on a.actor_type = 'apikey' and k.id::text = a.actor_id`;

const limit = sql.raw(String(REPORT_LIST_LIMIT));

function actionsQuery(r: Range): SQL {
  return sql`
    select a.action,
           count(*)::int as count,
           count(distinct ${actingUser})::int as distinct_users,
           count(distinct a.ip)::int as distinct_ips
    from audit_logs a ${keyOwnerJoin}
    where ${inRange(r)}
    group by a.action
    order by count desc, a.action
    limit ${limit}`;
}

/**
 * Accounts tried are told apart by the email typed (every sign-in failure carries it, unknown
 * accounts included, or its fingerprint when it was not an email), falling back to the user id.
 */
function failedLoginIpsQuery(r: Range): SQL {
  return sql`
    select a.ip,
           count(*)::int as failures,
           count(distinct coalesce(lower(a.details->>'email'), a.details->>'emailFingerprint', case when a.actor_type = 'user' then a.actor_id end, a.details->>'userId'))::int
             as distinct_accounts,
           ${iso(sql`max(a.at)`)} as last_at
    from audit_logs a
    where a.action = 'auth.login_failed' and ${inRange(r)} and a.ip is not null
    group by a.ip
    having count(*) > ${FAILED_LOGIN_IP_THRESHOLD}
    order by failures desc, max(a.at) desc
    limit ${limit}`;
}

function destructiveUsersQuery(r: Range): SQL {
  const actions = sql.join(
    DESTRUCTIVE_ACTIONS.map((a) => sql`${a}`),
    sql`, `,
  );
  return sql`
    with per_action as (
      select ${actingUser} as user_id, a.action, count(*)::int as n
      from audit_logs a ${keyOwnerJoin}
      where a.action in (${actions}) and ${inRange(r)}
      group by 1, 2
    ), per_user as (
      select user_id, sum(n)::int as count, jsonb_object_agg(action, n) as actions
      from per_action
      where user_id is not null
      group by user_id
      having sum(n) > ${DESTRUCTIVE_USER_THRESHOLD}
      order by count desc, user_id
      limit ${limit}
    )
    select p.user_id, u.email, p.count, p.actions
    from per_user p left join users u on u.id::text = p.user_id
    order by p.count desc, p.user_id`;
}

function lockoutsQuery(r: Range): SQL {
  return sql`
    select ${iso(sql`a.at`)} as at, x.user_id, coalesce(u.email, a.details->>'email') as email, a.ip
    from audit_logs a
    cross join lateral (select case when a.resource_type = 'user' then a.resource_id else a.details->>'userId' end as user_id) x
    left join users u on u.id::text = x.user_id
    where a.action = 'auth.account_locked' and ${inRange(r)}
    order by a.at desc, a.id desc
    limit ${limit}`;
}

function refreshReuseQuery(r: Range): SQL {
  return sql`
    select ${iso(sql`a.at`)} as at, x.user_id, u.email,
           coalesce(case when a.resource_type = 'session' then a.resource_id end, a.details->>'sessionId') as session_id,
           a.ip
    from audit_logs a
    cross join lateral (select case when a.actor_type = 'user' then a.actor_id else a.details->>'userId' end as user_id) x
    left join users u on u.id::text = x.user_id
    where a.action = 'auth.refresh_reuse' and ${inRange(r)}
    order by a.at desc, a.id desc
    limit ${limit}`;
}

/**
 * Denials are coalesced when written (one row per window carries `count`), so they are summed, not
 * counted. Anonymous callers are told apart by IP, everyone else by their user or key id.
 */
function rateLimitDenialsQuery(r: Range): SQL {
  return sql`
    select x.actor_type, x.principal,
           sum(x.n)::bigint as denials,
           ${iso(sql`max(x.at)`)} as last_at
    from (
      select a.actor_type, a.at,
             case when a.actor_type = 'anonymous' or a.actor_id is null
                  then coalesce(a.ip, a.details->>'limitedBy', 'unknown') else a.actor_id end as principal,
             case when jsonb_typeof(a.details->'count') = 'number' then (a.details->>'count')::numeric else 1 end as n
      from audit_logs a
      where a.action = 'ratelimit.denied' and ${inRange(r)}
    ) x
    group by x.actor_type, x.principal
    order by denials desc, max(x.at) desc
    limit ${limit}`;
}

/** Every UTC day the range touches, empty days included, so a chart's time axis has no holes. */
function perDayQuery(r: Range): SQL {
  return sql`
    with days as (
      select generate_series(
        date_trunc('day', ${r.from}::timestamptz at time zone 'UTC'),
        date_trunc('day', (${r.to}::timestamptz - interval '1 microsecond') at time zone 'UTC'),
        interval '1 day'
      ) as day
    ), counts as (
      select date_trunc('day', a.at at time zone 'UTC') as day,
             count(*) filter (where a.outcome = 'success')::int as success,
             count(*) filter (where a.outcome = 'failure')::int as failure,
             count(*) filter (where a.outcome = 'denied')::int as denied
      from audit_logs a
      where ${inRange(r)}
      group by 1
    )
    select to_char(d.day, 'YYYY-MM-DD') as day,
           coalesce(c.success, 0) as success, coalesce(c.failure, 0) as failure, coalesce(c.denied, 0) as denied
    from days d left join counts c on c.day = d.day
    order by d.day`;
}

// Drivers differ: postgres.js returns bigint as text, PGlite as number; jsonb parsed on both.
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

function str(v: unknown): string {
  return String(v ?? '');
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function countsOf(v: unknown): Record<string, number> {
  const obj = (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown> | null;
  return Object.fromEntries(Object.entries(obj ?? {}).map(([k, n]) => [k, num(n)]));
}
