import { useId, useState, type FormEvent } from 'react';
import { startSession } from '../auth/session.ts';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { Brand } from '../components/Brand.tsx';
import { errorMessage } from '../lib/errors.ts';
import { trpc } from '../trpc.ts';

export function LoginPage({ notice }: { notice: string | null }) {
  const login = trpc.auth.login.useMutation();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const emailId = useId();
  const passwordId = useId();

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setError(null);
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      return;
    }
    try {
      const result = await login.mutateAsync({ email: email.trim(), password });
      startSession({ accessToken: result.accessToken, accessTokenExpiresAt: result.accessTokenExpiresAt, user: result.user });
    } catch (err) {
      // The server's answer is deliberately the same for every failure ("Invalid email or password").
      setError(errorMessage(err));
      setPassword('');
    }
  }

  return (
    <div className="auth-screen">
      <div className="auth-card">
        <Brand />
        <h1>Sign in</h1>
        {notice && !error && <Notice kind="warning">{notice}</Notice>}
        {error && <ErrorAlert>{error}</ErrorAlert>}
        <form onSubmit={submit} noValidate className="form">
          <div className="field">
            <label htmlFor={emailId}>Email</label>
            <input
              id={emailId}
              type="email"
              name="email"
              autoComplete="username"
              autoFocus
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={passwordId}>Password</label>
            <input
              id={passwordId}
              type="password"
              name="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <button type="submit" className="btn btn-primary btn-block" disabled={login.isPending}>
            {login.isPending ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </div>
  );
}
