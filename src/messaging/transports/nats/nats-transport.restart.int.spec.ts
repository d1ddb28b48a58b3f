import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../../../test/support/services.ts';
import { randomType, randomWord, testMessage, waitFor } from '../../testing/transport-contract.ts';
import type { Delivery, Transport } from '../../transport.ts';
import { createNatsTransport } from './nats-transport.ts';
import { freePort } from '../../../../test/support/test-app.ts';

/**
 * Restarts a NATS server under a running transport. The shared server on 4222 serves other suites at
 * the same time, so this suite starts its own nats-server on a free port with a temporary store.
 */
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
if (!fs.existsSync(NATS_SERVER) && process.env.ORDERFLOW_REQUIRE_SERVICES === '1') {
  throw new Error(
    `${NATS_SERVER} is missing and ORDERFLOW_REQUIRE_SERVICES=1 (set NATS_SERVER_BIN to its path)`,
  );
}
const runnable = fs.existsSync(NATS_SERVER) && (await serviceAvailable('nats'));

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

class OwnServer {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(
      NATS_SERVER,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
      {
        stdio: 'ignore',
      },
    );
    this.child = child;
    await waitFor(() => answers(this.port), `nats-server on port ${this.port}`, 10_000);
  }

  /** SIGTERM, as a service manager stops it, and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }
}

describe.runIf(runnable)('NATS transport across a server restart', () => {
  let server: OwnServer | undefined;
  let transport: Transport | undefined;

  afterEach(async () => {
    await transport?.close();
    await server?.stop();
    if (server !== undefined) fs.rmSync(server.storeDir, { recursive: true, force: true });
    transport = undefined;
    server = undefined;
  });

  it('keeps consuming after the server stops and starts again', async () => {
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-nats-'));
    server = new OwnServer(await freePort(), storeDir);
    await server.start();
    transport = createNatsTransport({
      servers: `nats://127.0.0.1:${server.port}`,
      namespace: `test-${randomWord(12)}`,
      partitions: 4,
      onError: () => undefined,
    });
    await transport.start();
    const type = randomType();
    const received: Delivery[] = [];
    await transport.subscribe({
      group: randomWord(),
      types: [type],
      onDelivery: (delivery) => {
        received.push(delivery);
        delivery.ack();
      },
    });
    const before = Array.from({ length: 8 }, (_, i) => testMessage(type, `k${i}`, { i }));
    await transport.publish(before);
    await waitFor(() => received.length === before.length, 'the messages before the restart');

    await server.stop();
    await server.start();

    // The client reconnects by itself; publish until the restarted server takes the message.
    const after = Array.from({ length: 8 }, (_, i) => testMessage(type, `k${i}`, { i: 100 + i }));
    const t = transport;
    await waitFor(
      () =>
        t.publish(after).then(
          () => true,
          () => false,
        ),
      'a publish to succeed after the restart',
      15_000,
    );
    await waitFor(
      () => received.length >= before.length + after.length,
      'the messages after the restart',
      20_000,
    );
    const ids = new Set(received.map((d) => d.message.id));
    for (const message of [...before, ...after]) expect(ids.has(message.id)).toBe(true);
  });
});
