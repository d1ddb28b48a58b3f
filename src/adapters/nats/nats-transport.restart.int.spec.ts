import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  startNatsServer,
  natsServerInstalled,
  type OwnNatsServer,
} from '../../../test/support/nats-server.ts';
import { serviceAvailable } from '../../../test/support/services.ts';
import { randomType, randomWord, testMessage } from '../../messaging/testing/transport-contract.ts';
import type { Delivery, Transport } from '../../messaging/transport.ts';
import { createNatsTransport } from './nats-transport.ts';

/**
 * Restarts a NATS server under a running transport. The shared server on 4222 serves other suites at
 * the same time, so this suite starts its own nats-server on a free port with a temporary store.
 */
const runnable = natsServerInstalled() && (await serviceAvailable('nats'));

describe.runIf(runnable)('NATS transport across a server restart', () => {
  let server: OwnNatsServer | undefined;
  let transport: Transport | undefined;

  afterEach(async () => {
    await transport?.close();
    await server?.remove();
    transport = undefined;
    server = undefined;
  });

  it('keeps consuming after the server stops and starts again', async () => {
    server = await startNatsServer();
    transport = createNatsTransport({
      servers: server.url,
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
    // Waits for the messages before the restart.
    await vi.waitUntil(() => received.length === before.length, { timeout: 10_000, interval: 5 });

    await server.stop();
    await server.start();

    // The client reconnects by itself; publish until the restarted server takes the message.
    const after = Array.from({ length: 8 }, (_, i) => testMessage(type, `k${i}`, { i: 100 + i }));
    const t = transport;
    // Waits for a publish to succeed after the restart.
    await vi.waitUntil(
      () =>
        t.publish(after).then(
          () => true,
          () => false,
        ),
      { timeout: 15_000, interval: 5 },
    );
    // Waits for the messages after the restart.
    await vi.waitUntil(() => received.length >= before.length + after.length, {
      timeout: 20_000,
      interval: 5,
    });
    const ids = new Set(received.map((d) => d.message.id));
    for (const message of [...before, ...after]) expect(ids.has(message.id)).toBe(true);
  });
});
