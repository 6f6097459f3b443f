import { execSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { assertChromiumInstalled } from './support/chromium.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const builtDist = path.join(repoRoot, 'apps/web/dist');

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's copy of the built SPA (see below). */
    webDist: string;
  }
}

/**
 * Once per run of the browser project: check the browser is there, build the SPA into
 * apps/web/dist, and serve this run from its own copy of that build, so that another test run
 * rebuilding apps/web/dist meanwhile (from a different working tree) cannot swap hashed chunks
 * under the pages this run has open.
 */
export default function setup(project: TestProject): () => void {
  assertChromiumInstalled();
  // Vitest sets NODE_ENV=test, which would give Vite (and React) a development build: test what ships.
  execSync('pnpm --filter @tapevision/web build', { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
  const snapshot = mkdtempSync(path.join(tmpdir(), 'tapevision-web-dist-'));
  cpSync(builtDist, snapshot, { recursive: true });
  project.provide('webDist', snapshot);
  return () => rmSync(snapshot, { recursive: true, force: true });
}
