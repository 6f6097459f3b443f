import type { PublicUser, Role } from '@tapevision/api';
import { createUser } from '@tapevision/api';
import { httpClient, CookieJar, type ApiClient } from './clients.ts';
import type { TestServer } from './server.ts';

let counter = 0;
/** A password that passes the policy, distinct per call. */
export function strongPassword(): string {
  counter += 1;
  return `violet-harbor-${counter}-quantum-lantern-${Math.random().toString(36).slice(2, 8)}`;
}

export interface SeededUser {
  id: string;
  email: string;
  password: string;
  role: Role;
}

/** Inserts a ready-to-use user straight through the service layer (no forced password change). */
export async function seedUser(server: TestServer, role: Role, email?: string): Promise<SeededUser> {
  counter += 1;
  const password = strongPassword();
  const address = email ?? `${role}${counter}-${Math.random().toString(36).slice(2, 7)}@desk.example`;
  const { user } = await createUser(server.app.deps, { email: address, role, password, mustChangePassword: false }, null);
  return { id: user.id, email: user.email, password, role };
}

/** Signs a user in over HTTP and returns an authenticated client with its cookie jar. */
export interface SignedIn {
  client: ApiClient;
  jar: CookieJar;
  login: { accessToken: string; accessTokenExpiresAt: string; user: PublicUser };
  readonly token: string;
  setToken(next: string): void;
}

export async function signIn(server: TestServer, user: { email: string; password: string }): Promise<SignedIn> {
  const jar = new CookieJar();
  const anon = httpClient(server, { jar });
  const result = await anon.auth.login.mutate({ email: user.email, password: user.password });
  let token = result.accessToken;
  const client = httpClient(server, { jar, token: () => token });
  return {
    client,
    jar,
    login: result,
    get token() {
      return token;
    },
    setToken(next: string) {
      token = next;
    },
  };
}
