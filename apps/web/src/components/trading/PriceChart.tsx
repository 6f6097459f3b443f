import type { UniverseInstrument } from '@tapevision/api/schemas';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatClock, formatPrice, instrumentOf } from '../../lib/money.ts';
import type { ChartPoint, LivePrice } from './use-tape.ts';

/** The chosen symbol's prints since the page opened, as a line on a time axis. */
export function PriceChart({
  symbol,
  points,
  universe,
}: {
  symbol: string;
  points: readonly ChartPoint[];
  universe: readonly UniverseInstrument[] | undefined;
}) {
  const instrument = instrumentOf(universe, symbol);
  const first = points[0];
  const last = points[points.length - 1];
  const summary =
    first && last
      ? `${symbol}: ${points.length} prints, from ${formatPrice(first.price, instrument)} to ${formatPrice(last.price, instrument)}.`
      : `${symbol}: no prints yet.`;
  return (
    <figure className="price-chart" aria-label={`Price chart: ${symbol}`} data-points={points.length}>
      <figcaption className="sr-only">{summary}</figcaption>
      {points.length < 2 ? (
        <p className="chart-empty muted">Waiting for {symbol} prints…</p>
      ) : (
        <div className="chart-box" data-testid="price-chart">
          <ResponsiveContainer width="100%" height={260}>
            <LineChart data={points as ChartPoint[]} margin={{ top: 8, right: 16, bottom: 4, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="t" type="number" scale="time" domain={['dataMin', 'dataMax']} tickFormatter={(t: number) => formatClock(t)} minTickGap={40} />
              <YAxis
                dataKey="price"
                domain={['auto', 'auto']}
                width={72}
                tickFormatter={(p: number) => formatPrice(p, instrument)}
                allowDecimals
              />
              <Tooltip
                labelFormatter={(t) => formatClock(Number(t))}
                formatter={(value) => [formatPrice(Number(value), instrument), symbol]}
              />
              <Line type="linear" dataKey="price" stroke="#0b6bcb" strokeWidth={1.5} dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
    </figure>
  );
}

/** Each symbol's newest price; choosing one charts it. */
export function LastPrices({
  universe,
  lastPrices,
  selected,
  onSelect,
}: {
  universe: readonly UniverseInstrument[];
  lastPrices: ReadonlyMap<string, LivePrice>;
  selected: string;
  onSelect: (symbol: string) => void;
}) {
  return (
    <ul className="last-prices" aria-label="Last prices">
      {universe.map((instrument) => {
        const live = lastPrices.get(instrument.symbol);
        return (
          <li key={instrument.symbol}>
            <button
              type="button"
              className={`last-price ${selected === instrument.symbol ? 'is-selected' : ''}`}
              aria-pressed={selected === instrument.symbol}
              data-symbol={instrument.symbol}
              onClick={() => onSelect(instrument.symbol)}
              title={`Chart ${instrument.name}`}
            >
              <span className="last-price-symbol">{instrument.symbol}</span>
              <span className="last-price-name">{instrument.name}</span>
              <span className={`last-price-value tick-${live?.change ?? 'flat'}`} data-testid={`last-price-${instrument.symbol}`}>
                {formatPrice(live?.price, instrument)}
                <span className="sr-only">{live?.change === 'up' ? ' (up)' : live?.change === 'down' ? ' (down)' : ''}</span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
