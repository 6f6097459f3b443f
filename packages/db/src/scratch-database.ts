import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/**
 * A new, empty database on the server `adminUrl` points at, for tests and benchmarks that need
 * their own: its URL, and `drop()` to remove it again (connections and all).
 */
export async function createScratchDatabase(adminUrl: string, prefix = 'tv_scratch'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const conn = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await conn.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await conn.end();
      }
    },
  };
}
