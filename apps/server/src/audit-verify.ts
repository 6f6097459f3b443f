/**
 * Verifies the audit log's hash chains from the command line, against the database the server uses:
 *
 *   pnpm audit:verify [--from ISO] [--to ISO] [--checkpoints FILE]... [--json]
 *
 * Rows are checked against the audit key (AUDIT_KEY / AUDIT_KEY_FILE, or the development key in
 * DATA_DIR/audit-key; none is ever generated here) and against the signed checkpoints in
 * DATA_DIR/audit-checkpoints, or in the files given with --checkpoints (e.g. copies from the log store).
 *
 * The database is found exactly as the server finds it: DATABASE_URL (Postgres), or else the
 * embedded PGlite under DATA_DIR (default ./data). PGlite allows one process at a time, so for the
 * embedded database stop the server first; the check refuses to open a database that is in use.
 * Pending migrations are applied on opening, as the server would; nothing else is written.
 *
 * Exit codes: 0 the log is intact, 1 it is broken (the breaks are printed), 2 bad arguments or
 * environment, or the database could not be opened or read.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CHECKPOINT_FILE, loadAuditKeyring, readCheckpoints, verifyAuditLog, type AuditKeyring, type AuditBreak, type VerifyReport } from '@tapevision/api';
import { auditVerifyInput } from '@tapevision/api/schemas';
import { openDatabase, type DatabaseHandle } from '@tapevision/db';
import { loadConfig } from './config.ts';
import { describeUrl, errorMessage } from './cli-support.ts';

const USAGE = `Usage: pnpm audit:verify [--from ISO] [--to ISO] [--checkpoints FILE]... [--json]

Verifies the audit log's keyed hash chains and its signed checkpoints, and reports the first
changed, deleted, reordered, forged or cut-off row of each chain, chains that were deleted,
anchors that were moved, and checkpoint lines that were altered.

  --from ISO          check rows written at or after this time (e.g. 2026-01-31T00:00:00Z)
  --to ISO            check rows written at or before this time
  --checkpoints FILE  check against this checkpoint file (repeatable; default DATA_DIR/audit-checkpoints)
  --json              print the full report as JSON
  -h, --help          show this help

The database is the server's: DATABASE_URL (Postgres), or the embedded database under DATA_DIR
(default ./data). The embedded database allows one process at a time: stop the server first.
The key is the server's: AUDIT_KEY or AUDIT_KEY_FILE (or, in development, DATA_DIR/audit-key).

Exit codes: 0 intact, 1 broken, 2 usage, environment or database errors.`;

class UsageError extends Error {}

interface Options {
  from: string | undefined;
  to: string | undefined;
  json: boolean;
  /** Given with --checkpoints; undefined for the default file. */
  checkpoints: string[] | undefined;
}

function parseOptions(argv: string[]): Options | 'help' {
  // `pnpm audit:verify -- --json` passes the separator on.
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  let values: {
    from?: string | undefined;
    to?: string | undefined;
    json?: boolean | undefined;
    help?: boolean | undefined;
    checkpoints?: string[] | undefined;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        checkpoints: { type: 'string', multiple: true },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  // The same rules as audit.verify: ISO 8601 with a time zone, "from" not after "to".
  const parsed = auditVerifyInput.safeParse({ from: values.from, to: values.to });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path[0];
    const message = issue?.code === 'invalid_format' ? 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T00:00:00Z' : issue?.message;
    throw new UsageError(typeof field === 'string' && issue?.code === 'invalid_format' ? `--${field} ${message}` : (message ?? 'invalid arguments'));
  }
  for (const file of values.checkpoints ?? []) {
    if (!existsSync(file)) throw new UsageError(`--checkpoints ${file}: no such file`);
  }
  return { from: values.from, to: values.to, json: values.json ?? false, checkpoints: values.checkpoints };
}

function serverConfig(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(process.env);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The server's audit key, read (never generated) before the database is opened. */
function serverAuditKeys(config: ReturnType<typeof loadConfig>): AuditKeyring {
  try {
    return loadAuditKeyring(config.audit, { production: config.production, dataDir: config.dataDir, generate: false });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The server's database; for PGlite, only an existing one that no process holds. */
async function openServerDatabase(config: ReturnType<typeof loadConfig>): Promise<{ handle: DatabaseHandle; where: string }> {
  if (config.databaseUrl) {
    const where = `Postgres ${describeUrl(config.databaseUrl)}`;
    try {
      // A whole-table verify may run longer than a request's statement timeout.
      return { handle: await openDatabase({ url: config.databaseUrl, maxConnections: 2, timeouts: { statementMs: 0 } }), where };
    } catch (err) {
      throw new ConnectionError(`cannot open ${where}: ${errorMessage(err)}`);
    }
  }
  const dir = path.join(config.dataDir, 'pglite');
  const where = `embedded database ${dir}`;
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new ConnectionError(
      `no embedded database at ${dir}. Set DATA_DIR to the server's data directory, or DATABASE_URL to its Postgres.`,
    );
  }
  // PGlite keeps no lock of its own; it writes postmaster.pid while open and removes it on close.
  // A second process on the same files would corrupt them.
  if (existsSync(path.join(dir, 'postmaster.pid'))) {
    throw new ConnectionError(
      `the ${where} is in use (${path.join(dir, 'postmaster.pid')} exists). The embedded database allows one process ` +
        'at a time: stop the server and run this again. If no server is running, the last one did not shut down ' +
        'cleanly: start it and stop it once, then run this again.',
    );
  }
  try {
    return { handle: await openDatabase({ dataDir: dir }), where };
  } catch (err) {
    throw new ConnectionError(`cannot open the ${where}: ${errorMessage(err)}`);
  }
}

class ConnectionError extends Error {}


function describeBreak(b: AuditBreak): string {
  const row = b.rowId ? `row id ${b.rowId}${b.at ? `, written ${b.at}` : ''}` : 'no row left to show';
  return `${b.kind}: ${b.message} (${row})`;
}

function summary(report: VerifyReport, where: string, opts: Options, checkpoints: string): string {
  const range = opts.from || opts.to ? `from ${opts.from ?? 'the start'} to ${opts.to ?? 'now'}` : 'the whole log';
  const lines = [
    `Audit log: ${report.ok ? 'OK, every chain is intact' : `BROKEN, ${report.breaks.length} break${report.breaks.length === 1 ? '' : 's'} found`}`,
    `  database:     ${where}`,
    `  range:        ${range}`,
    `  chains:       ${report.chains}`,
    `  rows checked: ${report.rowsChecked}`,
    `  checkpoints:  ${checkpoints}`,
  ];
  if (report.firstBreak) {
    const b = report.firstBreak;
    lines.push('', 'First break:', `  kind:    ${b.kind}`, `  chain:   ${b.chainId}`, `  row id:  ${b.rowId ?? '-'}`, `  time:    ${b.at ?? '-'}`, `  message: ${b.message}`);
    lines.push('', 'Breaks (the first of each chain):', ...report.breaks.map((x) => `  - ${describeBreak(x)}`));
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`audit:verify: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let opened: { handle: DatabaseHandle; where: string };
  let keys: AuditKeyring;
  let checkpointFiles: string[];
  try {
    const config = serverConfig();
    checkpointFiles = opts.checkpoints ?? [path.join(config.dataDir, CHECKPOINT_FILE)];
    opened = await openServerDatabase(config);
    try {
      keys = serverAuditKeys(config);
    } catch (err) {
      await opened.handle.close();
      throw err;
    }
  } catch (err) {
    process.stderr.write(`audit:verify: ${(err as Error).message}\n`);
    return 2;
  }
  const { handle, where } = opened;
  // An interrupted check still closes the embedded database, so it is not left marked as in use.
  const interrupt = () => void handle.close().finally(() => process.exit(130));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const auditIntegrity = { keys, checkpointFiles };
    const report = await verifyAuditLog(
      { db: handle.db, auditIntegrity },
      { from: opts.from ? new Date(opts.from) : undefined, to: opts.to ? new Date(opts.to) : undefined },
    );
    const present = checkpointFiles.filter((f) => existsSync(f));
    const checkpoints = present.length
      ? `${readCheckpoints(keys, present).lines} in ${present.join(', ')}`
      : `none (no ${checkpointFiles.join(', ')}): deleted chains and cut-off tails are checked against audit_chains only`;
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${summary(report, where, opts, checkpoints)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`audit:verify: reading the audit log from the ${where} failed: ${errorMessage(err)}\n`);
    return 2;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await handle.close();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`audit:verify: ${errorMessage(err)}\n`);
  return 2;
});
