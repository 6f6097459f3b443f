import { pino, type Logger } from 'pino';
import { redactSecrets } from '@tapevision/api';

/** Structured logs; every logged object passes the same secret filter as the audit log. */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[REDACTED]' },
      formatters: { log: (object) => redactSecrets(object) },
    },
    opts.destination as never,
  );
}
