import { OneTimeSecret } from './OneTimeSecret.tsx';

/** A generated password, shown this once: copy it, hand it over, then hide it for good. */
export function OneTimePassword({ email, password, onDone }: { email: string; password: string; onDone: () => void }) {
  return (
    <OneTimeSecret
      title={`One-time password for ${email}`}
      secret={password}
      noun="password"
      testId="one-time-password"
      onDone={onDone}
      warning={
        <>
          <strong>Shown only this once.</strong> Give it to {email} through a channel you trust. They must choose their
          own password when they first sign in with it.
        </>
      }
    />
  );
}
