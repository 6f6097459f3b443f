import type { Permission } from '@tapevision/api/schemas';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { useMe } from '../lib/use-me.ts';
import { ErrorAlert } from './Alert.tsx';
import { Loading } from './Loading.tsx';

/** The server enforces every permission; this only spares the user a page that cannot work. */
export function RequirePermission({ permission, children }: { permission: Permission; children: ReactNode }) {
  const me = useMe();
  if (me.isPending) return <Loading label="Checking your access…" />;
  if (me.error) return <ErrorAlert error={me.error} />;
  if (!me.data.permissions.includes(permission)) {
    return (
      <section className="page narrow">
        <h1>Not allowed</h1>
        <p>
          Your role (<strong>{me.data.role}</strong>) does not include the <code>{permission}</code> permission this
          page needs. Ask an administrator if you think you should have it.
        </p>
        <p>
          <Link to="/">Back to the home page</Link>
        </p>
      </section>
    );
  }
  return <>{children}</>;
}
