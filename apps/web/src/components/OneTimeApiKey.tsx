import { OneTimeSecret } from './OneTimeSecret.tsx';

/** A new API key, shown this once: the server keeps only its hash, so it can never show it again. */
export function OneTimeApiKey({ title, apiKey, onDone }: { title: string; apiKey: string; onDone: () => void }) {
  return (
    <OneTimeSecret
      title={title}
      secret={apiKey}
      noun="key"
      testId="one-time-api-key"
      valueClassName="api-key-value"
      onDone={onDone}
      warning={
        <>
          <strong>Copy it now: it will not be shown again.</strong> Tape Vision stores only a hash of the key, so nobody
          can look it up later. Keep it in your service&apos;s secret store; if it is lost, roll the key to get a new one.
        </>
      }
    />
  );
}
