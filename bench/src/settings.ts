export type Database = 'pglite' | 'postgres';

export interface BenchSettings {
  quick: boolean;
  /** Measured seconds per HTTP scenario (≥ 10 in full mode, so the numbers settle). */
  seconds: number;
  /** 0 in quick mode: no separate warm-up run (the smoke run checks that scenarios work, not numbers). */
  warmupSeconds: number;
  connections: number;
  writerRows: number;
}

export function settingsFrom(argv: string[]): BenchSettings {
  const quick = argv.includes('--quick');
  return quick
    ? { quick, seconds: 2, warmupSeconds: 0, connections: 20, writerRows: 20_000 }
    : { quick, seconds: 10, warmupSeconds: 3, connections: 50, writerRows: 200_000 };
}
