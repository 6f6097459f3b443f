import { useRef, useState } from 'react';

/** A new API key, shown this once: the server keeps only its hash, so it can never show it again. */
export function OneTimeApiKey({ title, apiKey, onDone }: { title: string; apiKey: string; onDone: () => void }) {
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');
  const codeRef = useRef<HTMLElement>(null);

  async function copyToClipboard() {
    try {
      await navigator.clipboard.writeText(apiKey);
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
        <code ref={codeRef} className="otp-value api-key-value" data-testid="one-time-api-key">
          {apiKey}
        </code>
        <button type="button" className="btn btn-secondary" onClick={copyToClipboard}>
          {copy === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="otp-warning">
        <strong>Copy it now: it will not be shown again.</strong> Tape Vision stores only a hash of the key, so nobody
        can look it up later. Keep it in your service's secret store; if it is lost, roll the key to get a new one.
      </p>
      {copy === 'failed' && <p className="hint">Copying was blocked by the browser; the key is selected, copy it by hand.</p>}
      <button type="button" className="btn btn-ghost" onClick={onDone}>
        Done, hide it
      </button>
    </section>
  );
}
