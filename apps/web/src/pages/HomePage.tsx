import { Link } from 'react-router';
import { useSignedIn } from '../auth/use-auth.ts';
import { PermissionList } from '../components/PermissionList.tsx';
import { useMe } from '../lib/use-me.ts';

export function HomePage() {
  const { user } = useSignedIn();
  const me = useMe();

  return (
    <section className="page">
      <h1>Welcome</h1>
      <p className="lead">
        Signed in as <strong>{user.email}</strong> with the role <strong>{me.data?.role ?? user.role}</strong>.
      </p>
      <div className="card">
        <h2>What your role may do</h2>
        <PermissionList />
      </div>
      <div className="card card-muted">
        <h2>Coming next</h2>
        <p>
          Trading, positions, bots and monitoring pages are on their way. For now you can review{' '}
          <Link to="/sessions">where you are signed in</Link>
          {me.data?.permissions.includes('users.manage') && (
            <>
              {' '}
              and <Link to="/users">manage users</Link>
            </>
          )}
          . The server already enforces every permission above, whatever the pages show.
        </p>
      </div>
    </section>
  );
}
