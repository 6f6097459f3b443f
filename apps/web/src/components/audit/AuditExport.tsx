import type { AuditFilter } from '@tapevision/api/schemas';
import { useEffect, useRef, useState } from 'react';
import { downloadBlob, fileTimestamp } from '../../lib/download.ts';
import { errorMessage } from '../../lib/errors.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert, Notice } from '../Alert.tsx';

type Format = 'ndjson' | 'csv';

const FORMATS: Record<Format, { label: string; mime: string; extension: string }> = {
  ndjson: { label: 'NDJSON', mime: 'application/x-ndjson', extension: 'ndjson' },
  csv: { label: 'CSV', mime: 'text/csv', extension: 'csv' },
};

type State =
  | { kind: 'idle' }
  | { kind: 'running'; format: Format; rows: number }
  | { kind: 'done'; format: Format; rows: number; filename: string }
  | { kind: 'cancelled' }
  | { kind: 'error'; message: string };

function countLines(chunk: string): number {
  let n = 0;
  for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) n += 1;
  return n;
}

/**
 * NDJSON and CSV exports of the entries the current filters select. The server streams them a page
 * at a time (audit.export over the streaming link); the chunks are gathered into one file, with
 * progress shown, and handed to the browser to save. The export itself is audited, as HIGH.
 */
export function AuditExport({ filters }: { filters: AuditFilter }) {
  const utils = trpc.useUtils();
  const [state, setState] = useState<State>({ kind: 'idle' });
  const abortRef = useRef<AbortController | null>(null);

  // Leaving the page ends a running export.
  useEffect(() => () => abortRef.current?.abort(), []);

  async function run(format: Format) {
    const abort = new AbortController();
    abortRef.current = abort;
    setState({ kind: 'running', format, rows: 0 });
    const parts: string[] = [];
    let lines = 0;
    try {
      const stream = await utils.client.audit.export.query({ ...filters, format }, { signal: abort.signal });
      for await (const chunk of stream) {
        if (abort.signal.aborted) break;
        parts.push(chunk);
        lines += countLines(chunk);
        setState({ kind: 'running', format, rows: format === 'csv' ? Math.max(0, lines - 1) : lines });
      }
      if (abort.signal.aborted) {
        setState({ kind: 'cancelled' });
        return;
      }
      const { mime, extension } = FORMATS[format];
      const filename = `audit-log-${fileTimestamp()}.${extension}`;
      downloadBlob(new Blob(parts, { type: `${mime};charset=utf-8` }), filename);
      setState({ kind: 'done', format, rows: format === 'csv' ? Math.max(0, lines - 1) : lines, filename });
    } catch (err) {
      setState(abort.signal.aborted ? { kind: 'cancelled' } : { kind: 'error', message: errorMessage(err) });
    } finally {
      if (abortRef.current === abort) abortRef.current = null;
    }
  }

  const running = state.kind === 'running';
  return (
    <div className="audit-export" role="group" aria-label="Export">
      <div className="button-row">
        {(Object.keys(FORMATS) as Format[]).map((format) => (
          <button key={format} type="button" className="btn btn-secondary" disabled={running} onClick={() => void run(format)}>
            Export {FORMATS[format].label}
          </button>
        ))}
        {running && (
          <button type="button" className="btn btn-ghost" onClick={() => abortRef.current?.abort()}>
            Cancel export
          </button>
        )}
      </div>
      <div aria-live="polite" className="audit-export-status">
        {running && (
          <p className="muted">
            <span className="spinner" aria-hidden="true" /> Exporting {FORMATS[state.format].label}… {state.rows.toLocaleString()} rows so far
          </p>
        )}
        {state.kind === 'done' && (
          <Notice kind="success">
            Exported {state.rows.toLocaleString()} {state.rows === 1 ? 'entry' : 'entries'} as {FORMATS[state.format].label} ({state.filename}).
          </Notice>
        )}
        {state.kind === 'cancelled' && <Notice kind="info">Export cancelled.</Notice>}
        {state.kind === 'error' && <ErrorAlert>Export failed: {state.message}</ErrorAlert>}
      </div>
    </div>
  );
}
