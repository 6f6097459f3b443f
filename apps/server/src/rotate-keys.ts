/**
 * Re-encrypts every stored bot secret under the primary (first) key of ENCRYPTION_KEY:
 *
 *   ENCRYPTION_KEY='new:<key>,old:<key>' pnpm secrets:rotate [--json]
 *
 * Run it after adding a key in front of the old one (and restarting the servers with that list);
 * once it reports no failures, the old key can be dropped from ENCRYPTION_KEY. It runs in one
 * transaction, prints counts and key ids only (never a secret), and is idempotent: a second run
 * rewrites nothing. The database is found as the server finds it (DATABASE_URL, or the embedded
 * one under DATA_DIR, which allows one process at a time: stop the server first).
 *
 * Exit codes: 0 done, 1 some bots' values do not open (listed; left as they were), 2 usage,
 * environment or database errors.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEV_KEY_FILE, loadEncryptionKeyring, rotateBotSecrets, type BotRotationReport, type Keyring } from '@tapevision/api';
import { openDatabase, type DatabaseHandle } from '@tapevision/db';
import { loadConfig } from './config.ts';
import { describeUrl, errorMessage } from './cli-support.ts';

const USAGE = `Usage: pnpm secrets:rotate [--json]

Re-encrypts every stored bot credential and secret parameter under the first key of
ENCRYPTION_KEY (e.g. ENCRYPTION_KEY='k2026:<new key>,k2025:<old key>'). Prints counts only.

  --json       print the report as JSON
  -h, --help   show this help

The database is the server's: DATABASE_URL (Postgres), or the embedded database under DATA_DIR
(default ./data). The embedded database allows one process at a time: stop the server first.

Exit codes: 0 done, 1 some values did not open (listed, left unchanged), 2 usage, environment or database errors.`;

class UsageError extends Error {}

function parseOptions(argv: string[]): { json: boolean } | 'help' {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  try {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    if (values.help) return 'help';
    return { json: values.json ?? false };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function loadKeyring(config: ReturnType<typeof loadConfig>): Keyring {
  const { key, keyFile } = config.encryption;
  // Without a key given, only an existing development key makes sense: a fresh one opens nothing.
  if (!key && !keyFile && !existsSync(path.join(config.dataDir, DEV_KEY_FILE))) {
    throw new UsageError(`ENCRYPTION_KEY is not set and there is no development key in ${config.dataDir}: set ENCRYPTION_KEY (or DATA_DIR)`);
  }
  return loadEncryptionKeyring({ ENCRYPTION_KEY: key, ENCRYPTION_KEY_FILE: keyFile }, { production: config.production, dataDir: config.dataDir });
}

async function openServerDatabase(config: ReturnType<typeof loadConfig>): Promise<{ handle: DatabaseHandle; where: string }> {
  if (config.databaseUrl) {
    const where = `Postgres ${describeUrl(config.databaseUrl)}`;
    // One transaction re-encrypts every bot: it may run longer than a request's statement timeout.
    return { handle: await openDatabase({ url: config.databaseUrl, maxConnections: 2, timeouts: { statementMs: 0 } }), where };
  }
  const dir = path.join(config.dataDir, 'pglite');
  const where = `embedded database ${dir}`;
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    throw new UsageError(`no embedded database at ${dir}. Set DATA_DIR to the server's data directory, or DATABASE_URL to its Postgres.`);
  }
  // PGlite writes postmaster.pid while open: a second process on the same files would corrupt them.
  if (existsSync(path.join(dir, 'postmaster.pid'))) {
    throw new UsageError(`the ${where} is in use: the embedded database allows one process at a time. Stop the server and run this again.`);
  }
  return { handle: await openDatabase({ dataDir: dir }), where };
}


function summary(report: BotRotationReport, where: string, keyring: Keyring): string {
  const lines = [
    `Secrets rotation: ${report.failed.length === 0 ? 'done' : `done, but ${report.failed.length} bot${report.failed.length === 1 ? '' : 's'} could not be opened`}`,
    `  database:          ${where}`,
    `  primary key id:    ${report.activeKeyId}`,
    `  other key ids:     ${[...keyring.keys.keys()].filter((k) => k !== keyring.activeKeyId).join(', ') || '-'}`,
    `  bots:              ${report.bots}`,
    `  bots rewritten:    ${report.botsRewritten}`,
    `  values rewritten:  ${report.valuesRewritten}`,
  ];
  if (report.failed.length > 0) {
    lines.push('', 'Not rotated (left unchanged; is their key still in ENCRYPTION_KEY?):', ...report.failed.map((f) => `  - bot ${f.botId}: ${f.code}`));
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  let opts: { json: boolean } | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`secrets:rotate: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: ReturnType<typeof loadConfig>;
  let keyring: Keyring;
  try {
    config = loadConfig(process.env);
    keyring = loadKeyring(config);
  } catch (err) {
    // EncryptionConfigError messages name the setting, never any of its text.
    process.stderr.write(`secrets:rotate: ${errorMessage(err)}\n`);
    return 2;
  }

  let opened: { handle: DatabaseHandle; where: string };
  try {
    opened = await openServerDatabase(config);
  } catch (err) {
    process.stderr.write(`secrets:rotate: ${errorMessage(err)}\n`);
    return 2;
  }
  const { handle, where } = opened;
  try {
    const report = await rotateBotSecrets({ db: handle.db, keyring });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${summary(report, where, keyring)}\n`);
    return report.failed.length === 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`secrets:rotate: rotating in the ${where} failed, nothing was changed: ${errorMessage(err)}\n`);
    return 2;
  } finally {
    await handle.close();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`secrets:rotate: ${errorMessage(err)}\n`);
  return 2;
});
