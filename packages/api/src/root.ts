// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { apiKeysRouter } from './routers/api-keys.ts';
import { auditRouter } from './routers/audit.ts';
import { botsRouter } from './routers/bots.ts';
import { marketRouter } from './routers/market.ts';
import { securityRouter } from './routers/security.ts';
import { authRouter } from './routers/auth.ts';
import { sessionsRouter } from './routers/sessions.ts';
import { systemRouter } from './routers/system.ts';
import { tradingRouter } from './routers/trading.ts';
import { positionsRouter } from './routers/positions.ts';
import { alertsRouter } from './routers/alerts.ts';
import { usersRouter } from './routers/users.ts';
import { incidentsRouter } from './security/incidents/router.ts';
import { router } from './trpc.ts';

export const appRouter = router({
  auth: authRouter,
  sessions: sessionsRouter,
  users: usersRouter,
  apiKeys: apiKeysRouter,
  audit: auditRouter,
  security: securityRouter,
  system: systemRouter,
  market: marketRouter,
  trading: tradingRouter,
  positions: positionsRouter,
  alerts: alertsRouter,
  bots: botsRouter,
  incidents: incidentsRouter,
});

export type AppRouter = typeof appRouter;
