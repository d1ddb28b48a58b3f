import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { vi } from 'vitest';
import { portAnswers } from './services.ts';
import { freePort, tempDataDir } from './test-app.ts';

/**
 * A nats-server of a test's own, on a free port of 127.0.0.1 with a temporary JetStream store, for
 * suites that stop or kill the server: the shared one on 4222 serves other suites at the same time.
 */

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/**
 * Whether the nats-server binary is there. Throws when it is missing and ORDERFLOW_REQUIRE_SERVICES=1,
 * so that CI fails rather than skips. Use with `describe.runIf`.
 */
export function natsServerInstalled(): boolean {
  if (fs.existsSync(NATS_SERVER_BIN)) return true;
  if (process.env.ORDERFLOW_REQUIRE_SERVICES === '1') {
    throw new Error(
      `${NATS_SERVER_BIN} is missing and ORDERFLOW_REQUIRE_SERVICES=1 (set NATS_SERVER_BIN to its path)`,
    );
  }
  return false;
}

export interface OwnNatsServer {
  readonly port: number;
  readonly storeDir: string;
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Starts it again on the same port and store; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGTERM, as a service manager stops it; resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Kills it and deletes its store. */
  remove(): Promise<void>;
  /** The last lines it printed, for failure messages. */
  tail(): string;
}

const TAIL_LINES = 40;

/** Starts a JetStream-enabled nats-server on a free port with a fresh store directory. */
export async function startNatsServer(): Promise<OwnNatsServer> {
  const port = await freePort();
  const storeDir = tempDataDir('orderflow-nats-');
  const lines: string[] = [];
  let child: ChildProcess | undefined;

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(name);
    await exited;
  };

  const server: OwnNatsServer = {
    port,
    storeDir,
    url: `nats://127.0.0.1:${port}`,
    async start() {
      if (child !== undefined) throw new Error(`nats-server on port ${port} is already running`);
      const started = spawn(
        NATS_SERVER_BIN,
        ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = started;
      const keep = (chunk: Buffer): void => {
        lines.push(...chunk.toString().trimEnd().split('\n'));
        lines.splice(0, Math.max(0, lines.length - TAIL_LINES));
      };
      started.stdout?.on('data', keep);
      started.stderr?.on('data', keep);
      try {
        // waitUntil, not waitFor: it gives up at once when the server exits.
        await vi.waitUntil(
          async () => {
            if (started.exitCode !== null) throw new Error(`nats-server exited (${started.exitCode})`);
            return portAnswers('127.0.0.1', port);
          },
          { timeout: 10_000, interval: 50 },
        );
      } catch (error) {
        await signal('SIGKILL');
        throw new Error(`nats-server did not start on port ${port}:\n${server.tail()}`, { cause: error });
      }
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async remove() {
      await signal('SIGKILL');
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
    tail: () => lines.join('\n'),
  };
  try {
    await server.start();
  } catch (error) {
    fs.rmSync(storeDir, { recursive: true, force: true });
    throw error;
  }
  return server;
}
