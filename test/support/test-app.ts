import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { createApp, type App } from '../../src/app/create-app.ts';
import type { Role } from '../../src/kernel/roles.ts';
import { loadConfig } from '../../src/config/load-config.ts';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** The repository root, for spawning `bin/orderflow.mjs`. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

export function tempDataDir(prefix = 'orderflow-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface TestApp {
  app: App;
  url: string;
  dataDir: string;
}

/** The real app on a temp (or given) data dir, listening on a free port, logging nothing. */
export async function startTestApp(
  options: { dataDir?: string; roles?: Role[]; env?: Record<string, string> } = {},
): Promise<TestApp> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = loadConfig({
    ORDERFLOW_DATA_DIR: dataDir,
    ORDERFLOW_PORT: '0',
    ORDERFLOW_ADMIN_KEY: TEST_ADMIN_KEY,
    ORDERFLOW_LOG_LEVEL: 'silent',
    ...options.env,
  });
  const app = await createApp(config, {
    logger: pino({ level: 'silent' }),
    ...(options.roles ? { roles: options.roles } : {}),
  });
  const { url } = await app.start();
  return { app, url, dataDir };
}

/** A port nobody listens on right now (for child processes that must be told their port). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * A plain delay: how long a fault lasts, pacing of clients. To wait for a condition use `vi.waitFor`
 * or `expect.poll`; to prove something did not happen, wait for a marker that comes after it.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
