/**
 * Sign-in floods: argon2 verifications run at most `passwordHashConcurrency` at once (one per core
 * by default), the rest wait their turn, and every caller still gets its own, right answer.
 */
import { describe, expect, it } from 'vitest';
import { errorData, httpClient, rejectionOf } from './support/clients.ts';
import { startTestServer } from './support/server.ts';
import { seedUser } from './support/users.ts';

describe('concurrent sign-ins', () => {
  for (const cap of [1, 2]) {
    it(`run at most ${cap} argon2 verification(s) at once and answer every caller`, { timeout: 60_000 }, async () => {
      await using server = await startTestServer({ security: { passwordHashConcurrency: cap } });
      const users = await Promise.all([seedUser(server, 'viewer'), seedUser(server, 'viewer'), seedUser(server, 'admin')]);
      const client = httpClient(server);
      const right = users.flatMap((u) => [u, u]).map((u) => client.auth.login.mutate({ email: u.email, password: u.password }));
      const wrong = [
        client.auth.login.mutate({ email: users[0]!.email, password: 'not-the-password-at-all' }),
        client.auth.login.mutate({ email: 'nobody-here@desk.example', password: 'not-the-password-at-all' }),
      ];

      const signedIn = await Promise.all(right);
      expect(signedIn.map((r) => r.user.email)).toEqual(users.flatMap((u) => [u.email, u.email]));
      for (const attempt of wrong) expect(errorData(await rejectionOf(attempt)).code).toBe('UNAUTHORIZED');

      const stats = server.app.deps.passwords.stats();
      expect(stats.limit).toBe(cap);
      expect(stats.peak).toBeGreaterThanOrEqual(1);
      expect(stats.peak).toBeLessThanOrEqual(cap);
      expect(stats).toMatchObject({ running: 0, waiting: 0 });
    });
  }
});
