import { zodResolver } from '@hookform/resolvers/zod';
import type { BlockView } from '@tapevision/api';
import { blockAddInput } from '@tapevision/api/schemas/blocks';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useForm } from 'react-hook-form';
import { z } from 'zod';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';
import { ConfirmButton } from '../ConfirmButton.tsx';
import './blocklist.css';

// The server's rules for the address and the reason; the expiry comes from a datetime-local field
// (local time, no offset), turned into an ISO instant on submit. Empty: permanent.
const formSchema = blockAddInput.pick({ ip: true, reason: true }).extend({
  expiresAt: z.string().refine((v) => v === '' || new Date(v).getTime() > Date.now(), { message: 'Must be in the future' }),
});
type FormValues = z.infer<typeof formSchema>;

const features = tableFeatures({});
const helper = createColumnHelper<typeof features, BlockView>();

/** Who or what made the block: the admin's email, or the detection rule. */
function sourceLabel(b: BlockView): string {
  if (b.source.startsWith('rule:')) return `rule ${b.source.slice(5)}`;
  return b.createdBy?.email ?? b.source;
}

/**
 * The IP blocklist: what is blocked now (soonest expiry first) and what was lifted recently, an
 * add form (address or CIDR, reason, optional expiry) and a remove button per active block.
 */
export function BlocklistSection() {
  const utils = trpc.useUtils();
  const [showHistory, setShowHistory] = useState(false);
  const list = trpc.security.blocks.list.useQuery(showHistory ? { status: 'all' } : { status: 'active' });
  const refresh = () => void utils.security.blocks.list.invalidate();
  // Every block, a rule's on any process included, raises an ip.blocked alert: the list follows them.
  trpc.alerts.onAlert.useSubscription({ kind: 'security' }, { onData: (e) => e.data.security?.type === 'ip.blocked' && refresh() });
  const add = trpc.security.blocks.add.useMutation({ onSuccess: refresh });
  const remove = trpc.security.blocks.remove.useMutation({ onSuccess: refresh });
  const form = useForm<FormValues>({ resolver: zodResolver(formSchema), defaultValues: { ip: '', reason: '', expiresAt: '' } });

  const columns = useMemo(
    () =>
      helper.columns([
        helper.accessor('cidr', { header: 'Address', cell: (c) => <code>{c.getValue()}</code> }),
        helper.accessor('status', { header: 'Status', cell: (c) => <span className={`block-status block-${c.getValue()}`}>{c.getValue()}</span> }),
        helper.accessor('reason', { header: 'Reason' }),
        helper.display({ id: 'source', header: 'Source', cell: (c) => sourceLabel(c.row.original) }),
        helper.accessor('createdAt', { header: 'Blocked', cell: (c) => formatDateTimeSeconds(c.getValue()) }),
        helper.accessor('expiresAt', { header: 'Expires', cell: (c) => (c.getValue() ? formatDateTimeSeconds(c.getValue()) : 'never') }),
        helper.display({
          id: 'actions',
          header: '',
          cell: (c) =>
            c.row.original.status === 'active' ? (
              <ConfirmButton question={`Unblock ${c.row.original.cidr}?`} confirmLabel="Unblock" disabled={remove.isPending} onConfirm={() => remove.mutate({ ip: c.row.original.cidr })}>
                Remove
              </ConfirmButton>
            ) : null,
        }),
      ]),
    [remove],
  );
  const data = useMemo(() => list.data ?? [], [list.data]);
  const table = useTable({ features, columns, data, getRowId: (row) => row.id });

  const submit = form.handleSubmit((values) =>
    add.mutate(
      { ip: values.ip, reason: values.reason, ...(values.expiresAt ? { expiresAt: new Date(values.expiresAt).toISOString() } : {}) },
      { onSuccess: () => form.reset() },
    ),
  );

  return (
    <section className="card" aria-labelledby="blocklist-title">
      <div className="card-head">
        <h2 id="blocklist-title">Blocklist</h2>
        <label className="inline-check">
          <input type="checkbox" checked={showHistory} onChange={(e) => setShowHistory(e.target.checked)} /> Show expired and removed
        </label>
      </div>
      <form className="form-inline blocklist-form" onSubmit={submit} aria-label="Block an address">
        <label>
          Address or CIDR
          <input aria-label="Address or CIDR" placeholder="203.0.113.7 or 198.51.100.0/24" {...form.register('ip')} />
          {form.formState.errors.ip && <span className="field-error">{form.formState.errors.ip.message}</span>}
        </label>
        <label>
          Reason
          <input aria-label="Reason" {...form.register('reason')} />
          {form.formState.errors.reason && <span className="field-error">{form.formState.errors.reason.message}</span>}
        </label>
        <label>
          Expires (optional)
          <input aria-label="Expires" type="datetime-local" {...form.register('expiresAt')} />
          {form.formState.errors.expiresAt && <span className="field-error">{form.formState.errors.expiresAt.message}</span>}
        </label>
        <button type="submit" className="button button-danger" disabled={add.isPending}>
          Block
        </button>
      </form>
      {add.error && <ErrorAlert error={add.error} />}
      {remove.error && <ErrorAlert error={remove.error} />}
      {list.error && <ErrorAlert error={list.error} />}
      <table className="table blocklist-table" aria-label="Blocklist">
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id}>{header.isPlaceholder ? null : <table.FlexRender header={header} />}</th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr key={row.id} data-block-cidr={row.original.cidr} data-block-status={row.original.status}>
              {row.getAllCells().map((cell) => (
                <td key={cell.id}>
                  <table.FlexRender cell={cell} />
                </td>
              ))}
            </tr>
          ))}
          {data.length === 0 && !list.isLoading && (
            <tr>
              <td colSpan={columns.length} className="muted">
                Nothing is blocked.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
