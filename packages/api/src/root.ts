import { apiKeysRouter } from './routers/api-keys.ts';
import { authRouter } from './routers/auth.ts';
import { sessionsRouter } from './routers/sessions.ts';
import { usersRouter } from './routers/users.ts';
import { router } from './trpc.ts';

export const appRouter = router({
  auth: authRouter,
  sessions: sessionsRouter,
  users: usersRouter,
  apiKeys: apiKeysRouter,
});

export type AppRouter = typeof appRouter;
