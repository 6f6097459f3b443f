import type { BotView, CreateBotInput, UpdateBotInput } from '@tapevision/api/schemas/bots';
import { useState } from 'react';
import { useSignedIn } from '../auth/use-auth.ts';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { BotFills } from '../components/bots/BotFills.tsx';
import { BotForm } from '../components/bots/BotForm.tsx';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { Loading } from '../components/Loading.tsx';
import { errorMessage } from '../lib/errors.ts';
import { formatDateTime } from '../lib/format.ts';
import { useMe } from '../lib/use-me.ts';
import { trpc } from '../trpc.ts';
import './bots.css';

/** A bot the runner stops (an error, its owner losing trading rights) shows so within this long. */
const REFRESH_MS = 10_000;

type Editing = { kind: 'new' } | { kind: 'edit'; bot: BotView } | null;

/**
 * Trading bots: create, edit (secrets stay masked), start, stop, delete, and each bot's fills.
 * Buttons follow the permissions: a viewer reads; only a bot's owner edits or starts it; an admin
 * may also stop or delete anyone's. The server checks every one of these regardless.
 */
export default function BotsPage() {
  const { user } = useSignedIn();
  const me = useMe();
  const utils = trpc.useUtils();
  const permissions = new Set<string>(me.data?.permissions ?? []);
  const can = (p: string) => permissions.has(p);
  const bots = trpc.bots.list.useQuery(undefined, { refetchInterval: REFRESH_MS });
  const status = trpc.system.status.useQuery(undefined, { staleTime: 30_000 });
  const create = trpc.bots.create.useMutation();
  const update = trpc.bots.update.useMutation();
  const start = trpc.bots.start.useMutation();
  const stop = trpc.bots.stop.useMutation();
  const remove = trpc.bots.delete.useMutation();
  const [editing, setEditing] = useState<Editing>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const universe = status.data?.universe;
  const list = bots.data ?? [];
  const selectedBot = list.find((b) => b.id === selected) ?? null;
  const showOwner = list.some((b) => b.ownerId !== user.id);

  function saved(bot: BotView) {
    utils.bots.list.setData(undefined, (current) => (current ? [...current.filter((b) => b.id !== bot.id), bot] : current));
    void utils.bots.list.invalidate();
  }

  async function act(label: string, run: () => Promise<BotView | { id: string }>) {
    setActionError(null);
    setNotice(null);
    try {
      const result = await run();
      if ('status' in result) saved(result);
      else void utils.bots.list.invalidate();
      setNotice(label);
    } catch (err) {
      setActionError(errorMessage(err));
    }
  }

  return (
    <section className="page bots-page">
      <div className="page-head">
        <div>
          <h1>Bots</h1>
          <p className="lead">Strategies that trade your account from the live tape, through the same risk checks as any ticket.</p>
        </div>
        {can('bots.write') && !editing && (
          <button type="button" className="btn btn-primary" onClick={() => setEditing({ kind: 'new' })}>
            New bot
          </button>
        )}
      </div>

      {notice && <Notice kind="success">{notice}</Notice>}
      {actionError && <ErrorAlert>{actionError}</ErrorAlert>}

      {editing && universe && (
        <div className="card">
          <h2>{editing.kind === 'new' ? 'New bot' : `Edit ${editing.bot.name}`}</h2>
          <BotForm
            key={editing.kind === 'new' ? 'new' : `${editing.bot.id}:${editing.bot.version}`}
            bot={editing.kind === 'edit' ? editing.bot : null}
            universe={universe}
            onCreate={(input: CreateBotInput) => create.mutateAsync(input)}
            onUpdate={(input: UpdateBotInput) => update.mutateAsync(input)}
            onDone={(bot) => {
              setEditing(null);
              if (bot) {
                saved(bot);
                setNotice(editing.kind === 'new' ? `Bot ${bot.name} created (stopped).` : `Bot ${bot.name} saved.`);
              }
            }}
          />
        </div>
      )}

      <div className="card">
        {bots.isPending && <Loading label="Loading bots…" />}
        {bots.error && <ErrorAlert error={bots.error} />}
        {bots.data && list.length === 0 && <p className="muted">No bots yet.</p>}
        {list.length > 0 && (
          <div className="table-wrap">
            <table className="table" aria-label="Bots">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  {showOwner && <th scope="col">Account</th>}
                  <th scope="col">Strategy</th>
                  <th scope="col">Symbols</th>
                  <th scope="col">Status</th>
                  <th scope="col">Updated</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((bot) => {
                  const own = bot.ownerId === user.id;
                  const running = bot.status === 'running';
                  return (
                    <tr key={bot.id} data-bot-id={bot.id} data-bot-status={bot.status} className={selected === bot.id ? 'row-current' : undefined}>
                      <td className="bot-name">{bot.name}</td>
                      {showOwner && <td title={bot.ownerId}>{own ? 'you' : bot.ownerId.slice(0, 8)}</td>}
                      <td>{bot.strategy}</td>
                      <td>{bot.symbols.join(', ')}</td>
                      <td>
                        <span className={`badge ${running ? 'badge-ok' : 'badge-muted'}`}>{running ? 'Running' : 'Stopped'}</span>
                        {bot.lastError && (
                          <span className="bot-error" title={bot.lastError}>
                            {' '}
                            {bot.lastError}
                          </span>
                        )}
                      </td>
                      <td>{formatDateTime(bot.updatedAt)}</td>
                      <td className="cell-actions">
                        <div className="button-row">
                          <button
                            type="button"
                            className="btn btn-ghost btn-small"
                            aria-pressed={selected === bot.id}
                            aria-label={`Fills of ${bot.name}`}
                            onClick={() => setSelected((s) => (s === bot.id ? null : bot.id))}
                          >
                            Fills
                          </button>
                          {own && can('bots.write') && (
                            <button type="button" className="btn btn-secondary btn-small" aria-label={`Edit ${bot.name}`} onClick={() => setEditing({ kind: 'edit', bot })}>
                              Edit
                            </button>
                          )}
                          {own && can('bots.write') && can('trading.execute') && !running && (
                            <button
                              type="button"
                              className="btn btn-primary btn-small"
                              aria-label={`Start ${bot.name}`}
                              disabled={start.isPending}
                              onClick={() => void act(`Bot ${bot.name} started.`, () => start.mutateAsync({ id: bot.id }))}
                            >
                              Start
                            </button>
                          )}
                          {(own || can('users.manage')) && can('bots.write') && running && (
                            <button
                              type="button"
                              className="btn btn-secondary btn-small"
                              aria-label={`Stop ${bot.name}`}
                              disabled={stop.isPending}
                              onClick={() => void act(`Bot ${bot.name} stopped.`, () => stop.mutateAsync({ id: bot.id }))}
                            >
                              Stop
                            </button>
                          )}
                          {(own || can('users.manage')) && can('bots.delete') && (
                            <ConfirmButton
                              question={`Delete ${bot.name}?`}
                              confirmLabel="Delete"
                              disabled={remove.isPending}
                              onConfirm={() =>
                                void act(`Bot ${bot.name} deleted.`, async () => {
                                  const out = await remove.mutateAsync({ id: bot.id });
                                  if (selected === bot.id) setSelected(null);
                                  return out;
                                })
                              }
                            >
                              Delete
                            </ConfirmButton>
                          )}
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>

      {selectedBot && (
        <section className="card" aria-labelledby="bot-fills-title">
          <h2 id="bot-fills-title">Fills of {selectedBot.name}</h2>
          <BotFills botId={selectedBot.id} universe={universe} />
        </section>
      )}
    </section>
  );
}
