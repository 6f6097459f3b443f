import { Fragment, useId, useState } from 'react';
import { useSignedIn } from '../auth/use-auth.ts';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { CreateUserForm, type CreatedUser } from '../components/CreateUserForm.tsx';
import { Loading } from '../components/Loading.tsx';
import { OneTimePassword } from '../components/OneTimePassword.tsx';
import { UserManagePanel } from '../components/UserManagePanel.tsx';
import { formatDateTime, formatRelative, isInFuture } from '../lib/format.ts';
import { useDebouncedValue } from '../lib/use-debounced.ts';
import { trpc } from '../trpc.ts';
import type { User } from '../types.ts';

const PAGE_SIZE = 50;

export default function UsersPage() {
  const { user: me } = useSignedIn();
  const [search, setSearch] = useState('');
  const [created, setCreated] = useState<CreatedUser | null>(null);
  const [openId, setOpenId] = useState<string | null>(null);
  const searchId = useId();
  const term = useDebouncedValue(search.trim(), 250);

  // Keyset pages, one query per cursor. (Not useInfiniteQuery: it adds a `direction` key to the
  // input, which the server's strict input schema rejects.)
  const [paging, setPaging] = useState<{ term: string; cursors: (string | undefined)[] }>({ term: '', cursors: [undefined] });
  const cursors = paging.term === term ? paging.cursors : [undefined];
  const pages = trpc.useQueries((t) =>
    cursors.map((cursor) => t.users.list({ search: term || undefined, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) })),
  );
  const users = pages.flatMap((page) => page.data?.items ?? []);
  const first = pages[0];
  const last = pages[pages.length - 1];
  const error = pages.find((page) => page.error)?.error;
  const nextCursor = last?.data?.nextCursor ?? null;
  const loadingMore = pages.length > 1 && !!last?.isPending;

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>Users</h1>
          <p className="lead">Create accounts, change roles, and end access when someone leaves the desk.</p>
        </div>
      </div>

      <div className="card">
        <h2>Create a user</h2>
        {created?.oneTimePassword ? (
          <OneTimePassword email={created.user.email} password={created.oneTimePassword} onDone={() => setCreated(null)} />
        ) : (
          created && <Notice kind="success">Created {created.user.email}.</Notice>
        )}
        <CreateUserForm onCreated={setCreated} />
      </div>

      <div className="card">
        <div className="card-head">
          <h2>All users</h2>
          <div className="search">
            <label htmlFor={searchId}>Search by email</label>
            <input id={searchId} type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
          </div>
        </div>
        {first?.isPending && <Loading label="Loading users…" />}
        {error && <ErrorAlert error={error} />}
        {first?.data && users.length === 0 && <p className="muted">No users match.</p>}
        {users.length > 0 && (
          <div className="table-wrap">
            <table className="table users-table">
              <caption className="sr-only">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Locked until</th>
                  <th scope="col">Last sign-in</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <UserRows
                    key={u.id}
                    user={u}
                    isSelf={u.id === me.id}
                    open={openId === u.id}
                    onToggle={() => setOpenId((id) => (id === u.id ? null : u.id))}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {(nextCursor || loadingMore) && (
          <button
            type="button"
            className="btn btn-secondary"
            disabled={loadingMore}
            onClick={() => nextCursor && setPaging({ term, cursors: [...cursors, nextCursor] })}
          >
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        )}
      </div>
    </section>
  );
}

function UserRows({ user, isSelf, open, onToggle }: { user: User; isSelf: boolean; open: boolean; onToggle: () => void }) {
  const panelId = useId();
  const locked = isInFuture(user.lockedUntil);
  return (
    <Fragment>
      <tr data-user-email={user.email} className={open ? 'row-open' : undefined}>
        <td>
          <span className="user-email">{user.email}</span>
          {isSelf && <span className="badge badge-muted">you</span>}
          {user.mustChangePassword && <span className="badge badge-warning">must change password</span>}
        </td>
        <td>
          <span className={`badge badge-role badge-${user.role}`}>{user.role}</span>
        </td>
        <td>
          <span className={`badge ${user.status === 'active' ? 'badge-ok' : 'badge-danger'}`}>{user.status}</span>
        </td>
        <td>{locked ? <span className="badge badge-danger">{formatDateTime(user.lockedUntil)}</span> : '—'}</td>
        <td title={formatDateTime(user.lastLoginAt)}>{user.lastLoginAt ? formatRelative(user.lastLoginAt) : 'Never'}</td>
        <td className="cell-actions">
          <button
            type="button"
            className="btn btn-secondary btn-small"
            aria-expanded={open}
            aria-controls={panelId}
            aria-label={`${open ? 'Close' : 'Manage'} ${user.email}`}
            onClick={onToggle}
          >
            {open ? 'Close' : 'Manage'}
          </button>
        </td>
      </tr>
      {open && (
        <tr className="row-detail" id={panelId}>
          <td colSpan={6}>
            <UserManagePanel user={user} isSelf={isSelf} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}
