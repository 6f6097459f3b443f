export type Database = 'pglite' | 'postgres';

export interface BenchSettings {
  quick: boolean;
  /** Measured seconds per HTTP scenario (≥ 10 in full mode, so the numbers settle). */
  seconds: number;
  /** 0 in quick mode: no separate warm-up run (the smoke run checks that scenarios work, not numbers). */
  warmupSeconds: number;
  connections: number;
  writerRows: number;
  /** `--only <text>`: run just the scenarios whose name contains it (e.g. `fan-out`, `login`). */
  only: string | null;
}

export function settingsFrom(argv: string[]): BenchSettings {
  const quick = argv.includes('--quick');
  const at = argv.indexOf('--only');
  const only = at >= 0 ? (argv[at + 1] ?? null) : null;
  return quick
    ? { quick, only, seconds: 2, warmupSeconds: 0, connections: 20, writerRows: 20_000 }
    : { quick, only, seconds: 10, warmupSeconds: 3, connections: 50, writerRows: 200_000 };
}
