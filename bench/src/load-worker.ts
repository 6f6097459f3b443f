/**
 * The load generator, run as its own process so it never shares a CPU's event loop with the
 * server under test: one autocannon run, its summary printed as one JSON line.
 */
import autocannon from 'autocannon';

const opts = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof autocannon>[0];
const result = await autocannon(opts);
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  })}\n`,
);
