import { serialize } from 'cookie';

export const REFRESH_COOKIE = 'tv_refresh';
// Scoped to the API path: the cookie never rides along with page or asset requests.
export const REFRESH_COOKIE_PATH = '/trpc';

export function refreshCookie(token: string, opts: { secure: boolean; expiresAt: Date; now: Date }): string {
  return serialize(REFRESH_COOKIE, token, {
    httpOnly: true,
    secure: opts.secure,
    sameSite: 'strict',
    path: REFRESH_COOKIE_PATH,
    maxAge: Math.max(0, Math.floor((opts.expiresAt.getTime() - opts.now.getTime()) / 1000)),
  });
}

export function clearedRefreshCookie(opts: { secure: boolean }): string {
  return serialize(REFRESH_COOKIE, '', {
    httpOnly: true,
    secure: opts.secure,
    sameSite: 'strict',
    path: REFRESH_COOKIE_PATH,
    maxAge: 0,
  });
}
