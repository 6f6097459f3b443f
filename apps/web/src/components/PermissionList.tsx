import { describePermission } from '../lib/permissions.ts';
import { useMe } from '../lib/use-me.ts';
import { ErrorAlert } from './Alert.tsx';
import { Loading } from './Loading.tsx';

/** What the signed-in user's role may do, in plain words. */
export function PermissionList() {
  const me = useMe();
  return (
    <>
      {me.isPending && <Loading label="Loading your permissions…" />}
      {me.error && <ErrorAlert error={me.error} />}
      {me.data && (
        <ul className="permission-list" aria-label="Your permissions">
          {me.data.permissions.map((permission) => (
            <li key={permission}>
              <code>{permission}</code>
              <span>{describePermission(permission)}</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
