import { useRef, useState, type ReactNode } from 'react';

export interface OneTimeSecretProps {
  title: string;
  secret: string;
  /** What the secret is, for the manual-copy hint ("password", "key"). */
  noun: string;
  testId: string;
  valueClassName?: string;
  /** Why it is shown only once, and what to do with it. */
  warning: ReactNode;
  onDone: () => void;
}

/** A secret the server will never show again: copy it (or select it for a manual copy), then hide it. */
export function OneTimeSecret({ title, secret, noun, testId, valueClassName, warning, onDone }: OneTimeSecretProps) {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');
  const codeRef = useRef<HTMLElement>(null);

  async function copyToClipboard() {
    try {
      await navigator.clipboard.writeText(secret);
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
    <section className="otp" aria-label={title}>
      <h3 className="otp-title">{title}</h3>
      <div className="otp-row">
        <code ref={codeRef} className={valueClassName ? `otp-value ${valueClassName}` : 'otp-value'} data-testid={testId}>
          {secret}
        </code>
        <button type="button" className="btn btn-secondary" onClick={copyToClipboard}>
          {copy === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="otp-warning">{warning}</p>
      {copy === 'failed' && <p className="hint">Copying was blocked by the browser; the {noun} is selected, copy it by hand.</p>}
      <button type="button" className="btn btn-ghost" onClick={onDone}>
        Done, hide it
      </button>
    </section>
  );
}
