import type { Permission } from '@tapevision/api/schemas';
import { NavLink, Outlet } from 'react-router';
import { useSignedIn } from '../auth/use-auth.ts';
import { useMe } from '../lib/use-me.ts';
import { Brand } from './Brand.tsx';
import { LockdownBanner } from './LockdownBanner.tsx';
import { SessionWatcher } from './SessionWatcher.tsx';
import { SignOutButton } from './SignOutButton.tsx';

interface NavItem {
  to: string;
  label: string;
  permission: Permission | null;
  /** Hidden from those who hold this one (the home link becomes the dashboard). */
  unless?: Permission;
}

const NAV: NavItem[] = [
  { to: '/', label: 'Dashboard', permission: 'trading.view' },
  { to: '/', label: 'Home', permission: null, unless: 'trading.view' },
  { to: '/bots', label: 'Bots', permission: 'bots.read' },
  { to: '/sessions', label: 'My sessions', permission: 'account.self' },
  { to: '/users', label: 'Users', permission: 'users.manage' },
  { to: '/api-keys', label: 'API keys', permission: 'apikeys.manage' },
  { to: '/audit', label: 'Audit log', permission: 'logs.view' },
  { to: '/security', label: 'Security', permission: 'logs.view' },
  { to: '/security-centre', label: 'Security centre', permission: 'security.manage' },
];

export function Layout() {
  const { user } = useSignedIn();
  const me = useMe();
  const permissions = new Set<string>(me.data?.permissions ?? []);
  const items = NAV.filter(
    (item) => (item.permission === null || permissions.has(item.permission)) && !(item.unless && permissions.has(item.unless)),
  );

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Brand />
          <nav aria-label="Main" className="nav">
            {items.map((item) => (
              <NavLink key={item.label} to={item.to} end={item.to === '/'} className="nav-link">
                {item.label}
              </NavLink>
            ))}
          </nav>
          <div className="account" role="group" aria-label="Your account">
            <SessionWatcher sessionId={me.data?.sessionId} />
            <span className="account-who">
              <span className="account-email">{user.email}</span>
              <span className={`badge badge-role badge-${me.data?.role ?? user.role}`} title="Your role">
                {me.data?.role ?? user.role}
              </span>
            </span>
            <SignOutButton />
          </div>
        </div>
      </header>
      <LockdownBanner />
      <main id="main" className="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
