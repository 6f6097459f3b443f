import { useState } from 'react';
import { useNavigate } from 'react-router';
import { signOut } from '../auth/session.ts';
import { trpc } from '../trpc.ts';

export function SignOutButton() {
  const logout = trpc.auth.logout.useMutation();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-header"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        await signOut(() => logout.mutateAsync());
        navigate('/login', { replace: true });
      }}
    >
      {busy ? 'Signing out…' : 'Sign out'}
    </button>
  );
}
