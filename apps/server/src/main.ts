import { bootstrapAdmin, EncryptionConfigError } from '@tapevision/api';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { ConfigError, loadJwtSecret } from './secrets.ts';

const logger = createLogger();

async function main() {
  const config = loadConfig();
  const jwtSecret = loadJwtSecret(process.env, { production: config.production, dataDir: config.dataDir, logger });
  const app = await createApp({ config, jwtSecret, logger });

  const admin = await bootstrapAdmin(app.deps, { email: config.admin.email, password: config.admin.password });
  if (admin) announceFirstAdmin(admin);

  const port = await app.listen();
  logger.info({ port, database: app.database.driver }, `Tape Vision listening on http://localhost:${port}`);
  await app.deps.audit.record({
    action: 'system.started',
    outcome: 'success',
    actor: { type: 'system' },
    origin: { ip: null, userAgent: null, requestId: null },
    details: { port, database: app.database.driver },
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.deps.audit.record({
      action: 'system.stopped',
      outcome: 'success',
      actor: { type: 'system' },
      origin: { ip: null, userAgent: null, requestId: null },
      details: { signal },
    });
    await app.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

// Printed once, to the terminal only: the one-time password never reaches the logs or the database.
function announceFirstAdmin(admin: { email: string; oneTimePassword: string | null }) {
  const lines = admin.oneTimePassword
    ? [
        'First run: created the first admin account.',
        `  email:              ${admin.email}`,
        `  one-time password:  ${admin.oneTimePassword}`,
        'It is shown only this once; you will choose a new password at first sign-in.',
      ]
    : ['First run: created the first admin account from ADMIN_EMAIL / ADMIN_PASSWORD.', `  email: ${admin.email}`];
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  process.stdout.write(`\n${'='.repeat(width)}\n${lines.map((l) => `  ${l}`).join('\n')}\n${'='.repeat(width)}\n\n`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof EncryptionConfigError) {
    process.stderr.write(`Tape Vision cannot start: ${err.message}\n`);
  } else {
    logger.fatal({ err }, 'start-up failed');
  }
  process.exit(1);
});
