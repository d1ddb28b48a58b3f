import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { vi } from 'vitest';
import type { Role } from '../../src/kernel/roles.ts';
import { ROOT } from './test-app.ts';

/** The admin key (`ORDERFLOW_ADMIN_KEY`) of every process started here. */
export const PROCESS_ADMIN_KEY = 'process-test-admin-key';

/** Orderflow as a real child process (`bin/orderflow.mjs start`), for crash and CLI tests. */
export interface OrderflowProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Everything it printed, for failure messages. */
  output: string[];
}

export interface StartOrderflowOptions {
  /** `--roles`: what this process runs. @default every role */
  roles?: readonly Role[];
  /** How long to wait for /readyz. @default 30000 */
  readyTimeoutMs?: number;
}

/** Starts Orderflow on `dataDir` and `port` and resolves once /readyz answers 200. */
export async function startOrderflowProcess(
  dataDir: string,
  port: number,
  env: Record<string, string> = {},
  options: StartOrderflowOptions = {},
): Promise<OrderflowProcess> {
  const args = [path.join(ROOT, 'bin/orderflow.mjs'), 'start'];
  if (options.roles !== undefined) args.push('--roles', options.roles.join(','));
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ORDERFLOW_DATA_DIR: dataDir,
      ORDERFLOW_PORT: String(port),
      ORDERFLOW_HOST: '127.0.0.1',
      ORDERFLOW_LOG_LEVEL: 'warn',
      ORDERFLOW_ADMIN_KEY: PROCESS_ADMIN_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const baseUrl = `http://127.0.0.1:${port}`;
  let exitedEarly = false;
  try {
    // waitUntil, not waitFor: it gives up at once when the process exits.
    await vi.waitUntil(
      async () => {
        if (child.exitCode !== null) {
          exitedEarly = true;
          throw new Error(`orderflow exited early (${child.exitCode}): ${output.join('')}`);
        }
        try {
          return (await fetch(`${baseUrl}/readyz`)).status === 200;
        } catch {
          return false; // not listening yet
        }
      },
      { timeout: options.readyTimeoutMs ?? 30_000, interval: 50 },
    );
  } catch (error) {
    if (exitedEarly) throw error;
    child.kill('SIGKILL');
    throw new Error(`orderflow did not become ready: ${output.join('')}`, { cause: error });
  }
  return { child, baseUrl, output };
}

/** SIGKILL: no shutdown, no flush — what a crash or an OOM kill does. */
export async function killHard(running: OrderflowProcess): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => running.child.once('exit', () => resolve()));
  running.child.kill('SIGKILL');
  await exited;
}

/** SIGTERM, resolving with the exit code. */
export async function stopGracefully(running: OrderflowProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  running.child.kill('SIGTERM');
  return exited;
}
