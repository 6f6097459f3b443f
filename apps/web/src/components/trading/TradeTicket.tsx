// The trading schemas alone: the full schema module carries the password dictionaries, which
// the landing page has no use for.
import {
  executeOrderInput,
  ORDER_SIDES,
  type ExecuteOrderInput,
  type OrderSide,
  type OrderType,
  type OrderView,
} from '@tapevision/api/schemas/trading';
import type { UniverseInstrument } from '@tapevision/api/schemas';
import { useId, useState, type FormEvent } from 'react';
import { errorIssues, errorMessage, errorReason, isApiError, issuesByField } from '../../lib/errors.ts';
import { formatPrice, instrumentOf } from '../../lib/money.ts';
import { ErrorAlert, Notice } from '../Alert.tsx';

type Field = 'action' | 'symbol' | 'quantity' | 'type' | 'price' | 'reason' | 'confidence' | '_form';
type Errors = Partial<Record<Field, string>>;

interface Values {
  action: OrderSide;
  symbol: string;
  quantity: string;
  type: OrderType;
  price: string;
  reason: string;
  confidence: string;
}

/** A refusal by the risk check: the rule it broke and the server's words. */
export interface Refusal {
  rule: string;
  message: string;
}

type Outcome = { kind: 'placed'; order: OrderView } | { kind: 'refused'; refusal: Refusal } | null;

/** The risk rule in a trading.execute error (`error.data.reason` RISK_REJECTED), or null. */
export function refusalOf(err: unknown): Refusal | null {
  if (!isApiError(err) || errorReason(err) !== 'RISK_REJECTED') return null;
  const rule = err.data?.rule;
  return { rule: typeof rule === 'string' ? rule : 'risk', message: err.message };
}

/**
 * A network failure or a server error may or may not have placed the order: the retry must send
 * the same clientOrderId, so the server answers with the first result instead of placing it twice.
 */
function mayHaveReachedServer(err: unknown): boolean {
  if (!isApiError(err)) return true;
  return !err.data || err.data.httpStatus >= 500;
}

function toNumber(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}

function describeOrder(order: OrderView, instrument: UniverseInstrument | undefined): string {
  const what = `${order.side} ${order.quantity} ${order.symbol} ${order.type === 'limit' ? `limit ${formatPrice(order.limitPrice, instrument)}` : 'at market'}`;
  switch (order.status) {
    case 'filled':
      return `Filled: ${what}, at ${formatPrice(order.averageFillPrice, instrument)}.`;
    case 'working':
      return `Working: ${what}${order.filledQuantity ? `, ${order.filledQuantity} filled so far` : ''}.`;
    case 'cancelled':
      return `Cancelled: ${what}.`;
    case 'rejected':
      return `Rejected: ${what}.`;
  }
}

/**
 * The order ticket. It validates with the server's own schema (executeOrderInput) before
 * sending; the server checks it again, and its risk check has the last word.
 */
export function TradeTicket({
  universe,
  lastPrices,
  engineRunning,
  submit,
}: {
  universe: readonly UniverseInstrument[];
  lastPrices: ReadonlyMap<string, { price: number }>;
  /** Only a warning: the server decides, and refuses while the engine is stopped. */
  engineRunning: boolean;
  submit: (input: ExecuteOrderInput) => Promise<OrderView>;
}) {
  const [values, setValues] = useState<Values>({
    action: 'BUY',
    symbol: universe[0]?.symbol ?? '',
    quantity: '1',
    type: 'market',
    price: '',
    reason: '',
    confidence: '',
  });
  const [errors, setErrors] = useState<Errors>({});
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  /** The clientOrderId of a send that may have reached the server, kept for its retry. */
  const [retryId, setRetryId] = useState<string | null>(null);
  const id = useId();
  const instrument = instrumentOf(universe, values.symbol);
  const last = lastPrices.get(values.symbol)?.price;

  function set<K extends keyof Values>(key: K, value: Values[K]) {
    setValues((v) => ({ ...v, [key]: value }));
    // A changed ticket is a different order: it gets its own id.
    setRetryId(null);
  }

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const clientOrderId = retryId ?? crypto.randomUUID();
    const candidate = {
      action: values.action,
      symbol: values.symbol,
      quantity: toNumber(values.quantity) ?? Number.NaN,
      type: values.type,
      ...(values.type === 'limit' ? { price: toNumber(values.price) ?? Number.NaN } : {}),
      reason: values.reason,
      ...(values.confidence.trim() ? { confidence: Number(values.confidence) } : {}),
      clientOrderId,
    };
    const parsed = executeOrderInput.safeParse(candidate);
    if (!parsed.success) {
      const found = issuesByField(parsed.error.issues) as Errors;
      if (found.quantity) found.quantity = 'Enter a whole number of contracts, 1 or more';
      if (found.price && values.type === 'limit' && values.price.trim() === '') found.price = 'A limit order needs a price';
      if (found.reason) found.reason = 'Say why, in 5 to 500 characters';
      if (found.confidence) found.confidence = 'A number from 0 to 100';
      setErrors(found);
      return;
    }
    setErrors({});
    setOutcome(null);
    setPending(true);
    try {
      const order = await submit(parsed.data);
      setRetryId(null);
      if (order.status === 'rejected') {
        setOutcome({ kind: 'refused', refusal: { rule: order.rejectRule ?? 'rejected', message: order.rejectMessage ?? 'The order was rejected' } });
      } else {
        setOutcome({ kind: 'placed', order });
        setValues((v) => ({ ...v, reason: '' }));
      }
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal) {
        setRetryId(null);
        setOutcome({ kind: 'refused', refusal });
        return;
      }
      setRetryId(mayHaveReachedServer(err) ? clientOrderId : null);
      const byField = issuesByField(errorIssues(err)) as Errors;
      if (Object.keys(byField).length === 0) byField._form = errorMessage(err);
      setErrors(byField);
    } finally {
      setPending(false);
    }
  }

  const fieldError = (field: Field) =>
    errors[field] ? (
      <p className="field-error" id={`${id}-${field}-error`}>
        {errors[field]}
      </p>
    ) : null;
  const described = (field: Field, hint?: string) => [errors[field] ? `${id}-${field}-error` : null, hint ?? null].filter(Boolean).join(' ') || undefined;

  return (
    <form onSubmit={onSubmit} noValidate className="form ticket" aria-label="Trade ticket">
      {!engineRunning && <Notice kind="warning">The engine is stopped: orders are refused until it starts again.</Notice>}
      <fieldset className="ticket-sides">
        <legend>Side</legend>
        {ORDER_SIDES.map((side) => (
          <label key={side} className={`ticket-side ticket-side-${side.toLowerCase()} ${values.action === side ? 'is-on' : ''}`}>
            <input type="radio" name={`${id}-side`} value={side} checked={values.action === side} onChange={() => set('action', side)} />
            {side === 'BUY' ? 'Buy' : 'Sell'}
          </label>
        ))}
      </fieldset>
      <div className="ticket-row">
        <div className="field">
          <label htmlFor={`${id}-symbol`}>Symbol</label>
          <select
            id={`${id}-symbol`}
            value={values.symbol}
            aria-invalid={!!errors.symbol}
            aria-describedby={described('symbol')}
            onChange={(e) => {
              const next = e.target.value;
              set('symbol', next);
              // Another symbol's price means nothing here: start again from this one's last.
              const nextLast = lastPrices.get(next)?.price;
              if (values.type === 'limit') set('price', nextLast === undefined ? '' : formatPrice(nextLast, instrumentOf(universe, next)));
            }}
          >
            {universe.map((i) => (
              <option key={i.symbol} value={i.symbol}>
                {i.symbol} — {i.name}
              </option>
            ))}
          </select>
          {fieldError('symbol')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-quantity`}>Quantity</label>
          <input
            id={`${id}-quantity`}
            type="number"
            inputMode="numeric"
            min={1}
            step={1}
            value={values.quantity}
            aria-invalid={!!errors.quantity}
            aria-describedby={described('quantity')}
            onChange={(e) => set('quantity', e.target.value)}
          />
          {fieldError('quantity')}
        </div>
      </div>
      <div className="ticket-row">
        <div className="field">
          <label htmlFor={`${id}-type`}>Order type</label>
          <select
            id={`${id}-type`}
            value={values.type}
            onChange={(e) => {
              const type = e.target.value as OrderType;
              set('type', type);
              // A limit ticket starts at the last price: the band check measures from it.
              if (type === 'limit' && values.price === '' && last !== undefined) set('price', formatPrice(last, instrument));
            }}
          >
            <option value="market">Market</option>
            <option value="limit">Limit</option>
          </select>
        </div>
        {values.type === 'limit' && (
          <div className="field">
            <label htmlFor={`${id}-price`}>Limit price</label>
            <input
              id={`${id}-price`}
              type="number"
              inputMode="decimal"
              min={0}
              step={instrument?.tickSize ?? 'any'}
              value={values.price}
              aria-invalid={!!errors.price}
              aria-describedby={described('price', `${id}-price-hint`)}
              onChange={(e) => set('price', e.target.value)}
            />
            {fieldError('price')}
            <p className="hint" id={`${id}-price-hint`}>
              Last: {formatPrice(last, instrument)}
            </p>
          </div>
        )}
      </div>
      <div className="field">
        <label htmlFor={`${id}-reason`}>Reason</label>
        <input
          id={`${id}-reason`}
          type="text"
          maxLength={500}
          autoComplete="off"
          placeholder="Why this order (kept with it and in the audit log)"
          value={values.reason}
          aria-invalid={!!errors.reason}
          aria-describedby={described('reason')}
          onChange={(e) => set('reason', e.target.value)}
        />
        {fieldError('reason')}
      </div>
      <div className="field">
        <label htmlFor={`${id}-confidence`}>Confidence % (optional)</label>
        <input
          id={`${id}-confidence`}
          type="number"
          inputMode="numeric"
          min={0}
          max={100}
          value={values.confidence}
          aria-invalid={!!errors.confidence}
          aria-describedby={described('confidence')}
          onChange={(e) => set('confidence', e.target.value)}
        />
        {fieldError('confidence')}
      </div>
      {errors._form && (
        <ErrorAlert>
          {errors._form}
          {retryId && ' It may or may not have been placed: sending it again is safe, the server recognises a repeat.'}
        </ErrorAlert>
      )}
      {outcome?.kind === 'refused' && (
        <div className="alert alert-error ticket-refused" role="alert" data-rule={outcome.refusal.rule}>
          Refused by the risk check (<code>{outcome.refusal.rule}</code>): {outcome.refusal.message}
        </div>
      )}
      {outcome?.kind === 'placed' && (
        <Notice kind="success">
          <span data-order-id={outcome.order.id} data-order-status={outcome.order.status}>
            {describeOrder(outcome.order, instrumentOf(universe, outcome.order.symbol))}
          </span>
        </Notice>
      )}
      <div className="form-actions">
        <button type="submit" className={`btn ${values.action === 'BUY' ? 'btn-buy' : 'btn-sell'}`} disabled={pending}>
          {pending ? 'Sending…' : retryId ? 'Send again' : `${values.action === 'BUY' ? 'Buy' : 'Sell'} ${values.symbol}`}
        </button>
      </div>
    </form>
  );
}
