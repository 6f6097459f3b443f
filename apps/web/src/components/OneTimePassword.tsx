import { useRef, useState } from 'react';

/** A generated password, shown this once: copy it, hand it over, then hide it for good. */
export function OneTimePassword({ email, password, onDone }: { email: string; password: string; onDone: () => void }) {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');
  const codeRef = useRef<HTMLElement>(null);

  async function copyToClipboard() {
    try {
      await navigator.clipboard.writeText(password);
      setCopy('copied');
    } catch {
      // No clipboard access (permissions, plain HTTP): select it for a manual copy.
      const node = codeRef.current;
      const selection = window.getSelection();
      if (node && selection) {
        const range = document.createRange();
        range.selectNodeContents(node);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      setCopy('failed');
    }
  }

  return (
    <section className="otp" aria-label={`One-time password for ${email}`}>
      <h3 className="otp-title">One-time password for {email}</h3>
      <div className="otp-row">
        <code ref={codeRef} className="otp-value" data-testid="one-time-password">
          {password}
        </code>
        <button type="button" className="btn btn-secondary" onClick={copyToClipboard}>
          {copy === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="otp-warning">
        <strong>Shown only this once.</strong> Give it to {email} through a channel you trust. They must choose their
        own password when they first sign in with it.
      </p>
      {copy === 'failed' && <p className="hint">Copying was blocked by the browser; the password is selected, copy it by hand.</p>}
      <button type="button" className="btn btn-ghost" onClick={onDone}>
        Done, hide it
      </button>
    </section>
  );
}
