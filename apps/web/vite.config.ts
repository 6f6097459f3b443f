import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/**
 * The build overwrites dist in place instead of emptying it first, so a server already serving
 * dist (a test run in parallel, `pnpm start`) never sees it half-deleted; hashed assets no longer
 * produced are removed only once the new ones are written.
 */
function pruneStaleAssets(): Plugin {
  let outDir = '';
  const written = new Set<string>();
  return {
    name: 'tapevision:prune-stale-assets',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    writeBundle(_options, bundle) {
      for (const file of Object.keys(bundle)) written.add(path.normalize(file));
    },
    closeBundle() {
      const assets = path.join(outDir, 'assets');
      let entries: string[] = [];
      try {
        entries = readdirSync(assets);
      } catch {
        return;
      }
      for (const name of entries) {
        if (!written.has(path.join('assets', name))) rmSync(path.join(assets, name), { force: true });
      }
    },
  };
}

// The API server (apps/server) serves the built SPA from ./dist on its own port.
// In development, Vite serves the SPA and forwards tRPC (HTTP and WebSocket) to the API server.
export default defineConfig({
  plugins: [react(), pruneStaleAssets()],
  server: {
    port: 5173,
    proxy: {
      '/trpc': { target: 'http://localhost:3000', ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    sourcemap: false,
    // The password strength estimator's dictionaries are large; they load only on the pages that need them.
    chunkSizeWarningLimit: 2_000,
  },
});
